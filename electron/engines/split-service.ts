import os from 'node:os';
import type { EngineBackend } from './engine-backends';
import { RpcError } from '../../shared/errors';
import type { MachineInfo } from '../../shared/machines';
import { remoteModelRef } from '../../shared/machines';
import type { EnginesInfo, SplitDevice, SplitPlan, SplitPlanInput, SplitStatus } from '../../shared/split';
import type { InferenceService } from '../inference/inference-service';
import { openFileSource } from '../formats/file-source';
import { readGgufHeader } from '../formats/gguf-header';
import type { ModelLibrary } from '../library/model-library';
import type { MachinesService } from '../machines/machines-service';
import type { EventBus } from '../platform/events';
import type { SettingsStore } from '../settings/settings-store';
import { buildEngines, enginesRoot, findEngines, releaseDirFor, type EngineBinaries } from './llama-engines';
import { downloadRelease, PINNED_RELEASES, platformKey, type ReleaseTable } from './llama-releases';
import type { RpcHelperPool } from './rpc-helpers';
import { forwardToHelper } from './rpc-tunnel';
import { LlamaServerProcess } from './llama-server-process';
import { resolveThreads } from '../worker/threads';
import { kvBytesPerToken } from './server-fit';

export const THIS_MACHINE = 'this';
export const SPLIT_MACHINE_ID = 'split';
/** Memory kept free on each machine beside its share (its own OS and programs). */
const MARGIN_BYTES = 512 * 1024 * 1024;

interface ModelFacts {
  path: string;
  name: string;
  sizeBytes: number;
  layers: number;
  trainContext: number;
  kvBytesPerToken: number;
}

async function modelFacts(library: ModelLibrary, modelId: string): Promise<ModelFacts> {
  const model = await library.checkBeforeLoad(modelId);
  const source = await openFileSource(model.files[0]!);
  try {
    const header = await readGgufHeader(source);
    const meta = (key: string) => header.metadata.get(key) as unknown;
    const arch = String(meta('general.architecture') ?? 'llama');
    const num = (key: string, fallback: number) => {
      const v = Number(meta(`${arch}.${key}`));
      return Number.isFinite(v) && v > 0 ? v : fallback;
    };
    const layers = num('block_count', 1);
    return {
      path: model.files[0]!,
      name: model.name,
      sizeBytes: model.sizeBytes,
      layers,
      trainContext: num('context_length', 4096),
      // K and V, f16, over all layers: what a token of context costs (as the server engine's fit counts it).
      kvBytesPerToken: kvBytesPerToken(header),
    };
  } finally {
    await source.close();
  }
}

/** What a machine can give a split now: VRAM where it has a GPU, else RAM, less a margin, within its cap. */
function budgetOf(hw: { vramFreeBytes: number | null; ramFreeBytes: number | null }, capBytes: number | null): number {
  const free = hw.vramFreeBytes && hw.vramFreeBytes > 0 ? hw.vramFreeBytes : (hw.ramFreeBytes ?? 0);
  const budget = Math.max(0, free - MARGIN_BYTES);
  return capBytes === null ? budget : Math.min(budget, capBytes);
}

/**
 * Proposes a split: layers in proportion to what each machine can give now,
 * the context that fits beside them, the memory expected on each. Pure, so
 * the UI's adjustments (layers per machine) are checked the same way.
 */
export function planSplit(
  model: Pick<ModelFacts, 'sizeBytes' | 'layers' | 'trainContext' | 'kvBytesPerToken'> & { modelId: string; name: string },
  machines: Array<{ machineId: string | null; name: string; budgetBytes: number; capBytes: number | null }>,
  options: { layers?: number[]; contextSize?: number } = {},
): SplitPlan {
  const perLayer = model.sizeBytes / model.layers;
  const total = machines.reduce((sum, m) => sum + m.budgetBytes, 0);
  let layers: number[];
  if (options.layers && options.layers.length === machines.length) layers = [...options.layers];
  else {
    // Largest remainder: proportional to each budget, adding up to the model's layers.
    const exact = machines.map((m) => (total > 0 ? (m.budgetBytes / total) * model.layers : model.layers / machines.length));
    layers = exact.map(Math.floor);
    const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0]);
    for (let k = 0; layers.reduce((a, b) => a + b, 0) < model.layers; k++) layers[order[k % order.length]![1]]! += 1;
  }
  const assigned = layers.reduce((a, b) => a + b, 0);
  const contextSize = Math.min(options.contextSize ?? Math.min(model.trainContext, 4096), model.trainContext);
  const kvPerLayer = (model.kvBytesPerToken / model.layers) * contextSize;
  const devices: SplitDevice[] = machines.map((m, i) => ({
    machineId: m.machineId,
    name: m.name,
    budgetBytes: m.budgetBytes,
    capBytes: m.capBytes,
    layers: layers[i]!,
    bytes: Math.round(layers[i]! * (perLayer + kvPerLayer)),
  }));
  const over = devices.filter((d) => d.bytes > d.budgetBytes);
  const fits = assigned === model.layers && over.length === 0;
  const alone = machines.find((m) => m.budgetBytes >= model.sizeBytes + model.kvBytesPerToken * contextSize);
  const note =
    assigned !== model.layers
      ? `The layers given add up to ${assigned}; the model has ${model.layers}.`
      : over.length
        ? `Does not fit: ${over.map((d) => `${d.name} would need ${(d.bytes / 2 ** 30).toFixed(1)} GB of the ${(d.budgetBytes / 2 ** 30).toFixed(1)} GB it can give`).join('; ')}.`
        : `${devices.map((d) => `${d.layers} layers on ${d.name}`).join(', ')}; ${contextSize}-token context.`;
  return {
    modelId: model.modelId,
    modelName: model.name,
    sizeBytes: model.sizeBytes,
    totalLayers: model.layers,
    contextSize,
    devices,
    fitsOn: alone?.name ?? null,
    fits,
    note,
  };
}

interface Running {
  server: LlamaServerProcess | null;
  forwarders: Array<{ close(): void; machineId?: string; bytes?: () => { sent: number; received: number } }>;
  remotes: string[];
}

/**
 * Loads one model split across this machine and paired ones: an RPC helper on
 * each (127.0.0.1 only; the others reached through their links), and
 * llama.cpp's own llama-server here using them as devices. The split model is
 * then a machine in the list ("split: tower + this machine"), so the chat and
 * the picker use it as any other.
 */
export class SplitService {
  private status: SplitStatus = { state: 'stopped', plan: null, ref: null, detail: 'No split model is loaded.' };
  private running: Running | null = null;
  private building: EnginesInfo['building'] = null;
  private buildPromise: Promise<EngineBinaries> | null = null;
  /** The machine whose part went away while the split ran, and how. */
  private lost: { name: string; how: string } | null = null;

  constructor(
    private readonly deps: {
      dataDir: string;
      env: NodeJS.ProcessEnv;
      library: ModelLibrary;
      machines: MachinesService;
      inference: InferenceService;
      settings: SettingsStore;
      events: EventBus;
      pool: RpcHelperPool;
      thisName: () => string;
      log: (line: string) => void;
      /** Release downloads: the table of verified assets and where they come from (tests: a server on 127.0.0.1). */
      releases?: { table?: ReleaseTable; baseUrl?: string };
    },
  ) {
    // A machine in the running split that stops answering (asleep, frozen, cable out) takes its part with it.
    deps.events.subscribeAll((event, payload) => {
      if (event !== 'onMachinesChanged' || this.status.state !== 'running' || !this.status.plan) return;
      for (const device of this.status.plan.devices) {
        if (device.machineId === null) continue;
        const machine = (payload as MachineInfo[]).find((m) => m.id === device.machineId);
        if (machine && machine.state !== 'online') this.lose(device.name, machine.error ?? `${device.name} is ${machine.state}`);
      }
    });
  }

  async engines(): Promise<EnginesInfo> {
    return {
      ...(await findEngines({ dataDir: this.deps.dataDir, env: this.deps.env, releases: this.deps.releases?.table })),
      building: this.building,
    };
  }

  /** The programs, building them here if need be (progress as onEngines events). */
  async ensureEngines(): Promise<EngineBinaries> {
    const info = await this.engines();
    if (info.found) return info.found as EngineBinaries;
    const table = this.deps.releases?.table ?? PINNED_RELEASES;
    if (table[info.version]?.[platformKey()]) {
      // A verified release download where one is pinned; a build from source otherwise.
      this.buildPromise ??= downloadRelease({
        version: info.version,
        dir: releaseDirFor(enginesRoot(this.deps.dataDir, this.deps.env), info.version),
        table,
        baseUrl: this.deps.releases?.baseUrl ?? this.deps.env.FREEHOLD_LLAMA_RELEASES_URL,
        onProgress: (bytes, total) => {
          this.building = { step: 'download', fraction: total ? bytes / total : 0, line: `${bytes} of ${total} bytes` };
          void this.engines().then((e) => this.deps.events.emit('onEngines', e));
        },
      })
        .then(async () => (await this.engines()).found as EngineBinaries)
        .finally(() => {
          this.building = null;
          this.buildPromise = null;
          void this.engines().then((e) => this.deps.events.emit('onEngines', e));
        });
      return this.buildPromise;
    }
    if (!info.canBuild.ok)
      throw new RpcError('unavailable', `llama.cpp's programs are not installed and cannot be built here: ${info.canBuild.reason}`);
    return this.build(info.canBuild.backend as EngineBackend | undefined);
  }

  /**
   * A build for this machine's best GPU backend (or the one asked), unless
   * one is there already: `freehold engines --build`, Hardware → Build.
   */
  async buildEngines(backend?: EngineBackend): Promise<EngineBinaries> {
    const info = await this.engines();
    // Nothing there yet and no backend asked: as any first use gets them (a pinned, verified download first).
    if (!info.found && !backend) return this.ensureEngines();
    if (!info.canBuild.ok && !backend) {
      if (info.found) return info.found as EngineBinaries;
      throw new RpcError('unavailable', `llama.cpp's programs cannot be built here: ${info.canBuild.reason}`);
    }
    const wanted = backend ?? (info.canBuild.backend as EngineBackend | undefined);
    // A build for that backend already there (whichever build is in use) is kept.
    const existing = wanted
      ? (
          await findEngines({
            dataDir: this.deps.dataDir,
            env: { ...this.deps.env, FREEHOLD_ENGINES_BACKEND: wanted, FREEHOLD_IGNORE_PATH_ENGINES: '1' },
          })
        ).found
      : null;
    if (existing?.source === 'build' && existing.backend === wanted) return existing;
    return this.build(wanted);
  }

  private build(backend: EngineBackend | undefined): Promise<EngineBinaries> {
    this.buildPromise ??= buildEngines({
      dataDir: this.deps.dataDir,
      env: this.deps.env,
      ...(backend ? { backend } : {}),
      onProgress: (p) => {
        this.building = p;
        void this.engines().then((e) => this.deps.events.emit('onEngines', e));
      },
    }).finally(() => {
      this.building = null;
      this.buildPromise = null;
      void this.engines().then((e) => this.deps.events.emit('onEngines', e));
    });
    return this.buildPromise;
  }

  /**
   * A machine's part of the running split went away (its helper stopped, its
   * link closed, it stopped answering): llama-server cannot go on without it,
   * so it is stopped now, and the reply in progress fails at once, naming it.
   */
  private lose(name: string, how: string): void {
    if (!this.running || this.status.state !== 'running' || this.lost) return;
    this.lost = { name, how };
    this.deps.log(`split: ${how}`);
    this.running.server?.child.kill('SIGKILL');
  }

  /** Why a reply on the split model failed, in words that name the machine, when one went away. */
  async explainFailure(): Promise<string | null> {
    // The reply's stream and the tunnel may close in either order: give the second a moment.
    for (let i = 0; i < 10 && !this.lost; i++) await new Promise((r) => setTimeout(r, 100));
    if (!this.lost) return null;
    const plan = this.status.plan;
    const left =
      plan?.fitsOn && plan.fitsOn !== this.lost.name
        ? ` ${plan.modelName} fits on ${plan.fitsOn} alone: choose it there in the model picker, or load the split again.`
        : ' Load the split again when it is back.';
    return `${this.lost.name} went away mid-reply (${this.lost.how}), so the split model stopped.${left}`;
  }

  /** Where the running split's llama-server answers, for the local API to pass requests through. */
  endpoint(): { id: string; url: string; apiKey: string } | null {
    if (this.status.state !== 'running' || !this.status.plan || !this.endpointInfo) return null;
    return { id: `split:${this.status.plan.modelName}`, ...this.endpointInfo };
  }

  private endpointInfo: { url: string; apiKey: string } | null = null;

  /** Bytes through each paired machine's tunnels while the split runs. */
  traffic(): Array<{ machineId: string; sent: number; received: number }> {
    return (this.running?.forwarders ?? []).filter((f) => f.machineId && f.bytes).map((f) => ({ machineId: f.machineId!, ...f.bytes!() }));
  }

  current(): SplitStatus {
    return this.status;
  }

  private set(status: SplitStatus): SplitStatus {
    this.status = status;
    this.deps.events.emit('onSplitStatus', status);
    return status;
  }

  private machineOf(id: string): MachineInfo {
    const machine = this.deps.machines.list().find((m) => m.id === id || m.name.toLowerCase() === id.toLowerCase());
    if (!machine) throw new RpcError('not_found', `No machine named "${id.slice(0, 40)}".`);
    if (machine.kind !== 'freehold')
      throw new RpcError('invalid_input', `${machine.name} is not a paired Freehold: only those can hold part of a split model.`);
    if (machine.state !== 'online') throw new RpcError('unavailable', `${machine.name} is not online.`);
    return machine;
  }

  async plan(input: SplitPlanInput): Promise<SplitPlan> {
    const facts = await modelFacts(this.deps.library, input.modelId);
    const capMiB = this.deps.settings.get().inference.maxVramPerGpuMiB;
    const hardware = await this.deps.inference.knownHardware();
    const machines = input.machineIds.map((id) => {
      if (id === THIS_MACHINE) {
        const cap = capMiB && hardware.vram.totalBytes > 0 ? capMiB * 1024 * 1024 : null;
        return {
          machineId: null,
          name: this.deps.thisName(),
          budgetBytes: budgetOf({ vramFreeBytes: hardware.vram.freeBytes, ramFreeBytes: os.freemem() }, cap),
          capBytes: cap,
        };
      }
      const m = this.machineOf(id);
      // That machine's own cap applies to its GPU (a CPU-only machine gives RAM, which no GPU cap limits).
      const hw = m.hardware ?? { vramFreeBytes: null, ramFreeBytes: null, vramTotalBytes: null, vramCapBytes: null };
      const cap = hw.vramCapBytes && (hw.vramTotalBytes ?? 0) > 0 ? hw.vramCapBytes : null;
      return { machineId: m.id, name: m.name, budgetBytes: budgetOf(hw, cap), capBytes: cap };
    });
    return planSplit({ ...facts, modelId: input.modelId }, machines, input);
  }

  async load(input: SplitPlanInput): Promise<SplitStatus> {
    if (this.running) await this.unload();
    const plan = await this.plan(input);
    if (!plan.fits) throw new RpcError('out_of_memory', plan.note);
    const facts = await modelFacts(this.deps.library, input.modelId);
    this.lost = null;
    this.set({ state: 'starting', plan, ref: null, detail: 'Getting llama.cpp ready…' });
    const forwarders: Running['forwarders'] = [];
    const remotes: string[] = [];
    try {
      const binaries = await this.ensureEngines();
      // One RPC endpoint per machine, in the plan's order (the tensor split follows it).
      const endpoints: string[] = [];
      for (const device of plan.devices) {
        this.set({ state: 'starting', plan, ref: null, detail: `Starting the RPC helper on ${device.name}…` });
        if (device.machineId === null) {
          endpoints.push(`127.0.0.1:${await this.deps.pool.start(THIS_MACHINE)}`);
          continue;
        }
        await this.deps.machines.remote(device.machineId)['split.helperStart']();
        remotes.push(device.machineId);
        const record = this.deps.machines.pairedRecord(device.machineId);
        const forward = await forwardToHelper(record, {
          onTunnelClosed: (error) => {
            if (error) this.lose(device.name, error.message);
          },
        });
        forwarders.push({ ...forward, machineId: device.machineId });
        endpoints.push(`127.0.0.1:${forward.port}`);
      }
      const threads = resolveThreads(this.deps.settings.get().inference.threads, os.availableParallelism()).used;
      const args = [
        '-m',
        facts.path,
        '--rpc',
        endpoints.join(','),
        '-ngl',
        '999',
        '--tensor-split',
        plan.devices.map((d) => d.layers).join(','),
        '-c',
        String(plan.contextSize),
        '-t',
        String(threads),
      ];
      this.set({ state: 'starting', plan, ref: null, detail: 'Loading the model across the machines…' });
      const running: Running = { server: null, forwarders, remotes };
      this.running = running;
      const server = await LlamaServerProcess.start({
        binary: binaries.llamaServer,
        args,
        alias: plan.modelName,
        onExit: (exited) => {
          if (this.running !== running) return;
          this.deps.log(`split: ${exited}`);
          void this.explainFailure().then(async (why) => {
            const fallback = why ? await this.fallbackAfterLoss().catch(() => null) : null;
            await this.stopAll(running, { detail: why ?? exited, state: 'failed', fallback });
          });
        },
      });
      running.server = server;
      const { url, apiKey } = server;
      const name = `split: ${plan.devices.map((d) => d.name).join(' + ')}`;
      this.endpointInfo = { url, apiKey };
      this.deps.machines.addEphemeral({
        id: SPLIT_MACHINE_ID,
        kind: 'openai',
        name,
        url,
        apiKey,
        order: -1,
        addedAt: new Date().toISOString(),
      });
      return this.set({
        state: 'running',
        plan,
        ref: remoteModelRef(SPLIT_MACHINE_ID, plan.modelName),
        detail: `${plan.modelName} runs split: ${plan.note}`,
      });
    } catch (error) {
      const running = this.running ?? { server: null, forwarders, remotes };
      await this.stopAll(running, { state: 'failed', detail: (error as Error).message });
      throw error instanceof RpcError ? error : new RpcError('unavailable', (error as Error).message);
    }
  }

  /** Where the model can go on once a machine's part went away: this machine alone, or a split on the machines left, if it fits. */
  private async fallbackAfterLoss(): Promise<SplitStatus['fallback']> {
    const plan = this.status.plan;
    if (!plan || !this.lost) return null;
    const left = plan.devices.filter((d) => d.name !== this.lost!.name);
    if (left.length === 0) return null;
    const ids = left.map((d) => d.machineId ?? THIS_MACHINE);
    if (ids.length === 1 && ids[0] === THIS_MACHINE) {
      const alone = await this.plan({ modelId: plan.modelId, machineIds: [THIS_MACHINE] });
      return alone.fits ? { kind: 'local', modelId: plan.modelId, name: left[0]!.name } : null;
    }
    const again = await this.plan({ modelId: plan.modelId, machineIds: ids }).catch(() => null);
    return again?.fits ? { kind: 'split', modelId: plan.modelId, machineIds: ids, names: left.map((d) => d.name) } : null;
  }

  private async stopAll(
    running: Running,
    next: { state: SplitStatus['state']; detail: string; fallback?: SplitStatus['fallback'] },
  ): Promise<void> {
    if (this.running === running) this.running = null;
    this.endpointInfo = null;
    this.deps.machines.removeEphemeral(SPLIT_MACHINE_ID);
    await running.server?.stop();
    for (const forward of running.forwarders) forward.close();
    this.deps.pool.stop(THIS_MACHINE);
    for (const id of running.remotes) {
      try {
        await this.deps.machines.remote(id)['split.helperStop']();
      } catch {
        // offline: its helper stops when the link closes
      }
    }
    this.set({
      state: next.state,
      plan: next.state === 'failed' ? this.status.plan : null,
      ref: null,
      detail: next.detail,
      fallback: next.fallback ?? null,
    });
  }

  async unload(): Promise<SplitStatus> {
    if (!this.running) return this.status;
    await this.stopAll(this.running, { state: 'stopped', detail: 'The split model was unloaded.' });
    return this.status;
  }

  async close(): Promise<void> {
    await this.unload();
  }
}
