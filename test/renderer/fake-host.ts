import type { ApiStatus } from '../../shared/api';
import { chooseStarter, recommendedModels } from '../../electron/hub/recommended-models';
import { apiStatus as realApiStatus } from '../../electron/api/api-status';
import type { ClientEvents, HardwareSample, HostHandlers, InferenceStatus, ModelFit, Notice } from '../../shared/contract';
import type { BenchmarkResult, HardwareReport } from '../../shared/inference';
import type { LibrarySnapshot } from '../../shared/library';
import { recordedReports } from '../fixtures/hardware-reports';
import { eventNames } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { FreeholdBridge } from '../../shared/bridge';
import { createMemoryPair } from '../../shared/rpc/memory';
import { createPeer } from '../../shared/rpc/peer';
import { applySettingsPatch, defaultSettings, type Settings } from '../../shared/settings';

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
  const inference: InferenceStatus = {
    state: 'not-started',
    backend: null,
    detail: 'No model loaded.',
    model: null,
    loading: null,
    queue: { running: null, waiting: 0 },
    embeddingModel: null,
  };
  let apiKey = 'fh-firstkeyfirstkeyfirstkeyfirstkey0000000';
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

  let library: LibrarySnapshot = { models: [], folders: [], totalBytes: 0, ownedBytes: 0 };
  let fits: ModelFit[] = [];
  const benchmarks: BenchmarkResult[] = [];

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
    'hub.repo': () => {
      throw new RpcError('unavailable', 'no hub in renderer tests');
    },
    'hub.tokenStatus': () => ({ set: false, storage: null }),
    'hub.setToken': () => ({ set: false, storage: null }),
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
  };
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
    setLibrary(next: LibrarySnapshot) {
      library = next;
      void peer.onLibraryChanged.asEvent({ revision: Date.now() });
    },
    pushInference(status: InferenceStatus) {
      void peer.onInferenceStatus.asEvent(status);
    },
  };
}
