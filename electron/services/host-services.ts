import { existsSync } from 'node:fs';
import path from 'node:path';
import { engineChoiceOf } from '../../shared/inference';
import { fileURLToPath } from 'node:url';
import type { AppInfo, HostHandlers, HostKind } from '../../shared/contract';
import { InferenceService } from '../inference/inference-service';
import { forkLauncher, type WorkerLauncher } from '../inference/launcher';
import { ModelLibrary } from '../library/model-library';
import { HubClient } from '../hub/hub-client';
import { cleanLeftovers, describeLeftovers } from '../library/leftovers';
import { HardwareSampler } from './hardware-sampler';
import { Benchmarks } from './benchmarks';
import { DownloadQueue } from '../hub/download-queue';
import { TokenStore, type SecretCipher } from '../hub/token-store';
import { ChatService } from '../chat/chat-service';
import { openConversationStore, type ConversationStore } from '../chat/conversation-store';
import { EventBus } from '../platform/events';
import { NoticeBoard } from '../platform/notices';
import { SettingsStore } from '../settings/settings-store';
import { ensureDataDir } from '../platform/data-dir';
import { appVersion } from '../platform/version';
import { ApiController, type ApiOverride } from '../api/api-controller';
import type { Engine } from '../inference/engine';
import { apiHandlers } from './handlers/api';
import { appHandlers } from './handlers/app';
import { chatHandlers } from './handlers/chats';
import { hardwareHandlers } from './handlers/hardware';
import { hubHandlers } from './handlers/hub';
import { placementHandlers } from './handlers/placement';
import { inferenceHandlers } from './handlers/inference';
import { guestGenerate, libraryHandlers } from './handlers/library';
import { machineHandlers } from './handlers/machines';
import { MachinesService } from '../machines/machines-service';
import { UploadSessions } from '../library/uploads';
import { RpcHelperPool } from '../engines/rpc-helpers';
import { SplitService } from '../engines/split-service';
import { splitHandlers } from './handlers/split';
import os from 'node:os';
import { resolveThreads } from '../worker/threads';
import { SharingService } from '../machines/sharing';
import type { LinkTimings } from '../machines/freehold-machine';
import { McpService } from '../tools/mcp-service';
import { toolHandlers, toolsSnapshot } from './handlers/tools';
import { docsHandlers } from './handlers/docs';
import { openDocuments } from './documents';
import type { DocsService } from '../docs/docs-service';

export interface HostServicesOptions {
  dataDir: string;
  host: HostKind;
  versions?: AppInfo['versions'];
  /** How to start the inference worker; by default a forked Node process running `workerScript`. */
  workerLauncher?: WorkerLauncher;
  /** The built worker (dist/electron/worker.mjs); defaults to the one beside this bundle. */
  workerScript?: string;
  log?: (line: string) => void;
  /** Supervision timings, shortened by tests. */
  watchdog?: { intervalMs: number; timeoutMs: number };
  backoffMs?: number[];
  /** Shows a file in the OS file manager (desktop only). */
  revealFile?: (file: string) => void;
  watchFolders?: boolean;
  /** The OS keychain for the hub token (Electron safeStorage), where available. */
  cipher?: SecretCipher;
  /** Download retry timings, shortened by tests. */
  downloads?: { retryDelaysMs?: number[]; stallTimeoutMs?: number; concurrency?: number };
  env?: NodeJS.ProcessEnv;
  /** The local API server's switch, host and port from the command line (`npm run serve`), over the settings. */
  api?: ApiOverride;
  /** For tests: wraps (or watches) the inference engine. */
  engine?: (engine: Engine) => Engine;
  /** Sharing this machine from the command line (`serve --share`), over the stored switch. */
  share?: { enabled?: boolean; host?: string; port?: number; name?: string };
  /** llama.cpp release downloads (tests: their own table of verified assets and a server on 127.0.0.1). */
  engines?: { releases?: { table?: import('../engines/llama-releases').ReleaseTable; baseUrl?: string } };
  /** Link and server-machine timings, shortened by tests. */
  machines?: {
    timings?: Partial<LinkTimings>;
    heartbeatMs?: number;
    openAi?: { pollMs?: number; backoffMs?: number[]; stallTimeoutMs?: number };
  };
  /** Tool-call timings, shortened by tests. */
  tools?: { callTimeoutMs?: number; startTimeoutMs?: number };
}

/**
 * Every service the hosts share, created once per process. Plain Node: the
 * Electron shell, the headless host and the CLI each wrap these same objects.
 */
export interface HostServices {
  handlers: HostHandlers;
  events: EventBus;
  notices: NoticeBoard;
  settings: SettingsStore;
  inference: InferenceService;
  library: ModelLibrary;
  downloads: DownloadQueue;
  hub: HubClient;
  chats: ConversationStore;
  chat: ChatService;
  api: ApiController;
  machines: MachinesService;
  sharing: SharingService;
  split: SplitService;
  mcp: McpService;
  docs: DocsService;
  close(): Promise<void>;
}

export async function createHostServices(options: HostServicesOptions): Promise<HostServices> {
  ensureDataDir(options.dataDir);
  const events = new EventBus();
  const notices = new NoticeBoard(events);
  const settings = new SettingsStore(options.dataDir);
  const loaded = await settings.load();
  if (loaded.problem) notices.add('warning', loaded.problem);

  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const workerScript = options.workerScript ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.mjs');
  const inference = new InferenceService({
    launcher: options.workerLauncher ?? forkLauncher(workerScript, log),
    settings: () => settings.get(),
    events,
    notices,
    log,
    watchdog: options.watchdog,
    backoffMs: options.backoffMs,
    engine: options.engine,
    // The engine is set per library model (Models → Options → Engine); auto elsewhere.
    engineFor: (modelPath, placement) => {
      const model = library.snapshot().models.find((m) => m.files[0] === modelPath);
      const inference = settings.get().inference;
      return engineChoiceOf(
        model ? inference.engines?.[model.id] : undefined,
        model,
        placement ?? (model ? inference.placements?.[model.id] : undefined),
      );
    },
    // Where its layers go (Models → Options → Placement); every GPU for models without one.
    placementFor: (modelPath) => {
      const model = library.snapshot().models.find((m) => m.files[0] === modelPath);
      return model ? settings.get().inference.placements?.[model.id] : undefined;
    },
    // Its projector, where the library model has one (a model pinned to node-llama-cpp runs text-only).
    // A projector whose file is gone is left out (the model loads text-only) rather than failing the load.
    projectorFor: (modelPath) => {
      const file = library.snapshot().models.find((m) => m.files[0] === modelPath)?.projector?.file;
      if (file && !existsSync(file)) {
        log(`${path.basename(file)} (a projector) is gone; ${path.basename(modelPath)} loads text-only`);
        return undefined;
      }
      return file;
    },
    // llama.cpp's server: the same programs the split uses (found, downloaded verified, or built once).
    serverBinary: async () => (await split!.ensureEngines()).llamaServer,
    // Speculative decoding is set per library model; the draft model is another library model.
    speculativeFor: (modelPath) => {
      const models = library.snapshot().models;
      const model = models.find((m) => m.files[0] === modelPath);
      const setting = model ? settings.get().inference.speculative?.[model.id] : undefined;
      if (!setting) return undefined;
      if (setting.mode === 'prompt-lookup') return { kind: 'prompt-lookup' };
      const draft = models.find((m) => m.id === setting.draftModelId);
      return draft ? { kind: 'draft', modelPath: draft.files[0]! } : undefined;
    },
  });

  // Downloads and copies go here; the setting moves them off a full system drive.
  const modelsDir = () => settings.get().library.modelsDir ?? path.join(options.dataDir, 'models');
  const library = new ModelLibrary({
    dataDir: options.dataDir,
    modelsDir,
    events,
    notices,
    log,
    watchFolders: options.watchFolders,
  });
  await library.open();

  const env = options.env ?? process.env;
  // HF_ENDPOINT (a mirror, as with Hugging Face's own tools) wins over the setting.
  const hubEndpoint = () => (env.HF_ENDPOINT || settings.get().hub.endpoint).replace(/\/+$/, '');
  // The token goes only to the endpoint it was saved for.
  const tokens = new TokenStore(options.dataDir, options.cipher, env, hubEndpoint);
  await tokens.load();
  const hub = new HubClient({
    endpoint: hubEndpoint,
    token: () => tokens.get(),
    hardware: () => inference.knownHardware(),
  });
  const downloads = new DownloadQueue({
    dataDir: options.dataDir,
    modelsDir,
    hub,
    library,
    events,
    notices,
    log,
    ...options.downloads,
  });
  await downloads.open();
  // What a crash or a kill left behind (temporary files, unfinished copies): removed or recovered, and said.
  const leftovers = await cleanLeftovers({
    dataDir: options.dataDir,
    modelsDir: modelsDir(),
    models: library.snapshot().models,
    downloads: downloads.list(),
    recover: (id, files) => library.addRecovered(id, files),
    log,
  });
  const cleaned = describeLeftovers(leftovers);
  if (cleaned) notices.add('info', cleaned);

  const sampler = new HardwareSampler(inference, events);
  const benchmarks = new Benchmarks(options.dataDir, inference, library, () => settings.get().inference);
  await benchmarks.open();
  // Without a usable chat database the rest of the app still works: a notice says why, and so does every chat call.
  const chats = openConversationStore(ChatService.file(options.dataDir), (reason) => {
    notices.add('error', reason);
    log(reason);
  });
  const chat = new ChatService(chats, inference, library, events);
  // A model with a projector sees only where its engine setting runs it on llama.cpp's server.
  chat.useSettings(() => settings.get());

  const api = new ApiController({
    dataDir: options.dataDir,
    settings: () => settings.get(),
    events,
    inference,
    library,
    log,
    split: () => split?.endpoint() ?? null,
    // The CLI never serves the API (the desktop app or `npm run serve` may be serving it on the same port).
    override: options.api ?? (options.host === 'cli' ? { enabled: false } : undefined),
  });
  await api.open();

  const info: AppInfo = {
    name: 'Freehold',
    version: appVersion,
    host: options.host,
    dataDir: options.dataDir,
    platform: process.platform,
    arch: process.arch,
    versions: options.versions ?? { node: process.versions.node },
  };

  let closed = false;
  const uploads = new UploadSessions(library, events);
  // llama.cpp's RPC helpers on this machine (127.0.0.1 only), for split models here or on paired machines.
  let split: SplitService | null = null;
  const rpcHelpers = new RpcHelperPool(
    async () => (await split!.ensureEngines()).rpcServer,
    log,
    // The same rule as the worker's: the setting, or half the logical cores (leaving at least one free).
    () => resolveThreads(settings.get().inference.threads, os.availableParallelism()).used,
  );
  // The CLI neither shares nor connects: it edits the list of machines that a running host follows.
  const sharing = new SharingService({
    dataDir: options.dataDir,
    events,
    handlers: () => handlers,
    log,
    override: options.host === 'cli' ? { enabled: false } : options.share,
    heartbeatMs: options.machines?.heartbeatMs,
    tunnelPort: (pairingId) => rpcHelpers.port(pairingId),
    onPairingGone: (pairingId) => rpcHelpers.stop(pairingId),
    helpers: { start: (pairingId) => rpcHelpers.start(pairingId), stop: (pairingId) => rpcHelpers.stop(pairingId) },
    generateForPeer: guestGenerate({ library, inference }),
    startDownloadForPeer: ({ repo, revision, file, quantization }) => downloads.startOrJoin(repo, revision, file, quantization),
  });
  const machines = new MachinesService({
    dataDir: options.dataDir,
    events,
    log,
    self: async () => ({ name: sharing.name(), machineId: await sharing.machineId() }),
    timings: options.machines?.timings,
    openAi: options.machines?.openAi,
    connect: options.host !== 'cli',
  });
  chat.useMachines(machines);
  split = new SplitService({
    dataDir: options.dataDir,
    env,
    library,
    machines,
    inference,
    settings,
    events,
    pool: rpcHelpers,
    thisName: () => sharing.name(),
    log,
    releases: options.engines?.releases,
  });
  machines.explainSplitFailure = () => split!.explainFailure();
  // MCP servers: the CLI edits mcp.json; the hosts run the servers and offer their tools in chat.
  const mcp: McpService = new McpService({
    dataDir: options.dataDir,
    onChanged: () => events.emit('onToolsChanged', toolsSnapshot(mcp, true)),
    log,
    callTimeoutMs: options.tools?.callTimeoutMs,
    startTimeoutMs: options.tools?.startTimeoutMs,
    connect: options.host !== 'cli',
  });
  chat.useTools(mcp);
  const docs = openDocuments({
    chats,
    dataDir: options.dataDir,
    events,
    inference,
    library,
    log,
    watch: options.watchFolders !== false && options.host !== 'cli',
    notices,
  });
  chat.useDocuments(docs);

  const handlers: HostHandlers = {
    ...appHandlers({ info, notices, settings, events, inference, closing: () => closed }),
    ...inferenceHandlers(inference),
    ...placementHandlers({ inference, library }),
    ...libraryHandlers({ library, uploads, inference, events, revealFile: options.revealFile }),
    ...hubHandlers({ hub, tokens, downloads, inference }),
    ...chatHandlers({ chats, chat, events, deleted: (id) => docs.conversationDeleted(id) }),
    ...hardwareHandlers({ inference, library, sampler, benchmarks }),
    ...apiHandlers(api),
    ...machineHandlers({ machines, sharing }),
    ...splitHandlers(split),
    ...toolHandlers({ mcp }),
    ...docsHandlers({ docs }),
  };
  await machines.open();
  await sharing.open();
  await mcp.start();
  if (options.host !== 'cli') docs.start();

  return {
    handlers,
    events,
    notices,
    settings,
    inference,
    library,
    downloads,
    hub,
    chats,
    chat,
    api,
    machines,
    sharing,
    split,
    mcp,
    docs,
    async close() {
      closed = true;
      await mcp.close();
      await docs.close();
      await split?.close();
      rpcHelpers.close();
      await sharing.close();
      await machines.close();
      uploads.close();
      await api.close();
      sampler.stop();
      await downloads.close();
      await inference.close();
      await library.close();
      await benchmarks.flush();
      chats.close();
      await settings.flush();
    },
  };
}
