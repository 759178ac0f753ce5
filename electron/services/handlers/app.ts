import os from 'node:os';
import type { AppInfo } from '../../../shared/contract';
import { RpcError } from '../../../shared/errors';
import type { InferenceService } from '../../inference/inference-service';
import type { EventBus } from '../../platform/events';
import type { NoticeBoard } from '../../platform/notices';
import type { SettingsStore } from '../../settings/settings-store';
import type { HandlerSlice } from './handler-slice';

export interface AppHandlerDeps {
  info: AppInfo;
  notices: NoticeBoard;
  settings: SettingsStore;
  events: EventBus;
  inference: InferenceService;
  /** True once the host is shutting down: settings are no longer written. */
  closing: () => boolean;
}

/** The app itself, its notices, the settings and the machine it runs on. */
export function appHandlers(deps: AppHandlerDeps): HandlerSlice<'app' | 'settings' | 'system'> {
  const { info, notices, settings, events, inference } = deps;
  return {
    'app.info': () => info,
    'app.notices': () => notices.list(),
    'app.dismissNotice': ({ id }) => notices.dismiss(id),
    'settings.get': () => settings.get(),
    'settings.update': async (patch) => {
      if (deps.closing()) throw new RpcError('unavailable', 'The host is shutting down.');
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
  };
}
