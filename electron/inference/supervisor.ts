import path from 'node:path';
import type { InferenceStatus } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { ChatDelta, GenerateResult, HardwareReport, LoadedModel, LoadInput, LoadProgress } from '../../shared/inference';
import { createPeer, type Peer } from '../../shared/rpc/peer';
import { MAX_TRUSTED_MESSAGE_BYTES } from '../../shared/rpc/protocol';
import type { EngineOptions } from '../worker/engine';
import type { WorkerEvents, WorkerFunctions, WorkerSample } from '../worker/worker-api';
import type { BenchmarkInput, BenchmarkMeasure, Engine } from './engine';
import type { WorkerExit, WorkerHandle, WorkerLauncher } from './launcher';

export interface SupervisorOptions {
  launcher: WorkerLauncher;
  engineOptions: () => EngineOptions;
  /** The speculative decoding set for the model at this path, if any. */
  speculativeFor?: (modelPath: string) => LoadInput['speculative'];
  onStatus: (status: InferenceStatus) => void;
  onDelta: (delta: ChatDelta) => void;
  onLoadProgress: (progress: LoadProgress) => void;
  /** A crash the user must hear about: which model, doing what, and how it ended. */
  onCrash: (message: string) => void;
  log: (line: string) => void;
  watchdog?: { intervalMs: number; timeoutMs: number };
  /** Delays before restarting after successive crashes. */
  backoffMs?: number[];
  /** The generation queue's state, reported with the status. */
  queue?: () => InferenceStatus['queue'];
}

interface Activity {
  kind: 'loading' | 'generating with' | 'embedding with';
  modelPath: string;
}

interface Running {
  handle: WorkerHandle;
  peer: Peer<WorkerFunctions, WorkerEvents>;
  ready: Promise<HardwareReport>;
  exited: Promise<WorkerExit>;
  startedAt: number;
  /** Set when we ended it on purpose (restart, stop) or the watchdog did. */
  endedBecause?: string;
}

const DEFAULT_BACKOFF = [250, 1000, 3000, 10_000, 30_000];

function describeExit(exit: WorkerExit): string {
  const parts: string[] = [];
  if (exit.reason) parts.push(exit.reason);
  if (exit.signal) parts.push(`signal ${exit.signal}`);
  if (exit.code !== null) parts.push(`exit code ${exit.code}`);
  return parts.join(', ') || 'unknown cause';
}

/**
 * Runs the inference worker and keeps it running: notices its death (exit
 * code, signal, Electron's reason), fails the request in flight with a clear
 * error, restarts it with backoff, never reloads a model that just crashed it,
 * and ends a worker that stops answering (watchdog).
 */
export class WorkerSupervisor implements Engine {
  private running: Running | undefined;
  private hardwareReport: HardwareReport | undefined;
  private loadedModel: LoadedModel | undefined;
  private loading: { modelPath: string; progress: number } | undefined;
  private activity: Activity | undefined;
  private generating = 0;
  /** How the loaded model was loaded (its context size, speculative decoding), to load it the same way after a restart. */
  private loadedWith: Parameters<WorkerFunctions['load']>[0] | undefined;
  private state: InferenceStatus['state'] = 'not-started';
  private detail = 'No model loaded.';
  private crashes = 0;
  private restartTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdogTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(private readonly options: SupervisorOptions) {}

  status(): InferenceStatus {
    return {
      state: this.state,
      backend: this.hardwareReport?.backend ?? null,
      detail: this.detail,
      model: this.loadedModel ?? null,
      loading: this.loading ?? null,
      queue: this.options.queue?.() ?? { running: null, waiting: 0 },
      embeddingModel: this.embeddingModel ?? null,
    };
  }

  get hardware(): HardwareReport | undefined {
    return this.hardwareReport;
  }

  get model(): LoadedModel | undefined {
    return this.loadedModel;
  }

  /** Tells listeners the status changed (the queue moved, say) without changing the state. */
  announce(): void {
    this.options.onStatus(this.status());
  }

  private setState(state: InferenceStatus['state'], detail: string): void {
    this.state = state;
    this.detail = detail;
    this.options.onStatus(this.status());
  }

  /** Starts the worker if none runs (also cutting short a pending restart). */
  start(): Promise<HardwareReport> {
    return this.ensureStarted();
  }

  ensureStarted(): Promise<HardwareReport> {
    if (this.stopped) return Promise.reject(new RpcError('unavailable', 'Inference has been shut down.'));
    if (this.running) return this.running.ready;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    return this.launch().ready;
  }

  private launch(): Running {
    this.setState('starting', 'Starting the inference engine…');
    const handle = this.options.launcher();
    const peer = createPeer<WorkerFunctions, WorkerEvents>(handle.transport, {
      local: {
        onDelta: (delta: ChatDelta) => this.options.onDelta(delta),
        onLoadProgress: (progress: LoadProgress) => {
          if (this.loading?.modelPath === progress.modelPath) this.loading.progress = progress.progress;
          this.options.onLoadProgress(progress);
        },
      },
      onProtocolError: (error) => this.options.log(`worker sent a bad message: ${error.message}`),
      maxMessageBytes: MAX_TRUSTED_MESSAGE_BYTES,
    });
    let resolveExit!: (exit: WorkerExit) => void;
    const exited = new Promise<WorkerExit>((resolve) => (resolveExit = resolve));
    handle.onExit(resolveExit);
    const running: Running = {
      handle,
      peer,
      exited,
      startedAt: Date.now(),
      ready: peer.init(this.optionsOverride ?? this.options.engineOptions()).then(
        (report) => {
          if (this.running === running) {
            this.hardwareReport = report;
            this.setState('ready', this.loadedModel ? `${this.loadedModel.name} loaded.` : 'No model loaded.');
          }
          return report;
        },
        async (error: unknown) => {
          throw await this.translate(running, error);
        },
      ),
    };
    running.ready.catch(() => undefined);
    this.running = running;
    void exited.then((exit) => this.onExit(running, exit));
    this.startWatchdog();
    return running;
  }

  private startWatchdog(): void {
    const watchdog = this.options.watchdog;
    if (!watchdog || this.watchdogTimer) return;
    this.watchdogTimer = setInterval(() => {
      const running = this.running;
      if (!running || running.endedBecause) return;
      let answered = false;
      const timer = setTimeout(() => {
        if (answered || this.running !== running) return;
        running.endedBecause = `it stopped answering for ${Math.round(watchdog.timeoutMs / 1000)} s`;
        this.options.log(`inference worker ${running.handle.pid ?? ''} ${running.endedBecause}; ending it`);
        running.handle.kill();
      }, watchdog.timeoutMs);
      running.peer.ping().then(
        () => {
          answered = true;
          clearTimeout(timer);
        },
        () => clearTimeout(timer),
      );
    }, watchdog.intervalMs);
    this.watchdogTimer.unref?.();
  }

  private onExit(running: Running, exit: WorkerExit): void {
    if (this.running !== running) return;
    this.running = undefined;
    const intentional = running.endedBecause !== undefined && !running.endedBecause.startsWith('it stopped answering');
    if (intentional || this.stopped) return;

    const activity = this.activity;
    const cause = running.endedBecause ?? describeExit(exit);
    const crashedModel = activity?.modelPath ?? this.loadedModel?.path;
    const doing = activity ? ` while ${activity.kind} ${path.basename(activity.modelPath)}` : '';
    const message =
      `The inference engine stopped (${cause})${doing}. It is being restarted` +
      (crashedModel
        ? `; ${path.basename(crashedModel)} was not reloaded, so that it cannot crash it again. Load it again to retry, perhaps with fewer GPU layers or a smaller context.`
        : '.');
    this.options.log(message);
    this.loadedModel = undefined;
    this.embeddingModel = undefined;
    this.loading = undefined;
    this.activity = undefined;
    if (Date.now() - running.startedAt > 60_000) this.crashes = 0;
    const delays = this.options.backoffMs ?? DEFAULT_BACKOFF;
    const delay = delays[Math.min(this.crashes, delays.length - 1)] ?? 1000;
    this.crashes += 1;
    this.setState('crashed', message);
    this.options.onCrash(message);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.running && !this.stopped)
        this.launch().ready.catch((error: unknown) => this.options.log(`restart failed: ${String(error)}`));
    }, delay);
  }

  /** Calls the worker; if it dies meanwhile, the caller gets a clear worker_crashed error. */
  async call<K extends keyof WorkerFunctions>(
    name: K,
    ...args: Parameters<WorkerFunctions[K]>
  ): Promise<Awaited<ReturnType<WorkerFunctions[K]>>> {
    await this.ensureStarted();
    const running = this.running;
    if (!running) throw new RpcError('unavailable', 'The inference engine is not running.');
    const fn = running.peer[name] as unknown as (...a: unknown[]) => Promise<Awaited<ReturnType<WorkerFunctions[K]>>>;
    try {
      return await fn(...args);
    } catch (error) {
      throw await this.translate(running, error);
    }
  }

  private async translate(running: Running, error: unknown): Promise<unknown> {
    if (!(error instanceof RpcError) || error.code !== 'disconnected') return error;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exit = await Promise.race([
      running.exited,
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 3000))),
    ]);
    clearTimeout(timer);
    const cause = running.endedBecause ?? (exit ? describeExit(exit) : 'its connection closed');
    return new RpcError('worker_crashed', `The inference engine stopped (${cause}) before it answered; it is being restarted.`);
  }

  async load(input: Parameters<WorkerFunctions['load']>[0]): Promise<LoadedModel> {
    await this.ensureStarted();
    // The model's speculative decoding as the settings say now (a restart after they changed reloads with the new one).
    const speculative = input.speculative ?? this.options.speculativeFor?.(input.modelPath);
    if (speculative) input = { ...input, speculative };
    this.activity = { kind: 'loading', modelPath: input.modelPath };
    this.loading = { modelPath: input.modelPath, progress: 0 };
    this.loadedModel = undefined;
    this.setState('ready', `Loading ${path.basename(input.modelPath)}…`);
    try {
      const model = await this.call('load', input);
      this.loadedModel = model;
      this.loadedWith = input;
      return model;
    } finally {
      this.activity = undefined;
      this.loading = undefined;
      if (this.running) this.setState('ready', this.loadedModel ? `${this.loadedModel.name} loaded.` : 'No model loaded.');
    }
  }

  async unload(): Promise<void> {
    if (!this.running) {
      this.loadedModel = undefined;
      return;
    }
    await this.call('unload');
    this.loadedModel = undefined;
    this.setState('ready', 'No model loaded.');
  }

  generate(input: Parameters<WorkerFunctions['generate']>[0]): Promise<GenerateResult> {
    return this.onLoadedModel('generate', input);
  }

  complete(input: Parameters<WorkerFunctions['complete']>[0]): Promise<GenerateResult> {
    return this.onLoadedModel('complete', input);
  }

  /** Runs a reply or completion on the loaded model, remembered as what the worker is doing should it crash. */
  private async onLoadedModel<K extends 'generate' | 'complete'>(
    name: K,
    input: Parameters<WorkerFunctions[K]>[0],
  ): Promise<GenerateResult> {
    const model = this.loadedModel;
    if (!model) throw new RpcError('no_model_loaded', 'No model is loaded: load one first.');
    this.activity = { kind: 'generating with', modelPath: model.path };
    this.generating += 1;
    try {
      return (await this.call(name, ...([input] as Parameters<WorkerFunctions[K]>))) as GenerateResult;
    } finally {
      // Several replies run at once: the worker is still generating until the last one ends.
      this.generating -= 1;
      if (this.generating === 0) this.activity = undefined;
    }
  }

  /** The embedding model in the worker's second slot, if any. */
  embeddingModel: string | undefined;

  async embed(input: Parameters<WorkerFunctions['embed']>[0]) {
    this.activity = { kind: 'embedding with', modelPath: input.modelPath };
    try {
      const result = await this.call('embed', input);
      this.embeddingModel = input.modelPath;
      return result;
    } finally {
      this.activity = undefined;
    }
  }

  report(): Promise<HardwareReport> {
    return this.call('hardware');
  }

  async sample(): Promise<WorkerSample | null> {
    return this.hardwareReport ? this.call('sample') : null;
  }

  benchmark(input: BenchmarkInput): Promise<BenchmarkMeasure> {
    return this.call('benchmark', input);
  }

  async abort(requestId: string): Promise<boolean> {
    if (!this.loadedModel) return false;
    return this.call('abort', { requestId });
  }

  async unloadEmbedder(): Promise<void> {
    if (this.running && this.embeddingModel) await this.call('unloadEmbedder');
    this.embeddingModel = undefined;
  }

  private optionsOverride: EngineOptions | undefined;

  /**
   * Ends the worker and starts a fresh one with the current settings (or, for
   * a benchmark of another backend, with `override` for this run only),
   * reloading the model it had.
   */
  async restart(why: string, override?: EngineOptions): Promise<HardwareReport> {
    const reload = this.loadedModel;
    await this.end(why);
    this.optionsOverride = override;
    const report = await this.ensureStarted();
    if (reload) {
      const contextSize = this.loadedWith?.modelPath === reload.path ? this.loadedWith.contextSize : undefined;
      await this.load({ modelPath: reload.path, ...(contextSize !== undefined ? { contextSize } : {}) }).catch((error: unknown) =>
        this.options.onCrash(`Could not reload ${reload.name} after the restart: ${(error as Error).message}`),
      );
    }
    return report;
  }

  private async end(why: string): Promise<void> {
    const running = this.running;
    if (!running) return;
    running.endedBecause = why;
    this.running = undefined;
    this.loadedModel = undefined;
    this.embeddingModel = undefined;
    running.handle.transport.close(why);
    running.handle.kill();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([running.exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdogTimer);
    await this.end('shutting down');
    this.state = 'stopped';
  }
}
