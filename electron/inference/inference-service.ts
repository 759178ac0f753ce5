import type { HostHandlers } from '../../shared/contract';
import type { Settings } from '../../shared/settings';
import type { EventBus } from '../services/events';
import type { NoticeBoard } from '../services/notices';
import type { WorkerLauncher } from './launcher';
import { checkModelFile } from './model-file';
import { WorkerSupervisor } from './supervisor';

export interface InferenceServiceOptions {
  launcher: WorkerLauncher;
  settings: () => Settings;
  events: EventBus;
  notices: NoticeBoard;
  log: (line: string) => void;
  watchdog?: { intervalMs: number; timeoutMs: number };
  backoffMs?: number[];
}

type InferenceHandlers = Pick<
  HostHandlers,
  'inference.status' | 'inference.hardware' | 'inference.load' | 'inference.unload' | 'chat.generate' | 'chat.abort'
>;

/** The host's side of inference: the contract's inference and chat methods over a supervised worker. */
export class InferenceService {
  readonly supervisor: WorkerSupervisor;
  readonly handlers: InferenceHandlers;
  private lastEngineSettings: string;

  constructor(private readonly options: InferenceServiceOptions) {
    this.lastEngineSettings = JSON.stringify(options.settings().inference);
    this.supervisor = new WorkerSupervisor({
      launcher: options.launcher,
      engineOptions: () => options.settings().inference,
      onStatus: (status) => options.events.emit('onInferenceStatus', status),
      onDelta: (delta) => options.events.emit('onChatDelta', delta),
      onLoadProgress: (progress) => options.events.emit('onLoadProgress', progress),
      onCrash: (message) => options.notices.add('error', message),
      log: options.log,
      watchdog: options.watchdog ?? { intervalMs: 5000, timeoutMs: 15_000 },
      backoffMs: options.backoffMs,
    });
    const supervisor = this.supervisor;
    this.handlers = {
      'inference.status': () => supervisor.status(),
      'inference.hardware': () => supervisor.call('hardware'),
      'inference.load': async (input) => {
        await checkModelFile(input.modelPath);
        return supervisor.load(input);
      },
      'inference.unload': async () => {
        await supervisor.unload();
        return supervisor.status();
      },
      'chat.generate': (input) => supervisor.generate(input),
      'chat.abort': async ({ requestId }) => {
        if (!supervisor.model) return { aborted: false };
        return { aborted: await supervisor.call('abort', { requestId }) };
      },
    };
  }

  /** Starts the worker in the background; problems become notices, not failures. */
  start(): void {
    this.supervisor.ensureStarted().catch((error: unknown) => {
      this.options.notices.add('error', `The inference engine could not start: ${(error as Error).message}`);
    });
  }

  /** Backend, thread and VRAM settings apply on a fresh worker. */
  async settingsChanged(settings: Settings): Promise<void> {
    const next = JSON.stringify(settings.inference);
    if (next === this.lastEngineSettings) return;
    this.lastEngineSettings = next;
    await this.supervisor.restart('inference settings changed');
  }

  close(): Promise<void> {
    return this.supervisor.stop();
  }
}
