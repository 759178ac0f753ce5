import type { ApiKeyInfo, ApiStatus } from '../../shared/api';
import { chooseEmbeddingStarter, chooseStarter, recommendedModels } from '../../electron/hub/recommended-models';
import { apiStatus as realApiStatus } from '../../electron/api/api-status';
import type { ClientEvents, HardwareSample, HostHandlers, InferenceStatus, ModelFit, Notice } from '../../shared/contract';
import { engineChoiceOf, type BenchmarkResult, type HardwareReport } from '../../shared/inference';
import type { ChatMessageRecord, Conversation, ConversationSummary } from '../../shared/chat';
import type { LibrarySnapshot, ModelEntry } from '../../shared/library';
import type { DownloadJob } from '../../shared/hub';
import type { CollectionRecord, DocsSnapshot, DocumentRecord, EmbeddingStatus, IndexProgress } from '../../shared/documents';
import { remoteModelRef, type MachineInfo, type RemoteModel, type SharingStatus } from '../../shared/machines';
import { recordedReports } from '../fixtures/hardware-reports';
import { eventNames } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { FreeholdBridge } from '../../shared/bridge';
import { createMemoryPair } from '../../shared/rpc/memory';
import { createPeer } from '../../shared/rpc/peer';
import { applySettingsPatch, defaultSettings, type Settings } from '../../shared/settings';
import type { EnginesInfo, SplitDevice, SplitPlan, SplitPlanInput, SplitStatus } from '../../shared/split';
import { formatSize } from '../../shared/format';
import { findDevice, type ComputeDevice, type DevicePlan, type PlacementPlan, type PlanInput, type PlanView } from '../../shared/placement';

export const GB = 1024 ** 3;
/** When the fixtures below were made and last changed, unless told otherwise. */
export const at = '2026-01-01T00:00:00.000Z';

/** A model in this machine's library: stories260K (a tiny llama, 1.2 MB) referenced where it lies, unless told otherwise. */
export function modelFixture(overrides: Partial<ModelEntry> = {}): ModelEntry {
  return {
    id: 'm1',
    name: 'stories260K',
    publisher: null,
    architecture: 'llama',
    parameterCount: 292800,
    quantization: 'F32',
    sizeBytes: 1185376,
    contextLength: 2048,
    hasChatTemplate: false,
    license: null,
    baseModel: null,
    files: ['/m/stories.gguf'],
    origin: 'referenced',
    owned: false,
    folderId: null,
    source: null,
    sha256: null,
    duplicateOf: null,
    addedAt: at,
    ...overrides,
  };
}

/** The library as models.list answers: these models, no folders, none of them the app's own. */
export function libraryOf(...models: ModelEntry[]): LibrarySnapshot {
  return { models, folders: [], totalBytes: models.reduce((sum, m) => sum + m.sizeBytes, 0), ownedBytes: 0 };
}

/** The engine's status: ready on CUDA, with no model loaded and nothing running, unless told otherwise. */
export function inferenceFixture(overrides: Partial<InferenceStatus> = {}): InferenceStatus {
  return {
    state: 'ready',
    backend: 'cuda',
    detail: '',
    model: null,
    loading: null,
    queue: { running: null, waiting: 0 },
    embeddingModel: null,
    ...overrides,
  };
}

/** A stored conversation "c1": a new chat with no model and no messages, unless told otherwise. */
export function conversationFixture(overrides: Partial<Conversation> = {}): Conversation {
  return {
    id: 'c1',
    title: 'New chat',
    modelId: null,
    systemPrompt: '',
    settings: {},
    pinned: false,
    createdAt: at,
    updatedAt: at,
    activeLeafId: null,
    ...overrides,
  };
}

/** A conversation as chats.list lists it. */
export function summaryOf(conversation: Conversation, messageCount: number): ConversationSummary {
  const { id, title, pinned, updatedAt, modelId } = conversation;
  return { id, title, pinned, updatedAt, messageCount, modelId };
}

/** A complete message of conversation "c1", with no parent, text or statistics unless told. */
export function messageFixture(m: Partial<ChatMessageRecord> & Pick<ChatMessageRecord, 'id' | 'role'>): ChatMessageRecord {
  return {
    conversationId: 'c1',
    parentId: null,
    content: '',
    reasoning: '',
    status: 'complete',
    error: null,
    stats: null,
    createdAt: at,
    updatedAt: at,
    ...m,
  };
}

/** Another machine as the host lists it: an online Freehold "tower" with a GPU and one model, unless told otherwise. */
export function machineFixture(overrides: Partial<MachineInfo> = {}, models: Array<Partial<RemoteModel>> = [{}]): MachineInfo {
  const id = overrides.id ?? 'tower1';
  const name = overrides.name ?? 'tower';
  return {
    id,
    name,
    kind: 'freehold',
    address: '192.168.1.20:4850',
    state: 'online',
    since: new Date(Date.now() - 60_000).toISOString(),
    error: null,
    retryAt: null,
    busy: false,
    hardware: {
      backend: 'cuda',
      gpus: ['NVIDIA GeForce RTX 4090'],
      cpu: 'AMD Ryzen 9 7950X',
      os: 'Linux 6.8',
      ramTotalBytes: 64 * GB,
      ramFreeBytes: 48 * GB,
      vramTotalBytes: 24 * GB,
      vramFreeBytes: 20 * GB,
    },
    downloads: [],
    order: 0,
    ...overrides,
    models: models.map((m, i) => {
      const modelId = m.modelId ?? `rm${i + 1}`;
      return {
        ref: remoteModelRef(id, modelId),
        machineId: id,
        machineName: name,
        modelId,
        name: `Qwen2.5 32B Instruct${i ? ` ${i + 1}` : ''}`,
        sizeBytes: 19.9 * GB,
        quantization: 'Q4_K_M',
        architecture: 'qwen2',
        sha256: null,
        fit: {
          verdict: 'gpu',
          neededBytes: 21 * GB,
          contextSize: 4096,
          freeVramBytes: 22 * GB,
          freeRamBytes: 48 * GB,
          explanation: 'Needs about 21 GB.',
        },
        ...m,
      };
    }),
  };
}

/** A file a test imported onto another machine, as the fake host received it: chunks as sent (base64), in order. */
export interface FakeUpload {
  uploadId: string;
  machineId: string;
  name: string;
  sizeBytes: number;
  chunks: Array<{ offset: number; data: string }>;
  state: 'receiving' | 'finished' | 'cancelled' | 'failed';
}

/** Where an injected upload failure happens: at begin, at the chunk with this index (0 = the first), or at finish. */
export type UploadFailurePoint = 'begin' | { chunk: number } | 'finish';

/** What the fake host's engines say before a build: none found, a build from source possible. */
export const noEngines: EnginesInfo = {
  version: 'b6000',
  found: null,
  attempts: [
    { source: 'path', outcome: 'unavailable', reason: 'No llama-server and ggml-rpc-server on the PATH.' },
    { source: 'download', outcome: 'unavailable', reason: 'No release of b6000 for Linux x64 with CUDA is pinned here.' },
    { source: 'build', outcome: 'available', reason: 'cmake and g++ are here: it can be built from source.' },
  ],
  buildDir: '/data/freehold/engines/llama.cpp-b6000-cpu',
  canBuild: { ok: true, reason: 'cmake 3.25 and g++ 12 are here.' },
  building: null,
};

/** Every model has this many layers in the fake host's split plans. */
export const SPLIT_LAYERS = 80;
/** Context memory per token in the fake host's split plans (64 MiB at 4096 tokens). */
const SPLIT_KV_BYTES_PER_TOKEN = 16 * 1024;
const SPLIT_MARGIN_BYTES = GB / 2;

/** The GPUs llama.cpp's server sees in the fake host unless a test says otherwise: two CUDA cards. */
export const twoGpus: ComputeDevice[] = [
  { id: 'CUDA0', name: 'NVIDIA GeForce RTX 4090', backend: 'cuda', totalBytes: 24 * GB, freeBytes: 22 * GB },
  { id: 'CUDA1', name: 'NVIDIA GeForce RTX 3060', backend: 'cuda', totalBytes: 12 * GB, freeBytes: 11 * GB },
];
/** Every model has this many repeating layers in the fake host's placement plans (and one output layer more). */
export const PLACEMENT_LAYERS = 32;
/** RAM the fake host's placement plans may use. */
export const PLACEMENT_RAM_FREE = 9 * GB;
/** llama.cpp's scratch buffers on each device in use, in the fake host's placement plans. */
export const PLACEMENT_COMPUTE = 64 * 1024 ** 2;
/** KV cache per token and layer in the fake host's placement plans (32 KiB a token over 32 layers). */
const PLACEMENT_KV_PER_TOKEN_LAYER = 1024;

const notSharing: SharingStatus = {
  name: 'laptop',
  enabled: false,
  listening: false,
  address: null,
  fingerprint: null,
  code: null,
  codeExpiresAt: null,
  error: null,
  clients: [],
};

/**
 * A host for renderer tests: real RPC over an in-memory pair (structuredClone),
 * with handlers that record what the UI asked for; `overrides` replaces some
 * (a test that needs conversations, say).
 */
export function createFakeHost(overrides: Partial<HostHandlers> = {}) {
  const [clientEnd, hostEnd] = createMemoryPair();
  let settings: Settings = defaultSettings;
  let notices: Notice[] = [];
  const calls: Array<{ method: string; input: unknown }> = [];
  let inference = inferenceFixture({ state: 'not-started', backend: null, detail: 'No model loaded.' });
  let apiKey = 'fh-firstkeyfirstkeyfirstkeyfirstkey0000000';
  // The named keys as the real host lists them: "default" first, never a key itself; made keys get numbered secrets.
  let apiKeys: ApiKeyInfo[] = [
    {
      id: 'key_default',
      name: 'default',
      prefix: 'firstk',
      createdAt: '2026-01-01T09:00:00.000Z',
      lastUsedAt: null,
      requests: 0,
      tokens: 0,
      isDefault: true,
    },
  ];
  let keysMade = 0;
  // The real host's rules (apiStatus); only the server is simulated: port 1 stands for a port in use.
  const apiStatus = (): ApiStatus => {
    const a = settings.api;
    const portTaken = a.enabled && a.port === 1;
    const server = a.enabled && !portTaken ? { port: a.port, url: `http://${a.host}:${a.port}/v1` } : undefined;
    return realApiStatus(a, undefined, {
      server,
      key: apiKey,
      error: portTaken ? `Port ${a.port} is in use by another program; choose another port.` : null,
    });
  };

  // A recorded report from a machine we do not have here: an NVIDIA laptop on CUDA.
  let hardware: HardwareReport = recordedReports['NVIDIA laptop on CUDA']!;

  let library: LibrarySnapshot = libraryOf();
  let fits: ModelFit[] = [];
  const benchmarks: BenchmarkResult[] = [];

  // Other machines: pairing codes containing "used" are refused, as a real host refuses a spent code.
  let machines: MachineInfo[] = [];
  let sharing: SharingStatus = notSharing;
  let codes = 0;
  const setMachinesAndTell = (next: MachineInfo[]) => {
    machines = next;
    void peer.onMachinesChanged.asEvent(machines);
  };
  const setSharingAndTell = (next: SharingStatus) => {
    sharing = next;
    void peer.onSharingChanged.asEvent(sharing);
    return sharing;
  };
  const newCode = () => {
    codes += 1;
    return { code: `FH1-${'A'.repeat(20)}${codes}`, codeExpiresAt: new Date(Date.now() + 10 * 60_000).toISOString() };
  };
  const machine = (id: string) => {
    const found = machines.find((m) => m.id === id);
    if (!found) throw new RpcError('not_found', 'No such machine.');
    return found;
  };
  // Imports onto another machine: recorded; a failure can be injected, and chunks held (to cancel mid-way).
  const uploads: FakeUpload[] = [];
  let uploadFailure: { at: UploadFailurePoint; error: RpcError } | null = null;
  let chunkGate: { from: number; promise: Promise<void>; release: () => void } | null = null;
  const upload = (machineId: string, uploadId: string) => {
    const found = uploads.find((u) => u.uploadId === uploadId && u.machineId === machineId);
    if (!found || found.state !== 'receiving') throw new RpcError('not_found', 'No such upload.');
    return found;
  };
  const failsAt = (point: UploadFailurePoint, target?: FakeUpload) => {
    const failure = uploadFailure;
    if (!failure || JSON.stringify(failure.at) !== JSON.stringify(point)) return;
    uploadFailure = null;
    if (target) target.state = 'failed';
    throw failure.error;
  };
  const updateMachine = (id: string, patch: Partial<MachineInfo>) => {
    const next = { ...machine(id), ...patch };
    setMachinesAndTell(machines.map((m) => (m.id === id ? next : m)));
    return next;
  };

  // Documents: uploads are recorded (their data shortened) and wait, queued, for the test to tell their progress (docsProgress).
  let docs: DocumentRecord[] = [];
  let collections: CollectionRecord[] = [];
  let embedding: EmbeddingStatus = { modelId: null, name: null, dims: null, missing: 0, choices: [], problem: null };
  const chatCollections = new Map<string, string[]>();
  const docsSnapshot = (): DocsSnapshot => ({
    documents: docs,
    collections: collections.map((c) => {
      const own = docs.filter((d) => d.collectionId === c.id);
      return { ...c, documents: own.length, chunks: own.reduce((sum, d) => sum + d.chunks, 0) };
    }),
    embedding,
  });
  const docsChanged = () => {
    const snapshot = docsSnapshot();
    void peer.onDocsChanged.asEvent(snapshot);
    return snapshot;
  };
  const forChat = (conversationId: string) => ({
    documents: docs.filter((d) => d.conversationId === conversationId),
    collectionIds: chatCollections.get(conversationId) ?? [],
  });
  const docStatus = (id: string, patch: Partial<DocumentRecord>) => {
    docs = docs.map((d) => (d.id === id ? { ...d, ...patch } : d));
    return docsChanged();
  };

  // llama.cpp's programs: a build waits for the test (buildProgress, finishBuild or failBuild).
  let engines: EnginesInfo = noEngines;
  let buildGate: { resolve: () => void; reject: (error: RpcError) => void } | null = null;
  const setEnginesAndTell = (next: EnginesInfo) => {
    engines = next;
    void peer.onEngines.asEvent(engines);
    return engines;
  };

  // A split model: planned with the real host's rules, simplified (SPLIT_LAYERS layers, this machine's budget set by the test);
  // loading waits for the test (splitStep, finishSplitLoad or failSplitLoad).
  let thisSplitBudget = 24 * GB;
  let split: SplitStatus = { state: 'stopped', plan: null, ref: null, detail: 'No split model is loaded.' };
  let loadGate: { resolve: () => void; reject: (error: RpcError) => void } | null = null;
  const setSplitAndTell = (next: SplitStatus) => {
    split = next;
    void peer.onSplitStatus.asEvent(split);
    return split;
  };
  const planSplit = (input: SplitPlanInput): SplitPlan => {
    const model = library.models.find((m) => m.id === input.modelId);
    if (!model) throw new RpcError('not_found', 'No such model.');
    const capMiB = settings.inference.maxVramPerGpuMiB;
    const machinesIn = input.machineIds.map((id) => {
      if (id === 'this') {
        const cap = capMiB ? capMiB * 1024 ** 2 : null;
        return {
          machineId: null,
          name: sharing.name,
          budgetBytes: cap === null ? thisSplitBudget : Math.min(thisSplitBudget, cap),
          capBytes: cap,
        };
      }
      const m = machine(id);
      if (m.kind !== 'freehold')
        throw new RpcError('invalid_input', `${m.name} is not a paired Freehold: only those can hold part of a split model.`);
      if (m.state !== 'online') throw new RpcError('unavailable', `${m.name} is not online.`);
      const free = m.hardware?.vramFreeBytes || m.hardware?.ramFreeBytes || 0;
      return { machineId: m.id, name: m.name, budgetBytes: Math.max(0, free - SPLIT_MARGIN_BYTES), capBytes: null };
    });
    const total = machinesIn.reduce((sum, m) => sum + m.budgetBytes, 0);
    let layers: number[];
    if (input.layers && input.layers.length === machinesIn.length) layers = [...input.layers];
    else {
      const exact = machinesIn.map((m) => (total > 0 ? (m.budgetBytes / total) * SPLIT_LAYERS : SPLIT_LAYERS / machinesIn.length));
      layers = exact.map(Math.floor);
      const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0]);
      for (let k = 0; layers.reduce((a, b) => a + b, 0) < SPLIT_LAYERS; k++) layers[order[k % order.length]![1]]! += 1;
    }
    const contextSize = input.contextSize ?? 4096;
    const perLayer = model.sizeBytes / SPLIT_LAYERS + (SPLIT_KV_BYTES_PER_TOKEN * contextSize) / SPLIT_LAYERS;
    const devices: SplitDevice[] = machinesIn.map((m, i) => ({ ...m, layers: layers[i]!, bytes: Math.round(layers[i]! * perLayer) }));
    const assigned = layers.reduce((a, b) => a + b, 0);
    const over = devices.filter((d) => d.bytes > d.budgetBytes);
    const alone = machinesIn.find((m) => m.budgetBytes >= model.sizeBytes + SPLIT_KV_BYTES_PER_TOKEN * contextSize);
    const gb = (bytes: number) => (bytes / GB).toFixed(1);
    const note =
      assigned !== SPLIT_LAYERS
        ? `The layers given add up to ${assigned}; the model has ${SPLIT_LAYERS}.`
        : over.length
          ? `Does not fit: ${over.map((d) => `${d.name} would need ${gb(d.bytes)} GB of the ${gb(d.budgetBytes)} GB it can give`).join('; ')}.`
          : `${devices.map((d) => `${d.layers} layers on ${d.name}`).join(', ')}; ${contextSize}-token context.`;
    return {
      modelId: model.id,
      modelName: model.name,
      sizeBytes: model.sizeBytes,
      totalLayers: SPLIT_LAYERS,
      contextSize,
      devices,
      fitsOn: alone?.name ?? null,
      fits: assigned === SPLIT_LAYERS && over.length === 0,
      note,
    };
  };

  // Placement: planned with the real host's rules, simplified (PLACEMENT_LAYERS equal layers, 90% of the model's size, and
  // the output layer; a fixed scratch buffer per device), on the GPUs the test gives (twoGpus unless told).
  let computeDevices: ComputeDevice[] = twoGpus;
  const planPlacementOf = ({ id, placement, contextSize }: PlanInput): PlanView => {
    const model = library.models.find((m) => m.id === id);
    if (!model) throw new RpcError('not_found', `There is no model "${id}" in the library.`);
    const placed = placement ?? settings.inference.placements?.[id];
    const asked = placed ?? { devices: 'auto' as const };
    const chosen =
      asked.devices === 'cpu'
        ? []
        : asked.devices === 'auto'
          ? computeDevices
          : asked.devices.map((name) => {
              const found = findDevice(computeDevices, name);
              if (!found)
                throw new RpcError(
                  'invalid_input',
                  `There is no device "${name}" here; ${computeDevices.length ? `llama.cpp sees ${computeDevices.map((d) => d.id).join(', ')}` : 'llama.cpp sees no GPU (a CPU build, or no GPU driver)'}.`,
                );
              return found;
            });
    for (const name of Object.keys(asked.maxMemory ?? {}))
      if (!findDevice(chosen, name)) throw new RpcError('invalid_input', `A cap is set for ${name}, which this placement does not use.`);
    const rows = asked.split === 'rows' && chosen.length > 1;
    if (rows && chosen.some((d) => d.backend !== 'cuda'))
      throw new RpcError(
        'invalid_input',
        `Splitting by rows needs CUDA GPUs; ${chosen.map((d) => d.id).join(', ')} can be split by layers.`,
      );
    const capMiB = settings.inference.maxVramPerGpuMiB;
    const budgets = chosen.map((d) => {
      const cap = findDevice(
        Object.entries(asked.maxMemory ?? {}).map(([name, bytes]) => ({ id: name, bytes })),
        d.id,
      )?.bytes;
      const capBytes = cap ?? (capMiB ? capMiB * 1024 ** 2 : null);
      return { capBytes, budget: Math.min(d.freeBytes, capBytes ?? Infinity) };
    });
    const context = contextSize ?? model.contextLength ?? 4096;
    const units = PLACEMENT_LAYERS + 1;
    const layerWeights = Math.round((model.sizeBytes * 0.9) / PLACEMENT_LAYERS);
    const outputWeights = Math.round(model.sizeBytes * 0.05);
    const kvPerLayer = PLACEMENT_KV_PER_TOKEN_LAYER * context;
    // The most units (from the last) that fit, shared in proportion to each device's room.
    const room = budgets.map((b) => b.budget - PLACEMENT_COMPUTE);
    const total = room.reduce((a, r) => a + Math.max(0, r), 0);
    const share = (n: number) => {
      const counts = room.map((r) => (total > 0 ? Math.floor((Math.max(0, r) / total) * n) : 0));
      for (let i = 0; counts.reduce((a, c) => a + c, 0) < n && total > 0; i = (i + 1) % counts.length) if (room[i]! > 0) counts[i]! += 1;
      return counts;
    };
    const bytesOf = (layers: number, holdsOutput: boolean) => {
      const repeating = holdsOutput ? layers - 1 : layers;
      return { weights: repeating * layerWeights + (holdsOutput ? outputWeights : 0), kv: repeating * kvPerLayer };
    };
    let gpuLayers = chosen.length ? units : 0;
    let counts = chosen.map(() => 0);
    for (; gpuLayers > 0; gpuLayers -= 1) {
      counts = rows ? chosen.map(() => gpuLayers) : share(gpuLayers);
      const fitted = rows
        ? budgets.every((b, i) => {
            const all = bytesOf(gpuLayers, true);
            return (all.weights * b.budget) / total + (i === 0 ? all.kv + PLACEMENT_COMPUTE : 0) <= b.budget;
          })
        : counts.every((c, i) => {
            const { weights, kv } = bytesOf(c, i === counts.length - 1 && gpuLayers === units);
            return weights + kv + PLACEMENT_COMPUTE <= budgets[i]!.budget;
          });
      if (fitted) break;
    }
    if (gpuLayers === 0) counts = chosen.map(() => 0);
    const devices: DevicePlan[] = chosen.map((d, i) => {
      const holdsOutput = rows ? true : i === chosen.length - 1 && gpuLayers === units;
      const all = bytesOf(counts[i]!, holdsOutput);
      const weights = rows ? Math.round((bytesOf(gpuLayers, true).weights * budgets[i]!.budget) / (total || 1)) : all.weights;
      const kv = rows ? (i === 0 ? all.kv : 0) : all.kv;
      const compute = rows && i > 0 ? 0 : PLACEMENT_COMPUTE;
      return {
        id: d.id,
        name: d.name,
        layers: counts[i]!,
        weightBytes: weights,
        kvBytes: kv,
        computeBytes: compute,
        plannedBytes: weights + kv + compute,
        budgetBytes: budgets[i]!.budget,
        capBytes: budgets[i]!.capBytes,
        freeBytes: d.freeBytes,
      };
    });
    const onCpu = bytesOf(units - gpuLayers, gpuLayers === 0);
    const cpuWeights = onCpu.weights + Math.round(model.sizeBytes * 0.05);
    const cpu: DevicePlan = {
      id: 'CPU',
      name: 'CPU (RAM)',
      layers: units - gpuLayers,
      weightBytes: cpuWeights,
      kvBytes: onCpu.kv,
      computeBytes: PLACEMENT_COMPUTE,
      plannedBytes: cpuWeights + onCpu.kv + PLACEMENT_COMPUTE,
      budgetBytes: PLACEMENT_RAM_FREE,
      capBytes: null,
      freeBytes: PLACEMENT_RAM_FREE,
    };
    const over = [...devices, cpu].find((d) => d.plannedBytes > d.budgetBytes);
    const where = !chosen.length
      ? 'CPU only'
      : `${gpuLayers}/${units} layers ${rows ? 'split by rows over' : 'on'} ${devices.map((d) => `${d.id}${rows ? '' : ` ${d.layers}`} (${formatSize(d.plannedBytes)})`).join(', ')}`;
    const plan: PlacementPlan = {
      placement: asked,
      split: !chosen.length ? 'none' : rows ? 'rows' : chosen.length > 1 ? 'layers' : 'none',
      gpuLayers,
      totalLayers: units,
      devices,
      cpu,
      contextSize: context,
      contextPool: context,
      parallel: 1,
      fits: !over,
      ...(over
        ? {
            short: {
              device: over.id,
              neededBytes: over.plannedBytes,
              availableBytes: over.budgetBytes,
              shortBytes: over.plannedBytes - over.budgetBytes,
              message:
                over.id === 'CPU'
                  ? `Not enough RAM: the part on the CPU needs ${formatSize(over.plannedBytes)}, ${formatSize(over.budgetBytes)} is free (${formatSize(over.plannedBytes - over.budgetBytes)} short).`
                  : `${over.id} is ${formatSize(over.plannedBytes - over.budgetBytes)} short.`,
            },
          }
        : {}),
      summary: `${where}${chosen.length && gpuLayers < units ? `, ${units - gpuLayers} on the CPU` : ''}; ${context}-token context.`,
      notes:
        chosen.length && gpuLayers < units ? [`${units - gpuLayers} layers stay on the CPU: the GPUs have room for ${gpuLayers}.`] : [],
    };
    const choice = engineChoiceOf(settings.inference.engines?.[id], model, placed);
    return { id, plan, engine: choice.engine, engineReason: choice.why, devices: computeDevices };
  };

  const handlers: HostHandlers = {
    'app.info': () => ({
      name: 'Freehold',
      version: '9.9.9',
      host: 'web',
      dataDir: '/data/freehold',
      platform: 'linux',
      arch: 'x64',
      versions: { node: '20.0.0' },
    }),
    'app.notices': () => notices,
    'app.dismissNotice': ({ id }) => {
      calls.push({ method: 'app.dismissNotice', input: { id } });
      notices = notices.filter((n) => n.id !== id);
      return notices;
    },
    'settings.get': () => settings,
    'settings.update': (patch) => {
      calls.push({ method: 'settings.update', input: patch });
      settings = applySettingsPatch(settings, patch);
      void peer.onSettingsChanged.asEvent(settings);
      if (patch.api) void peer.onApiStatus.asEvent(apiStatus());
      return settings;
    },
    'api.status': () => apiStatus(),
    'api.regenerateKey': () => {
      calls.push({ method: 'api.regenerateKey', input: undefined });
      apiKey = 'fh-secondkeysecondkeysecondkeysecondkey00';
      return apiStatus();
    },
    'api.keys.list': () => apiKeys,
    'api.keys.create': ({ name }) => {
      calls.push({ method: 'api.keys.create', input: { name } });
      if (apiKeys.some((k) => k.name.toLowerCase() === name.toLowerCase()))
        throw new RpcError('conflict', `There is already a key named "${name}"; choose another name.`);
      keysMade += 1;
      const secret = `fh-made${keysMade}${'x'.repeat(38)}`;
      const key: ApiKeyInfo = {
        id: `key_${keysMade}`,
        name,
        prefix: secret.slice(3, 9),
        createdAt: new Date().toISOString(),
        lastUsedAt: null,
        requests: 0,
        tokens: 0,
        isDefault: false,
      };
      apiKeys = [...apiKeys, key];
      void peer.onApiKeys.asEvent(apiKeys);
      return { key, secret };
    },
    'api.keys.revoke': ({ id }) => {
      calls.push({ method: 'api.keys.revoke', input: { id } });
      apiKeys = apiKeys.filter((k) => k.id !== id);
      void peer.onApiKeys.asEvent(apiKeys);
      return apiKeys;
    },
    'system.info': () => ({
      os: 'Linux 6.1',
      cpuModel: 'Test CPU',
      logicalCores: 8,
      memoryTotalBytes: 16 * 1024 ** 3,
      memoryFreeBytes: 9 * 1024 ** 3,
    }),
    'inference.status': () => inference,
    'inference.hardware': () => hardware,
    'inference.load': () => {
      throw new RpcError('unavailable', 'no worker in renderer tests');
    },
    'inference.unload': () => inference,
    'chat.generate': () => {
      throw new RpcError('no_model_loaded', 'No model is loaded.');
    },
    'chat.abort': () => ({ aborted: false }),
    'models.list': () => library,
    'models.import': ({ paths }) => paths.map((p) => ({ path: p, ok: false, error: 'not in renderer tests' })),
    'models.remove': ({ id }) => {
      calls.push({ method: 'models.remove', input: { id } });
      library = { ...library, models: library.models.filter((m) => m.id !== id) };
      return { deletedFiles: [] };
    },
    'models.reveal': () => ({ shown: false }),
    'models.load': () => {
      throw new RpcError('unavailable', 'no worker in renderer tests');
    },
    'folders.add': () => {
      throw new RpcError('unavailable', 'not in renderer tests');
    },
    'folders.remove': () => library,
    'folders.rescan': () => library,
    'folders.suggestions': () => [],
    'hub.search': () => [],
    'hub.recommended': () => recommendedModels(hardware),
    'hub.starter': () => chooseStarter(hardware),
    'hub.embeddingStarter': () => chooseEmbeddingStarter(hardware),
    'hub.repo': () => {
      throw new RpcError('unavailable', 'no hub in renderer tests');
    },
    'hub.tokenStatus': () => ({ set: false, storage: null, active: false }),
    'hub.setToken': () => ({ set: false, storage: null, active: false }),
    'downloads.list': () => [],
    'downloads.start': () => {
      throw new RpcError('unavailable', 'no hub in renderer tests');
    },
    'downloads.pause': () => {
      throw new RpcError('not_found', 'No such download.');
    },
    'downloads.resume': () => {
      throw new RpcError('not_found', 'No such download.');
    },
    'downloads.cancel': () => {
      throw new RpcError('not_found', 'No such download.');
    },
    'chats.list': () => [],
    'chats.create': () => {
      throw new RpcError('unavailable', 'no chats in renderer tests');
    },
    'chats.get': () => {
      throw new RpcError('not_found', 'No such conversation.');
    },
    'chats.update': () => {
      throw new RpcError('not_found', 'No such conversation.');
    },
    'chats.delete': () => ({ deleted: false }),
    'chats.search': () => [],
    'chats.export': () => {
      throw new RpcError('not_found', 'No such conversation.');
    },
    'chats.import': () => {
      throw new RpcError('unavailable', 'no chats in renderer tests');
    },
    'chats.send': () => {
      throw new RpcError('unavailable', 'no chats in renderer tests');
    },
    'chats.regenerate': () => {
      throw new RpcError('unavailable', 'no chats in renderer tests');
    },
    'chats.stop': () => ({ stopped: false }),
    'chats.deleteMessage': () => {
      throw new RpcError('not_found', 'No such message.');
    },
    'chats.attachment': () => {
      throw new RpcError('not_found', 'No such attachment.');
    },
    'placement.plan': (input) => {
      calls.push({ method: 'placement.plan', input });
      return planPlacementOf(input);
    },
    'placement.devices': () => {
      calls.push({ method: 'placement.devices', input: undefined });
      return computeDevices;
    },
    'hardware.fit': () => fits,
    'hardware.watch': () => ({ untilMs: Date.now() + 10_000 }),
    'hardware.benchmark': ({ modelId }) => {
      calls.push({ method: 'hardware.benchmark', input: { modelId } });
      const result = {
        id: `b${benchmarks.length}`,
        at: new Date().toISOString(),
        modelId,
        modelName: 'stories260K',
        backend: hardware.backend,
        gpus: hardware.gpus.map((g) => g.name),
        cpu: hardware.cpu.model,
        threads: hardware.threads.used,
        versions: { nodeLlamaCpp: '3.22.1', llamaCpp: 'b6000' },
        promptTokens: 512,
        promptTokensPerSecond: 2500,
        generatedTokens: 128,
        generationTokensPerSecond: 900,
      };
      benchmarks.push(result);
      return [result];
    },
    'hardware.benchmarks': () => benchmarks,
    'models.generate': () => {
      throw new RpcError('unavailable', 'no worker in renderer tests');
    },
    'machines.list': () => machines,
    'machines.add': (input) => {
      calls.push({ method: 'machines.add', input });
      if ('code' in input && /used/i.test(input.code))
        throw new RpcError('refused', 'This pairing code was already used: make a new one on that machine.');
      const added =
        'code' in input
          ? machineFixture({ id: `tower${machines.length + 1}`, order: machines.length })
          : machineFixture(
              {
                id: `server${machines.length + 1}`,
                name: input.name ?? new URL(input.url).host,
                kind: 'openai',
                address: input.url,
                hardware: null,
              },
              [{ fit: null, sizeBytes: null }],
            );
      setMachinesAndTell([...machines, added]);
      return added;
    },
    'machines.update': (input) => {
      calls.push({ method: 'machines.update', input });
      const { id, ...patch } = input;
      return updateMachine(id, patch);
    },
    'machines.remove': ({ id }) => {
      calls.push({ method: 'machines.remove', input: { id } });
      const kind = machine(id).kind;
      setMachinesAndTell(machines.filter((m) => m.id !== id));
      return { removed: true, revoked: kind === 'freehold' };
    },
    'machines.reconnect': ({ id }) => {
      calls.push({ method: 'machines.reconnect', input: { id } });
      return updateMachine(id, { state: 'connecting', since: new Date().toISOString(), retryAt: null });
    },
    'machines.download': (input) => {
      calls.push({ method: 'machines.download', input });
      const target = machine(input.machineId);
      const job: DownloadJob = {
        id: `rd${target.downloads.length + 1}`,
        repo: input.repo,
        revision: input.revision ?? 'main',
        quantization: input.quantization ?? null,
        files: input.file ? [{ name: input.file, sizeBytes: 2 * GB, sha256: null }] : [],
        state: 'downloading',
        bytesDone: GB / 2,
        totalBytes: 2 * GB,
        bytesPerSecond: 50 * 1024 ** 2,
        etaSeconds: 30,
        error: null,
        attempts: 0,
        lastRetry: null,
        modelId: null,
        createdAt: new Date().toISOString(),
      };
      updateMachine(target.id, { downloads: [job, ...target.downloads] });
      return job;
    },
    'machines.downloadControl': (input) => {
      calls.push({ method: 'machines.downloadControl', input });
      const target = machine(input.machineId);
      const job = target.downloads.find((j) => j.id === input.id);
      if (!job) throw new RpcError('not_found', 'No such download.');
      const state = ({ pause: 'paused', resume: 'downloading', cancel: 'canceled' } as const)[input.action];
      const next = { ...job, state };
      updateMachine(target.id, { downloads: target.downloads.map((j) => (j.id === job.id ? next : j)) });
      return next;
    },
    'machines.uploadBegin': (input) => {
      calls.push({ method: 'machines.uploadBegin', input });
      machine(input.machineId);
      failsAt('begin');
      const uploadId = `up${uploads.length + 1}`;
      uploads.push({ uploadId, machineId: input.machineId, name: input.name, sizeBytes: input.sizeBytes, chunks: [], state: 'receiving' });
      return { uploadId };
    },
    'machines.uploadChunk': async (input) => {
      calls.push({ method: 'machines.uploadChunk', input: { ...input, data: `${input.data.length} base64 characters` } });
      const target = upload(input.machineId, input.uploadId);
      const received = target.chunks.reduce((sum, c) => sum + atob(c.data).length, 0);
      if (input.offset !== received)
        throw new RpcError('invalid_input', `Chunks come in order: expected offset ${received}, got ${input.offset}.`);
      failsAt({ chunk: target.chunks.length }, target);
      if (chunkGate && target.chunks.length >= chunkGate.from) await chunkGate.promise;
      target.chunks.push({ offset: input.offset, data: input.data });
      return { receivedBytes: received + atob(input.data).length };
    },
    'machines.uploadFinish': (input) => {
      calls.push({ method: 'machines.uploadFinish', input });
      const target = upload(input.machineId, input.uploadId);
      failsAt('finish', target);
      const receivedBytes = target.chunks.reduce((sum, c) => sum + atob(c.data).length, 0);
      if (receivedBytes !== target.sizeBytes) throw new RpcError('invalid_input', `${receivedBytes} of ${target.sizeBytes} bytes arrived.`);
      target.state = 'finished';
      const onto = machine(input.machineId);
      const modelId = `imported-${target.uploadId}`;
      const name = target.name.replace(/\.gguf$/i, '');
      const entry = modelFixture({
        id: modelId,
        name,
        sizeBytes: target.sizeBytes,
        files: [`/data/models/${target.name}`],
        origin: 'copied',
        owned: true,
        addedAt: new Date().toISOString(),
      });
      // The machine lists its new model: the UI hears of it as onMachinesChanged.
      const [listed] = machineFixture(onto, [
        { modelId, name, sizeBytes: target.sizeBytes, quantization: 'F32', architecture: 'llama' },
      ]).models;
      updateMachine(onto.id, { models: [...onto.models, listed!] });
      return entry;
    },
    'machines.uploadCancel': (input) => {
      calls.push({ method: 'machines.uploadCancel', input });
      const target = uploads.find((u) => u.uploadId === input.uploadId && u.machineId === input.machineId);
      const cancelled = target?.state === 'receiving';
      if (target && cancelled) target.state = 'cancelled';
      return { cancelled };
    },
    'uploads.begin': () => {
      throw new RpcError('forbidden', 'Only a paired machine sends files here.');
    },
    'uploads.chunk': () => {
      throw new RpcError('not_found', 'No such upload.');
    },
    'uploads.finish': () => {
      throw new RpcError('not_found', 'No such upload.');
    },
    'uploads.cancel': () => ({ cancelled: false }),
    'machines.sharing': () => sharing,
    'machines.share': ({ enabled }) => {
      calls.push({ method: 'machines.share', input: { enabled } });
      return setSharingAndTell(
        enabled
          ? {
              ...sharing,
              enabled: true,
              listening: true,
              address: '192.168.1.10:4850',
              fingerprint: 'q7F3Zx0bYw1uTn2LkP9sRv8aHc4dGe6jMi5oNl0KpQw',
              ...newCode(),
            }
          : { ...sharing, enabled: false, listening: false, address: null, code: null, codeExpiresAt: null },
      );
    },
    'machines.newCode': () => {
      calls.push({ method: 'machines.newCode', input: undefined });
      return setSharingAndTell({ ...sharing, ...newCode() });
    },
    'machines.revoke': ({ id }) => {
      calls.push({ method: 'machines.revoke', input: { id } });
      return setSharingAndTell({ ...sharing, clients: sharing.clients.filter((c) => c.id !== id) });
    },
    'engines.status': () => engines,
    'engines.build': async () => {
      calls.push({ method: 'engines.build', input: undefined });
      if (engines.found) return engines;
      if (!engines.canBuild.ok) throw new RpcError('unavailable', `llama.cpp cannot be built here: ${engines.canBuild.reason}`);
      setEnginesAndTell({ ...engines, building: { step: 'Configuring with cmake', fraction: 0, line: '' } });
      await new Promise<void>((resolve, reject) => (buildGate = { resolve, reject }));
      return engines;
    },
    'split.plan': (input) => {
      calls.push({ method: 'split.plan', input });
      return planSplit(input);
    },
    'split.load': async (input) => {
      calls.push({ method: 'split.load', input });
      const plan = planSplit(input);
      if (!plan.fits) throw new RpcError('out_of_memory', plan.note);
      setSplitAndTell({ state: 'starting', plan, ref: null, detail: 'Getting llama.cpp ready…' });
      try {
        await new Promise<void>((resolve, reject) => (loadGate = { resolve, reject }));
      } catch (error) {
        setSplitAndTell({ state: 'failed', plan, ref: null, detail: (error as Error).message });
        throw error;
      }
      // The running split is a machine in the list ("split: laptop + tower"), so the chat's picker offers its model.
      const listed = machineFixture(
        {
          id: 'split',
          name: `split: ${plan.devices.map((d) => d.name).join(' + ')}`,
          kind: 'openai',
          address: 'http://127.0.0.1:41234',
          hardware: null,
          order: -1,
        },
        [{ modelId: plan.modelName, name: plan.modelName, sizeBytes: plan.sizeBytes, fit: null }],
      );
      setMachinesAndTell([...machines.filter((m) => m.id !== 'split'), listed]);
      return setSplitAndTell({
        state: 'running',
        plan,
        ref: remoteModelRef('split', plan.modelName),
        detail: `${plan.modelName} runs split: ${plan.note}`,
      });
    },
    'split.unload': () => {
      calls.push({ method: 'split.unload', input: undefined });
      if (split.state !== 'running') return split;
      setMachinesAndTell(machines.filter((m) => m.id !== 'split'));
      return setSplitAndTell({ state: 'stopped', plan: null, ref: null, detail: 'The split model was unloaded.' });
    },
    'split.status': () => split,
    'split.helperStart': () => {
      throw new RpcError('forbidden', 'Only a paired machine asks for an RPC helper.');
    },
    'split.helperStop': () => {
      throw new RpcError('forbidden', 'Only a paired machine asks for an RPC helper.');
    },
    // No MCP servers unless a test gives its own handlers (test/renderer/tools-settings.test.tsx).
    'tools.list': () => noTools,
    'tools.add': () => noTools,
    'tools.remove': () => noTools,
    'tools.setEnabled': () => noTools,
    'tools.setTool': () => noTools,
    'tools.restart': () => noTools,
    'tools.import': () => ({ added: [], replaced: [], skipped: [] }),
    'chats.toolDecision': () => {
      throw new RpcError('not_found', 'That tool call is not waiting for a decision.');
    },
    'docs.uploadBegin': () => {
      throw new RpcError('unavailable', 'renderer tests send small documents whole');
    },
    'docs.uploadChunk': () => {
      throw new RpcError('unavailable', 'renderer tests send small documents whole');
    },
    'docs.uploadFinish': () => {
      throw new RpcError('unavailable', 'renderer tests send small documents whole');
    },
    'docs.uploadCancel': () => ({ cancelled: false }),
    'docs.list': () => docsSnapshot(),
    'docs.add': () => {
      throw new RpcError('unavailable', 'no files in renderer tests');
    },
    'docs.upload': ({ name, data, conversationId, collectionId }) => {
      calls.push({ method: 'docs.upload', input: { name, data: `${data.length} base64 characters`, conversationId, collectionId } });
      const record: DocumentRecord = {
        id: `d${docs.length + 1}`,
        name,
        path: null,
        format: name.endsWith('.pdf') ? 'pdf' : 'text',
        bytes: atob(data).length,
        status: 'queued',
        error: null,
        collectionId: collectionId ?? null,
        conversationId: conversationId ?? null,
        pages: null,
        chunks: 0,
        embedded: 0,
        tokens: 0,
        addedAt: at,
      };
      docs = [...docs, record];
      docsChanged();
      return record;
    },
    'docs.remove': ({ id }) => {
      calls.push({ method: 'docs.remove', input: { id } });
      docs = docs.filter((d) => d.id !== id);
      return docsChanged();
    },
    'docs.cancel': ({ id }) => {
      calls.push({ method: 'docs.cancel', input: { id } });
      return docStatus(id, { status: 'cancelled', error: 'Indexing was cancelled.' });
    },
    'docs.search': () => [],
    'docs.forChat': ({ conversationId }) => forChat(conversationId),
    'docs.setChatCollections': ({ conversationId, collectionIds }) => {
      calls.push({ method: 'docs.setChatCollections', input: { conversationId, collectionIds } });
      chatCollections.set(conversationId, collectionIds);
      return forChat(conversationId);
    },
    'docs.createCollection': ({ name, folders = [] }) => {
      calls.push({ method: 'docs.createCollection', input: { name, folders } });
      const collection: CollectionRecord = { id: `k${collections.length + 1}`, name, folders, documents: 0, chunks: 0, createdAt: at };
      collections = [...collections, collection];
      docsChanged();
      return collection;
    },
    'docs.removeCollection': ({ id }) => {
      calls.push({ method: 'docs.removeCollection', input: { id } });
      collections = collections.filter((c) => c.id !== id);
      docs = docs.filter((d) => d.collectionId !== id);
      return docsChanged();
    },
    'docs.setEmbedding': ({ modelId }) => {
      calls.push({ method: 'docs.setEmbedding', input: { modelId } });
      const choice = embedding.choices.find((c) => c.id === modelId);
      if (modelId && !choice) throw new RpcError('invalid_input', 'That model is not an embedding model in the library.');
      embedding = { ...embedding, modelId, name: choice?.name ?? null, dims: choice ? 768 : null };
      return docsChanged();
    },
  };
  const noTools = { servers: [], configFile: '/home/user/.config/freehold/mcp.json', configError: null, skipped: [], canEditStdio: true };
  const peer = createPeer<ClientEvents, HostHandlers>(hostEnd, { local: { ...handlers, ...overrides }, remoteEventNames: eventNames });

  const bridge: FreeholdBridge = {
    send: (message) => clientEnd.send(message),
    onMessage: (listener) => clientEnd.onMessage(listener),
    pathForFile: (file) => `/dropped/${file.name}`,
  };

  return {
    bridge,
    calls,
    addNotice(notice: Notice) {
      notices = [...notices, notice];
      void peer.onNotice.asEvent(notice);
    },
    pushSettings(next: Settings) {
      settings = next;
      void peer.onSettingsChanged.asEvent(next);
    },
    setHardware(next: HardwareReport, nextFits: ModelFit[] = []) {
      hardware = next;
      fits = nextFits;
      void peer.onInferenceStatus.asEvent({ ...inference, backend: next.backend });
    },
    pushSample(sample: HardwareSample) {
      void peer.onHardwareSample.asEvent(sample);
    },
    /** The API keys as the host now lists them (their use counted, say), told to the UI as onApiKeys. */
    pushApiKeys(next: ApiKeyInfo[]) {
      apiKeys = next;
      void peer.onApiKeys.asEvent(next);
    },
    setLibrary(next: LibrarySnapshot) {
      library = next;
      void peer.onLibraryChanged.asEvent({ revision: Date.now() });
    },
    pushInference(status: InferenceStatus) {
      void peer.onInferenceStatus.asEvent(status);
    },
    /** The engine's status from now on (what inference.status answers), told to the UI as onInferenceStatus. */
    setInference(patch: Partial<InferenceStatus>) {
      inference = { ...inference, ...patch };
      void peer.onInferenceStatus.asEvent(inference);
    },
    /** The other machines as the host now sees them, told to the UI as onMachinesChanged. */
    setMachines(next: MachineInfo[]) {
      setMachinesAndTell(next);
    },
    setSharing(patch: Partial<SharingStatus>) {
      setSharingAndTell({ ...sharing, ...patch });
    },
    /** Files imported onto other machines, as received. */
    uploads,
    /** The next upload call at `at` fails with this error (as a machine out of space, or gone offline, answers). */
    failUpload(at: UploadFailurePoint, error: RpcError) {
      uploadFailure = { at, error };
    },
    /** An upload's chunks from index `from` on (0 = the first) wait, unrecorded, until `releaseUploadChunks`. */
    holdUploadChunks(from = 0) {
      let release = () => undefined as void;
      const promise = new Promise<void>((resolve) => (release = resolve));
      chunkGate = { from, promise, release };
    },
    releaseUploadChunks() {
      chunkGate?.release();
      chunkGate = null;
    },
    /** What the host says of llama.cpp's programs now, told to the UI as onEngines. */
    setEngines(patch: Partial<EnginesInfo>) {
      setEnginesAndTell({ ...engines, ...patch });
    },
    /** The build under way reaches a step (told as onEngines). */
    buildProgress(step: string, fraction: number, line = '') {
      setEnginesAndTell({ ...engines, building: { step, fraction, line } });
    },
    /** The build under way succeeds: the built programs are in use, and engines.build answers. */
    finishBuild() {
      setEnginesAndTell({
        ...engines,
        found: {
          llamaServer: `${engines.buildDir}/bin/llama-server`,
          rpcServer: `${engines.buildDir}/bin/rpc-server`,
          source: 'build',
          version: engines.version,
          backend: 'cpu',
          reason: `Built here from llama.cpp ${engines.version} (CPU).`,
        },
        attempts: engines.attempts.map((a) => (a.source === 'build' ? { ...a, outcome: 'used', reason: 'Built from source.' } : a)),
        building: null,
      });
      buildGate?.resolve();
      buildGate = null;
    },
    /** The build under way fails with this message. */
    failBuild(message: string) {
      setEnginesAndTell({ ...engines, building: null });
      buildGate?.reject(new RpcError('unavailable', message));
      buildGate = null;
    },
    /** The GPUs llama.cpp's server sees from now on (none: a CPU build, or no GPU), for placement.devices and placement.plan. */
    setComputeDevices(next: ComputeDevice[]) {
      computeDevices = next;
    },
    /** What this machine can give a split (before the VRAM cap in settings). */
    setSplitBudget(bytes: number) {
      thisSplitBudget = bytes;
    },
    /** A split model that is loading says what it does now (told as onSplitStatus). */
    splitStep(detail: string) {
      setSplitAndTell({ ...split, state: 'starting', detail });
    },
    /** The split model loading now is ready: it runs, listed as the machine "split". */
    finishSplitLoad() {
      loadGate?.resolve();
      loadGate = null;
    },
    /** The split model loading now fails with this message (a helper gone, llama-server stopped). */
    failSplitLoad(message: string) {
      loadGate?.reject(new RpcError('unavailable', message));
      loadGate = null;
    },
    /** Documents, collections and the embedding model as the host has them now, told as onDocsChanged. */
    setDocs(next: Partial<{ documents: DocumentRecord[]; collections: CollectionRecord[]; embedding: Partial<EmbeddingStatus> }>) {
      docs = next.documents ?? docs;
      collections = next.collections ?? collections;
      embedding = { ...embedding, ...next.embedding };
      docsChanged();
    },
    /** A document's reading goes on (told as onDocsProgress); where it ends (indexed, failed) the record says so too. */
    docsProgress(progress: Omit<IndexProgress, 'name'>) {
      const doc = docs.find((d) => d.id === progress.documentId);
      void peer.onDocsProgress.asEvent({ name: doc?.name ?? '', ...progress });
      const { status, chunks, embedded, pages, error } = progress;
      docs = docs.map((d) =>
        d.id === progress.documentId ? { ...d, status, chunks, embedded, pages: pages ?? d.pages, error: error ?? null } : d,
      );
      if (status !== 'indexing') docsChanged();
    },
    /** The split model as the host sees it now, told as onSplitStatus (a crash while running, say). */
    pushSplitStatus(next: SplitStatus) {
      setSplitAndTell(next);
    },
  };
}
