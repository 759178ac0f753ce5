import path from 'node:path';
import type { HostHandlers } from '../../shared/contract';
import type { ChatDelta, LoadedModel } from '../../shared/inference';
import type { Settings } from '../../shared/settings';
import type { EventBus } from '../services/events';
import type { NoticeBoard } from '../services/notices';
import { FairQueue, type WorkSource } from './fair-queue';
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

/**
 * The host's side of inference: the contract's inference and chat methods over
 * a supervised worker. All work that needs the model (loads, replies,
 * completions, embeddings) from the UI and from the local API goes through one
 * fair queue; models the API loaded just in time are unloaded when idle.
 */
export class InferenceService {
  readonly supervisor: WorkerSupervisor;
  readonly handlers: InferenceHandlers;
  readonly queue: FairQueue;
  private lastEngineSettings: string;
  /** The chat model the API loaded just in time (unloaded when idle); undefined once the user loads one. */
  private jitModelPath: string | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private lastWorkAt = Date.now();
  private readonly deltaListeners = new Map<string, (delta: ChatDelta) => void>();

  constructor(private readonly options: InferenceServiceOptions) {
    this.lastEngineSettings = JSON.stringify(options.settings().inference);
    this.queue = new FairQueue(() => this.supervisor?.announce());
    this.supervisor = new WorkerSupervisor({
      launcher: options.launcher,
      engineOptions: () => options.settings().inference,
      onStatus: (status) => options.events.emit('onInferenceStatus', status),
      onDelta: (delta) => {
        const own = this.deltaListeners.get(delta.requestId);
        if (own) own(delta);
        else options.events.emit('onChatDelta', delta);
      },
      onLoadProgress: (progress) => options.events.emit('onLoadProgress', progress),
      onCrash: (message) => options.notices.add('error', message),
      log: options.log,
      watchdog: options.watchdog ?? { intervalMs: 5000, timeoutMs: 15_000 },
      backoffMs: options.backoffMs,
      queue: () => this.queue.state(),
    });
    const supervisor = this.supervisor;
    this.handlers = {
      'inference.status': () => supervisor.status(),
      'inference.hardware': () => supervisor.call('hardware'),
      'inference.load': (input) =>
        this.schedule('ui', undefined, async () => {
          const model = await this.loadNow(input);
          this.jitModelPath = undefined;
          return model;
        }),
      'inference.unload': () =>
        this.schedule('ui', undefined, async () => {
          await supervisor.unload();
          this.jitModelPath = undefined;
          return supervisor.status();
        }),
      'chat.generate': (input) => this.schedule('ui', input.requestId, () => supervisor.generate(input)),
      'chat.abort': async ({ requestId }) => ({ aborted: await this.abort(requestId) }),
    };
  }

  /** Streamed output of `requestId` goes to `listener` alone (the API's requests are not broadcast to the UI). */
  listenDeltas(requestId: string, listener: (delta: ChatDelta) => void): () => void {
    this.deltaListeners.set(requestId, listener);
    return () => this.deltaListeners.delete(requestId);
  }

  /** Runs `task` when its turn comes; see FairQueue. */
  schedule<T>(source: WorkSource, requestId: string | undefined, task: () => Promise<T>): Promise<T> {
    return this.queue.run(source, requestId, async () => {
      clearTimeout(this.idleTimer);
      try {
        return await task();
      } finally {
        this.lastWorkAt = Date.now();
        this.armIdleUnload();
      }
    });
  }

  /** Stops a request: withdrawn if it is still waiting, else the worker stops generating it. */
  async abort(requestId: string): Promise<boolean> {
    if (this.queue.withdraw(requestId)) return true;
    if (!this.supervisor.model) return false;
    return this.supervisor.call('abort', { requestId });
  }

  private async loadNow(input: Parameters<InferenceHandlers['inference.load']>[0]): Promise<LoadedModel> {
    await checkModelFile(input.modelPath);
    return this.supervisor.load(input);
  }

  /**
   * Inside a scheduled task: makes `modelPath` the loaded model (with this
   * context size, if given), loading it if another is loaded. A model the API
   * loads this way is unloaded again after the idle time in settings.
   */
  async ensureModel(source: WorkSource, modelPath: string, contextSize?: number): Promise<LoadedModel> {
    const loaded = this.supervisor.model;
    if (loaded && loaded.path === modelPath && (contextSize === undefined || loaded.contextSize === contextSize)) return loaded;
    const model = await this.loadNow({ modelPath, contextSize });
    this.jitModelPath = source === 'api' ? modelPath : undefined;
    if (source === 'api') this.options.log(`api: loaded ${path.basename(modelPath)} just in time`);
    return model;
  }

  /** After the configured idle time with no work, models the API loaded are unloaded. */
  private armIdleUnload(): void {
    clearTimeout(this.idleTimer);
    const minutes = this.options.settings().api.idleUnloadMinutes;
    const hasJit = (this.jitModelPath && this.supervisor.model?.path === this.jitModelPath) || this.supervisor.embeddingModel;
    if (!minutes || !hasJit) return;
    const ms = minutes * 60_000;
    this.idleTimer = setTimeout(() => {
      void this.queue
        .run('api', undefined, async () => {
          if (Date.now() - this.lastWorkAt < ms - 50) return; // work arrived meanwhile
          if (this.jitModelPath && this.supervisor.model?.path === this.jitModelPath) {
            this.options.log(`api: unloading ${path.basename(this.jitModelPath)} after ${minutes} idle minute(s)`);
            await this.supervisor.unload();
          }
          this.jitModelPath = undefined;
          if (this.supervisor.embeddingModel) {
            this.options.log(
              `api: unloading the embedding model ${path.basename(this.supervisor.embeddingModel)} after ${minutes} idle minute(s)`,
            );
            await this.supervisor.unloadEmbedder();
            this.supervisor.announce();
          }
        })
        .catch((error: unknown) => this.options.log(`idle unload failed: ${(error as Error).message}`));
    }, ms);
    this.idleTimer.unref?.();
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
    // In the queue: a reply or API request running now finishes first instead of failing.
    await this.schedule('ui', undefined, () => this.supervisor.restart('inference settings changed'));
  }

  close(): Promise<void> {
    clearTimeout(this.idleTimer);
    return this.supervisor.stop();
  }
}
