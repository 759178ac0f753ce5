import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppInfo, HostHandlers, HostKind } from '../../shared/contract';
import { InferenceService } from '../inference/inference-service';
import { forkLauncher, type WorkerLauncher } from '../inference/launcher';
import { ModelLibrary } from '../library/model-library';
import { estimateFit, HubClient } from '../hub/hub-client';
import { chooseStarter, recommendedModels } from '../hub/recommended-models';
import { openFileSource } from '../library/file-source';
import { cleanLeftovers, describeLeftovers } from '../library/leftovers';
import { readGgufHeader } from '../library/gguf-header';
import { HardwareSampler } from './hardware-sampler';
import { Benchmarks } from './benchmarks';
import { DownloadQueue } from '../hub/download-queue';
import { TokenStore, type SecretCipher } from '../hub/token-store';
import { ChatService } from '../chat/chat-service';
import { openConversationStore, type ConversationStore } from '../chat/conversation-store';
import { RpcError } from '../../shared/errors';
import { EventBus } from './events';
import { NoticeBoard } from './notices';
import { SettingsStore } from './settings-store';
import { ensureDataDir } from './data-dir';
import { appVersion } from './version';
import { ApiController, type ApiOverride } from '../api/api-controller';

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
  const tokens = new TokenStore(options.dataDir, options.cipher, env);
  await tokens.load();
  const hub = new HubClient({
    // HF_ENDPOINT (a mirror, as with Hugging Face's own tools) wins over the setting.
    endpoint: () => (env.HF_ENDPOINT || settings.get().hub.endpoint).replace(/\/+$/, ''),
    token: () => tokens.get(),
    hardware: async () => inference.supervisor.hardware ?? (await inference.supervisor.ensureStarted()),
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

  const api = new ApiController({ dataDir: options.dataDir, settings: () => settings.get(), events, inference, library, log,
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
  /** The hardware with the memory free now, or null where the worker cannot say (the recommendations then carry no fit). */
  const hardwareNow = () => Promise.resolve().then(() => inference.handlers['inference.hardware'](undefined)).catch(() => null);
  const handlers: HostHandlers = {
    'app.info': () => info,
    'app.notices': () => notices.list(),
    'app.dismissNotice': ({ id }) => notices.dismiss(id),
    'settings.get': () => settings.get(),
    'settings.update': async (patch) => {
      if (closed) throw new RpcError('unavailable', 'The host is shutting down.');
      const next = await settings.update(patch);
      events.emit('onSettingsChanged', next);
      void inference.settingsChanged(next).catch((error: unknown) => {
        notices.add('error', `The inference engine could not restart with the new settings: ${(error as Error).message}`);
      });
      return next;
    },
    'system.info': () => ({
      os: `${os.type()} ${os.release()}`,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      logicalCores: os.availableParallelism(),
      memoryTotalBytes: os.totalmem(),
      memoryFreeBytes: os.freemem(),
    }),
    ...inference.handlers,
    'models.list': () => library.snapshot(),
    'models.import': ({ paths, mode }) =>
      library.importPaths(paths, mode, (file, bytes, totalBytes) => events.emit('onImportProgress', { path: file, bytes, totalBytes })),
    'models.remove': ({ id }) => library.remove(id),
    'models.reveal': ({ id }) => {
      const model = library.get(id);
      if (!model) throw new RpcError('not_found', 'No such model in the library.');
      if (!options.revealFile) throw new RpcError('unavailable', 'Showing files is only possible in the desktop app.');
      options.revealFile(model.files[0]!);
      return { shown: true };
    },
    'models.load': async ({ id, gpuLayers, contextSize }) => {
      // A file deleted or changed since it was listed: said so, and the entry brought up to date.
      const model = await library.checkBeforeLoad(id);
      return inference.handlers['inference.load']({ modelPath: model.files[0]!, gpuLayers, contextSize });
    },
    'folders.add': ({ path: dir }) => library.addFolder(dir),
    'folders.remove': async ({ id }) => {
      await library.removeFolder(id);
      return library.snapshot();
    },
    'folders.rescan': async ({ id }) => {
      await library.rescan(id);
      return library.snapshot();
    },
    'folders.suggestions': () => library.suggestions(),
    'hub.search': ({ query, sort, limit }) => hub.search(query, sort, limit),
    'hub.recommended': async () => recommendedModels(await hardwareNow()),
    'hub.starter': async () => chooseStarter(await hardwareNow()),
    'hub.repo': ({ repo, revision }) => hub.repo(repo, revision),
    'hub.tokenStatus': () => tokens.status(),
    'hub.setToken': ({ token }) => tokens.set(token),
    'downloads.list': () => downloads.list(),
    'downloads.start': ({ repo, revision, file, quantization }) => downloads.start(repo, revision, file, quantization),
    'downloads.pause': ({ id }) => downloads.pause(id),
    'downloads.resume': ({ id }) => downloads.resume(id),
    'downloads.cancel': ({ id }) => downloads.cancel(id),
    'chats.list': () => chats.list(),
    'chats.create': (input) => chats.create(input),
    'chats.get': ({ id }) => chats.get(id),
    'chats.update': ({ id, ...change }) => {
      const updated = chats.update(id, change);
      events.emit('onConversationChanged', { id });
      return updated;
    },
    'chats.delete': ({ id }) => {
      chats.delete(id);
      events.emit('onConversationChanged', { id });
      return { deleted: true };
    },
    'chats.search': ({ query }) => chats.search(query),
    'chats.export': ({ id, format }) => {
      const title = chats.get(id).conversation.title.replace(/[^\w -]+/g, '').trim().slice(0, 60) || 'conversation';
      return format === 'md'
        ? { content: chats.exportMarkdown(id), fileName: `${title}.md` }
        : { content: JSON.stringify(chats.exportJson(id), null, 2), fileName: `${title}.json` };
    },
    'chats.import': ({ data }) => chats.importJson(data),
    'chats.send': ({ conversationId, parentId, text }) => chat.send(conversationId, parentId, text),
    'chats.regenerate': ({ conversationId, messageId }) => chat.regenerate(conversationId, messageId),
    'chats.stop': ({ id }) => chat.stop(id),
    'hardware.watch': () => sampler.watch(),
    'hardware.benchmark': async ({ modelId, allBackends }) => (allBackends ? benchmarks.runOnEachBackend(modelId) : [await benchmarks.run(modelId)]),
    'hardware.benchmarks': () => benchmarks.list(),
    'hardware.fit': async () => {
      const hardware = await inference.handlers['inference.hardware'](undefined);
      const results = [];
      for (const model of library.snapshot().models) {
        let header = null;
        const source = await openFileSource(model.files[0]!).catch(() => null);
        if (source) {
          header = await readGgufHeader(source).catch(() => null);
          await source.close();
        }
        results.push({ modelId: model.id, name: model.name, sizeBytes: model.sizeBytes, fit: estimateFit(model.sizeBytes, header, hardware) });
      }
      return results;
    },
    'api.status': () => api.status(),
    'api.regenerateKey': () => api.regenerateKey(),
    'chats.deleteMessage': ({ id }) => {
      const message = chats.message(id);
      chats.deleteMessage(id);
      events.emit('onConversationChanged', { id: message.conversationId });
      return chats.get(message.conversationId);
    },
  };

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
    async close() {
      closed = true;
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
