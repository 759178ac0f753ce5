import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { InferenceStatus } from '../../shared/contract';
import type { ComputeDevice, Placement, PlacementPlan } from '../../shared/placement';
import { RpcError } from '../../shared/errors';
import { engineChoiceOf } from '../../shared/inference';
import type {
  ChatDelta,
  CompleteInput,
  EmbedResult,
  GenerateInput,
  GenerateResult,
  HardwareReport,
  LoadedModel,
  LoadInput,
} from '../../shared/inference';
import { DEFAULT_PARALLEL, type Settings } from '../../shared/settings';
import type { EventBus } from '../platform/events';
import type { NoticeBoard } from '../platform/notices';
import type { EngineOptions } from '../worker/engine';
import type { WorkerSample } from '../worker/worker-api';
import type { BenchmarkInput, BenchmarkMeasure, Engine } from './engine';
import { FairQueue, type WorkSource } from './fair-queue';
import type { WorkerLauncher } from './launcher';
import { checkModelFile } from './model-file';
import { WorkerSupervisor } from './supervisor';
import { ServerEngine, serverAutoContext } from '../engines/server-engine';
import { resolveThreads } from '../worker/threads';
import { RoutedEngine, type EngineChoice } from './routed-engine';

export interface InferenceServiceOptions {
  launcher: WorkerLauncher;
  settings: () => Settings;
  events: EventBus;
  notices: NoticeBoard;
  log: (line: string) => void;
  watchdog?: { intervalMs: number; timeoutMs: number };
  backoffMs?: number[];
  /** For tests: wraps (or watches) node-llama-cpp's engine (the worker's supervisor). */
  engine?: (engine: Engine) => Engine;
  /** The speculative decoding set for the model at this path (settings, by library id). */
  speculativeFor?: (modelPath: string) => LoadInput['speculative'];
  /** The engine set for the model at this path (settings, by library id); auto where none is. */
  engineFor?: (modelPath: string, placement?: Placement) => EngineChoice | undefined;
  /** Where the layers of the model at this path go (Models → Options → Placement). */
  placementFor?: (modelPath: string) => Placement | undefined;
  /** The projector (mmproj) of the library model at this path: the model sees images on llama.cpp's server. */
  projectorFor?: (modelPath: string) => string | undefined;
  /** llama.cpp's llama-server, for models that run on it (found, downloaded or built: engines/llama-engines.ts). */
  serverBinary?: () => Promise<string>;
}

/** Auto for a path outside the library: node-llama-cpp (a projector comes only with a library model). */

/** A paired machine's requests swap the loaded model at most once in this time (a load per request would hold the machine). */
export const GUEST_RELOAD_INTERVAL_MS = 30_000;

/** The model a job needs: a chat model (with this context size, if given) or one in the embedding slot. */
export interface ModelRequest {
  path: string;
  contextSize?: number;
  slot?: 'chat' | 'embedding';
  /** When it must be loaded: an automatic context of at most this many tokens (what fits the memory free now). */
  maxContextSize?: number;
  /**
   * A paired machine's request: it runs on the model as loaded (never reloaded
   * for another context size), and never replaces a model this machine's user
   * loaded; the model it loads is unloaded when idle, like the API's.
   */
  guest?: boolean;
}

/** An input, or how to make it from the model loaded for it (its context size, say). */
type Input<T> = T | ((model: LoadedModel) => T);

export type InferenceJob =
  | { kind: 'generate'; input: Input<Omit<GenerateInput, 'requestId'>> }
  | { kind: 'complete'; input: Input<Omit<CompleteInput, 'requestId'>> }
  | { kind: 'embed'; input: { inputs: string[] } }
  | { kind: 'benchmark'; input: BenchmarkInput };

export type JobResult<J extends InferenceJob> = J['kind'] extends 'generate' | 'complete'
  ? GenerateResult
  : J['kind'] extends 'embed'
    ? EmbedResult
    : BenchmarkMeasure;

export interface RunOptions {
  /** Streamed output goes to this listener alone, not to the UI's onChatDelta (the API's requests are not broadcast). */
  onDelta?: (delta: ChatDelta) => void;
  /** Asked before the model loads and before the job starts: true ends the request as `aborted` (a client that hung up). */
  cancelled?: () => boolean;
}

/**
 * The host's side of inference, and the only owner of the engine. All work
 * that needs a model (loads, replies, completions, embeddings, benchmarks)
 * from the UI and from the local API goes through one fair queue; a job's
 * model is loaded in its turn if need be; models the API loaded just in time
 * are unloaded when idle.
 */
export class InferenceService {
  private readonly engine: Engine;
  private readonly routed: RoutedEngine;
  private readonly queue: FairQueue;
  private lastEngineSettings: string;
  /** The chat model the API loaded just in time (unloaded when idle); undefined once the user loads one. */
  private jitModelPath: string | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private lastWorkAt = Date.now();
  private readonly deltaListeners = new Map<string, (delta: ChatDelta) => void>();
  /** When a paired machine's request last loaded a model (see GUEST_RELOAD_INTERVAL_MS). */
  private guestLoadedAt = 0;

  constructor(private readonly options: InferenceServiceOptions) {
    const { placements: _placements, ...engineSettings } = options.settings().inference;
    this.lastEngineSettings = JSON.stringify(engineSettings);
    this.queue = new FairQueue(
      () => this.engine?.announce(),
      () => this.engine?.model?.parallel ?? 1,
    );
    const supervisor = new WorkerSupervisor({
      launcher: options.launcher,
      engineOptions: () => options.settings().inference,
      speculativeFor: options.speculativeFor,
      // The status callers see is the routed engine's (the model may run on the server).
      onStatus: () => options.events.emit('onInferenceStatus', this.engine.status()),
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
    const server = new ServerEngine({
      binary: options.serverBinary ?? (() => Promise.reject(new RpcError('unavailable', 'llama.cpp’s server is not available here.'))),
      threads: () => resolveThreads(options.settings().inference.threads, os.availableParallelism()).used,
      log: options.log,
      // The memory free now as the worker measures it for its own loads (RAM, VRAM, the user's VRAM cap).
      // (The system's free RAM while the worker cannot report: restarting, say.)
      freeMemory: async () => {
        const report = await supervisor.report().catch(() => null);
        if (!report) return { ramFreeBytes: os.freemem(), vramFreeBytes: 0 };
        const { ram, vram } = report;
        const perGpu = options.settings().inference.maxVramPerGpuMiB;
        return {
          ramFreeBytes: ram.freeBytes,
          vramFreeBytes: vram.freeBytes,
          vramCapBytes: vram.capBytes,
          vramCapPerGpuBytes: perGpu === null ? null : perGpu * 1024 * 1024,
          unified: vram.unifiedBytes > 0,
        };
      },
    });
    const routed = new RoutedEngine({
      // Tests wrap (or watch) the worker's engine.
      worker: options.engine ? options.engine(supervisor) : supervisor,
      server,
      choose: (modelPath, placement) => options.engineFor?.(modelPath, placement) ?? engineChoiceOf(undefined, {}, placement),
      placementFor: options.placementFor,
      projectorFor: options.projectorFor,
      speculativeFor: options.speculativeFor,
      autoContextSize: serverAutoContext,
      parallel: () => Math.max(1, Math.min(16, options.settings().inference.parallel ?? DEFAULT_PARALLEL)),
      onDelta: (delta) => {
        const own = this.deltaListeners.get(delta.requestId);
        if (own) own(delta);
        else options.events.emit('onChatDelta', delta);
      },
      onStatus: (status) => options.events.emit('onInferenceStatus', status),
      log: options.log,
    });
    this.engine = routed;
    this.routed = routed;
  }

  /** The engine's state, the loaded models and the queue. */
  status(): InferenceStatus {
    return this.engine.status();
  }

  /** The hardware with the memory free now. */
  hardware(): Promise<HardwareReport> {
    return this.engine.report();
  }

  /** The hardware as the engine found it when it started (starting it if need be): no new measurement. */
  async knownHardware(): Promise<HardwareReport> {
    return this.engine.hardware ?? (await this.engine.start());
  }

  /** Live figures for the hardware panel, with the loaded chat model. */
  async sample(): Promise<{ worker: WorkerSample | null; model: LoadedModel | undefined }> {
    const worker = await this.engine.sample().catch(() => null);
    return { worker, model: this.engine.model };
  }

  /**
   * Runs `job` when its turn in the queue comes: first makes `model` the
   * loaded one (loading it if another is, or none), then runs the job on it;
   * one turn, so that nothing can swap the model in between. With `model`
   * null the job runs on the model loaded now.
   */
  run<J extends InferenceJob>(
    source: WorkSource,
    requestId: string | undefined,
    model: ModelRequest | null,
    job: J,
    options: RunOptions = {},
  ): Promise<JobResult<J>> {
    const stopIfCancelled = () => {
      if (options.cancelled?.()) throw new RpcError('aborted', 'The client went away.');
    };
    // A reply or completion on the model loaded now runs beside others (the model's parallel sequences).
    const shareable =
      job.kind === 'generate' || job.kind === 'complete'
        ? () => {
            const loaded = this.engine.model;
            return (
              !!loaded &&
              (!model || (loaded.path === model.path && (model.contextSize === undefined || loaded.contextSize === model.contextSize)))
            );
          }
        : undefined;
    return this.schedule(
      source,
      requestId,
      async () => {
        stopIfCancelled();
        const id = requestId ?? randomUUID();
        if (job.kind === 'embed') {
          if (!model) throw new RpcError('no_model_loaded', 'Name the embedding model.');
          return (await this.engine.embed({ modelPath: model.path, inputs: job.input.inputs })) as JobResult<J>;
        }
        const loaded = model ? await this.ensureModel(source, model) : this.engine.model;
        if (!loaded) throw new RpcError('no_model_loaded', 'No model is loaded: load one first.');
        if (job.kind === 'benchmark') {
          stopIfCancelled();
          return (await this.engine.benchmark(job.input)) as JobResult<J>;
        }
        const unlisten = options.onDelta ? this.listenDeltas(id, options.onDelta) : undefined;
        try {
          if (job.kind === 'generate') {
            const input = typeof job.input === 'function' ? job.input(loaded) : job.input;
            stopIfCancelled();
            return (await this.engine.generate({ ...input, requestId: id })) as JobResult<J>;
          }
          const input = typeof job.input === 'function' ? job.input(loaded) : job.input;
          stopIfCancelled();
          return (await this.engine.complete({ ...input, requestId: id })) as JobResult<J>;
        } finally {
          unlisten?.();
        }
      },
      shareable,
    );
  }

  /** Loads a model the user chose; it stays loaded (the idle unload is for the API's). */
  load(input: LoadInput): Promise<LoadedModel> {
    return this.schedule('ui', undefined, async () => {
      const model = await this.loadNow(input);
      this.jitModelPath = undefined;
      return model;
    });
  }

  /** The placement plan for a load, without loading (Models → Options → Placement, `freehold plan`). */
  async plan(input: LoadInput): Promise<{ plan: PlacementPlan; choice: EngineChoice; devices: ComputeDevice[] }> {
    await checkModelFile(input.modelPath);
    return this.routed.plan(input);
  }

  /** The GPUs llama.cpp's server sees now, with their memory. */
  devices(): Promise<ComputeDevice[]> {
    return this.routed.devices();
  }

  unload(): Promise<InferenceStatus> {
    return this.schedule('ui', undefined, async () => {
      await this.engine.unload();
      this.jitModelPath = undefined;
      return this.engine.status();
    });
  }

  /** Stops a request: withdrawn if it is still waiting, else the engine stops generating it. */
  async abort(requestId: string): Promise<boolean> {
    if (this.queue.withdraw(requestId)) return true;
    return this.engine.abort(requestId);
  }

  /**
   * A fresh engine (in the queue: a reply or API request running now finishes
   * first instead of failing), with the settings or, for a benchmark of
   * another backend, with `override` until the next restart.
   */
  restart(why: string, override?: EngineOptions): Promise<HardwareReport> {
    return this.schedule('ui', undefined, () => this.engine.restart(why, override));
  }

  private listenDeltas(requestId: string, listener: (delta: ChatDelta) => void): () => void {
    this.deltaListeners.set(requestId, listener);
    return () => this.deltaListeners.delete(requestId);
  }

  /** Runs `task` when its turn comes (see FairQueue), and keeps the idle time. */
  private schedule<T>(source: WorkSource, requestId: string | undefined, task: () => Promise<T>, shareable?: () => boolean): Promise<T> {
    return this.queue.run(
      source,
      requestId,
      async () => {
        clearTimeout(this.idleTimer);
        try {
          return await task();
        } finally {
          this.lastWorkAt = Date.now();
          this.armIdleUnload();
        }
      },
      shareable,
    );
  }

  private async loadNow(input: LoadInput): Promise<LoadedModel> {
    await checkModelFile(input.modelPath);
    return this.engine.load(input);
  }

  /**
   * Inside a turn: makes `modelPath` the loaded model (with this context size,
   * if given), loading it if another is loaded. A model the API loads this way
   * is unloaded again after the idle time in settings.
   */
  private async ensureModel(source: WorkSource, request: ModelRequest): Promise<LoadedModel> {
    const { path: modelPath, contextSize } = request;
    const loaded = this.engine.model;
    if (
      loaded &&
      loaded.path === modelPath &&
      (contextSize === undefined || loaded.contextSize === contextSize) &&
      // A projector attached (or gone) or an engine set since it loaded: loaded again as it is set now.
      !this.routed.outOfDate(loaded)
    )
      return loaded;
    if (request.guest && loaded && loaded.path !== this.jitModelPath) {
      throw new RpcError(
        'busy',
        `This machine's user has ${loaded.name} loaded; a paired machine's reply on another model waits until it is unloaded.`,
      );
    }
    // Paired machines cannot make this one reload per request: one model swap for them per interval.
    const sinceGuestLoad = Date.now() - this.guestLoadedAt;
    if (request.guest && loaded && sinceGuestLoad < GUEST_RELOAD_INTERVAL_MS) {
      throw new RpcError(
        'busy',
        `${loaded.name} was loaded for a paired machine ${Math.round(sinceGuestLoad / 1000)} s ago; another model can be loaded for one in ${Math.ceil((GUEST_RELOAD_INTERVAL_MS - sinceGuestLoad) / 1000)} s.`,
      );
    }
    const model = await this.loadNow({
      modelPath,
      ...(contextSize !== undefined ? { contextSize } : {}),
      ...(request.maxContextSize !== undefined ? { maxContextSize: request.maxContextSize } : {}),
    });
    this.jitModelPath = source === 'api' || request.guest ? modelPath : undefined;
    if (request.guest) this.guestLoadedAt = Date.now();
    if (source === 'api') this.options.log(`api: loaded ${path.basename(modelPath)} just in time`);
    return model;
  }

  /** After the configured idle time with no work, models the API loaded are unloaded. */
  private armIdleUnload(): void {
    clearTimeout(this.idleTimer);
    const minutes = this.options.settings().api.idleUnloadMinutes;
    const engine = this.engine;
    const hasJit = (this.jitModelPath && engine.model?.path === this.jitModelPath) || engine.embeddingModel;
    if (!minutes || !hasJit) return;
    const ms = minutes * 60_000;
    this.idleTimer = setTimeout(() => {
      void this.queue
        .run('api', undefined, async () => {
          if (Date.now() - this.lastWorkAt < ms - 50) return; // work arrived meanwhile
          if (this.jitModelPath && engine.model?.path === this.jitModelPath) {
            this.options.log(`api: unloading ${path.basename(this.jitModelPath)} after ${minutes} idle minute(s)`);
            await engine.unload();
          }
          this.jitModelPath = undefined;
          if (engine.embeddingModel) {
            this.options.log(`api: unloading the embedding model ${path.basename(engine.embeddingModel)} after ${minutes} idle minute(s)`);
            await engine.unloadEmbedder();
            engine.announce();
          }
        })
        .catch((error: unknown) => this.options.log(`idle unload failed: ${(error as Error).message}`));
    }, ms);
    this.idleTimer.unref?.();
  }

  /** Starts the engine in the background; problems become notices, not failures. */
  start(): void {
    this.engine.start().catch((error: unknown) => {
      this.options.notices.add('error', `The inference engine could not start: ${(error as Error).message}`);
    });
  }

  /** Backend, thread and VRAM settings apply on a fresh engine. */
  async settingsChanged(settings: Settings): Promise<void> {
    // A model's placement needs no fresh worker: the loaded model, if its placement changed, is placed again now.
    const { placements: _placements, ...engineSettings } = settings.inference;
    const next = JSON.stringify(engineSettings);
    if (next === this.lastEngineSettings) {
      const loaded = this.engine.model;
      if (loaded && this.routed.outOfDate(loaded))
        await this.schedule('ui', undefined, async () => {
          const model = this.engine.model;
          if (model && this.routed.outOfDate(model)) await this.loadNow({ modelPath: model.path, contextSize: model.contextSize });
        });
      return;
    }
    this.lastEngineSettings = next;
    await this.restart('inference settings changed');
  }

  close(): Promise<void> {
    clearTimeout(this.idleTimer);
    return this.engine.stop();
  }
}
