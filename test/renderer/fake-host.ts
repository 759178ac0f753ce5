import type { ClientEvents, HostHandlers, InferenceStatus, Notice } from '../../shared/contract';
import { eventNames } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { FreeholdBridge } from '../../shared/bridge';
import { createMemoryPair } from '../../shared/rpc/memory';
import { createPeer } from '../../shared/rpc/peer';
import { applySettingsPatch, defaultSettings, type Settings } from '../../shared/settings';

/**
 * A host for renderer tests: real RPC over an in-memory pair (structuredClone),
 * with handlers that record what the UI asked for.
 */
export function createFakeHost() {
  const [clientEnd, hostEnd] = createMemoryPair();
  let settings: Settings = defaultSettings;
  let notices: Notice[] = [];
  const calls: Array<{ method: string; input: unknown }> = [];
  const inference: InferenceStatus = { state: 'not-started', backend: null, detail: 'No model loaded.', model: null, loading: null };

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
      return settings;
    },
    'system.info': () => ({
      os: 'Linux 6.1',
      cpuModel: 'Test CPU',
      logicalCores: 8,
      memoryTotalBytes: 16 * 1024 ** 3,
      memoryFreeBytes: 9 * 1024 ** 3,
    }),
    'inference.status': () => inference,
    'inference.hardware': () => {
      throw new RpcError('unavailable', 'no worker in renderer tests');
    },
    'inference.load': () => {
      throw new RpcError('unavailable', 'no worker in renderer tests');
    },
    'inference.unload': () => inference,
    'chat.generate': () => {
      throw new RpcError('no_model_loaded', 'No model is loaded.');
    },
    'chat.abort': () => ({ aborted: false }),
  };
  const peer = createPeer<ClientEvents, HostHandlers>(hostEnd, { local: handlers, remoteEventNames: eventNames });

  const bridge: FreeholdBridge = {
    send: (message) => clientEnd.send(message),
    onMessage: (listener) => clientEnd.onMessage(listener),
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
    pushInference(status: InferenceStatus) {
      void peer.onInferenceStatus.asEvent(status);
    },
  };
}
