import os from 'node:os';
import type { AppInfo, HostHandlers, HostKind, InferenceStatus } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import { EventBus } from './events';
import { NoticeBoard } from './notices';
import { SettingsStore } from './settings-store';
import { appVersion } from './version';

export interface HostServicesOptions {
  dataDir: string;
  host: HostKind;
  versions?: AppInfo['versions'];
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
  close(): Promise<void>;
}

export async function createHostServices(options: HostServicesOptions): Promise<HostServices> {
  const events = new EventBus();
  const notices = new NoticeBoard(events);
  const settings = new SettingsStore(options.dataDir);
  const loaded = await settings.load();
  if (loaded.problem) notices.add('warning', loaded.problem);

  // The inference worker (its own process) reports here once it exists; until a
  // model is loaded there is honestly nothing running.
  const inference: InferenceStatus = { state: 'not-started', backend: null, detail: 'No model loaded.' };

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
  const handlers: HostHandlers = {
    'app.info': () => info,
    'app.notices': () => notices.list(),
    'app.dismissNotice': ({ id }) => notices.dismiss(id),
    'settings.get': () => settings.get(),
    'settings.update': async (patch) => {
      if (closed) throw new RpcError('unavailable', 'The host is shutting down.');
      const next = await settings.update(patch);
      events.emit('onSettingsChanged', next);
      return next;
    },
    'system.info': () => ({
      os: `${os.type()} ${os.release()}`,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      logicalCores: os.availableParallelism(),
      memoryTotalBytes: os.totalmem(),
      memoryFreeBytes: os.freemem(),
    }),
    'inference.status': () => inference,
  };

  return {
    handlers,
    events,
    notices,
    settings,
    async close() {
      closed = true;
      await settings.flush();
    },
  };
}
