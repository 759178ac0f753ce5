/**
 * The two local engines behind the one `Engine` the inference service owns:
 * node-llama-cpp's worker (worker supervisor) and llama.cpp's own server
 * (engines/server-engine.ts). The chat model runs on the one chosen for it
 * (settings, per model: auto, worker or server); loading it on one unloads
 * the other's. Embeddings, benchmarks, the hardware report and the live
 * figures stay with the worker. Callers see one engine: the status names the
 * engine running the model, and why.
 */
import path from 'node:path';
import type { InferenceStatus } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type {
  ChatDelta,
  CompleteInput,
  EmbedInput,
  EmbedResult,
  EngineName,
  GenerateInput,
  GenerateResult,
  HardwareReport,
  LoadedModel,
  LoadInput,
} from '../../shared/inference';
import type { ComputeDevice, Placement, PlacementPlan } from '../../shared/placement';
import type { ServerEngine, ServerLoadInput } from '../engines/server-engine';
import type { EngineOptions } from '../worker/engine';
import type { WorkerSample } from '../worker/worker-api';
import type { BenchmarkInput, BenchmarkMeasure, Engine } from './engine';

export interface EngineChoice {
  engine: EngineName;
  /** In words, for the model's info: "chosen for this model in its options", "text-only model: node-llama-cpp". */
  why: string;
}

export interface RoutedEngineOptions {
  worker: Engine;
  server: ServerEngine;
  /** Which engine runs the model at this path (placed so, for this load), and why. */
  choose: (modelPath: string, placement?: Placement) => EngineChoice;
  /** Where the layers of the model at this path go (its placement in the settings). */
  placementFor?: (modelPath: string) => Placement | undefined;
  /** The projector of the model at this path (the library's), which only the server runs. */
  projectorFor?: (modelPath: string) => string | undefined;
  /** The speculative decoding set for the model at this path. */
  speculativeFor?: (modelPath: string) => LoadInput['speculative'];
  /** Replies at once (the setting), as llama-server's slots. */
  parallel: () => number;
  /** Tokens of context for the server engine when the load asks for an automatic size. */
  autoContextSize: (modelPath: string, max: number | undefined) => Promise<number>;
  onDelta: (delta: ChatDelta) => void;
  onStatus: (status: InferenceStatus) => void;
  log: (line: string) => void;
}

export class RoutedEngine implements Engine {
  private serverModel: (LoadedModel & { engine: 'server' }) | undefined;
  private serverLoading: { modelPath: string; progress: number } | null = null;
  private workerWhy = '';

  constructor(private readonly options: RoutedEngineOptions) {}

  private get worker(): Engine {
    return this.options.worker;
  }

  get model(): LoadedModel | undefined {
    if (this.serverModel && this.options.server.model) return this.serverModel;
    const model = this.worker.model;
    return model ? { ...model, engine: 'worker', engineReason: this.workerWhy } : undefined;
  }

  get embeddingModel(): string | undefined {
    return this.worker.embeddingModel;
  }

  get hardware(): HardwareReport | undefined {
    return this.worker.hardware;
  }

  status(): InferenceStatus {
    const base = this.worker.status();
    const model = this.model ?? null;
    if (this.serverLoading) return { ...base, model: null, loading: this.serverLoading, detail: 'Starting llama.cpp’s server…' };
    if (!this.serverModel || !this.options.server.model) return { ...base, model };
    return { ...base, state: 'ready', model, detail: `${model!.name} runs on llama.cpp's server.` };
  }

  announce(): void {
    this.options.onStatus(this.status());
  }

  start(): Promise<HardwareReport> {
    return this.worker.start();
  }

  report(): Promise<HardwareReport> {
    return this.worker.report();
  }

  sample(): Promise<WorkerSample | null> {
    return this.worker.sample();
  }

  async load(input: LoadInput): Promise<LoadedModel> {
    const placement = input.placement ?? this.options.placementFor?.(input.modelPath);
    const choice = this.options.choose(input.modelPath, placement);
    if (choice.engine === 'worker') {
      await this.unloadServer();
      // node-llama-cpp honours "CPU only" (no layers on a GPU); it places the layers itself otherwise.
      const { placement: _placement, ...rest } = input;
      const model = await this.worker.load(placement?.devices === 'cpu' ? { ...rest, gpuLayers: 0 } : rest);
      this.workerWhy = choice.why;
      return { ...model, engine: 'worker', engineReason: choice.why };
    }
    if (this.worker.model) await this.worker.unload();
    await this.unloadServer();
    this.serverLoading = { modelPath: input.modelPath, progress: 0 };
    this.announce();
    try {
      const serverInput = await this.serverInputFor(input, placement);
      const loaded = await this.options.server.load(serverInput);
      this.serverModel = { ...loaded, engine: 'server', engineReason: choice.why };
      return this.serverModel;
    } finally {
      this.serverLoading = null;
      this.announce();
    }
  }

  /** What a load on llama.cpp's server would be: the model, its context, projector, draft and placement. */
  private async serverInputFor(input: LoadInput, placement: Placement | undefined): Promise<ServerLoadInput> {
    const autoContext = typeof input.contextSize !== 'number';
    const contextSize =
      typeof input.contextSize === 'number' ? input.contextSize : await this.options.autoContextSize(input.modelPath, input.maxContextSize);
    // The library's projector for this model (never a path from a caller).
    const projectorPath = this.options.projectorFor?.(input.modelPath);
    const speculative = input.speculative ?? this.options.speculativeFor?.(input.modelPath);
    // Layers on the GPUs: as asked, else as many as the plan fits on the devices this llama-server sees
    // (none on a CPU build), placed as the model's placement says.
    return {
      modelPath: input.modelPath,
      contextSize,
      autoContext,
      ...(typeof input.gpuLayers === 'number' ? { gpuLayers: input.gpuLayers } : {}),
      ...(placement ? { placement } : {}),
      parallel: this.options.parallel(),
      ...(projectorPath ? { projectorPath } : {}),
      ...(speculative ? { speculative } : {}),
    };
  }

  /**
   * The placement plan for a load, without loading: layers and memory per
   * device and the context that fits. Placement is llama.cpp's server's: the
   * plan is the one it would run (node-llama-cpp places layers itself).
   */
  async plan(input: LoadInput): Promise<{ plan: PlacementPlan; choice: EngineChoice; devices: ComputeDevice[] }> {
    const placement = input.placement ?? this.options.placementFor?.(input.modelPath);
    const choice = this.options.choose(input.modelPath, placement);
    const [plan, devices] = await Promise.all([
      this.options.server.plan(await this.serverInputFor(input, placement)),
      this.options.server.devices(),
    ]);
    return { plan, choice, devices };
  }

  /** The GPUs llama.cpp's server sees now. */
  devices(): Promise<ComputeDevice[]> {
    return this.options.server.devices();
  }

  async unload(): Promise<void> {
    await this.unloadServer();
    await this.worker.unload();
    this.announce();
  }

  private async unloadServer(): Promise<void> {
    if (!this.serverModel) return;
    this.serverModel = undefined;
    await this.options.server.unload();
  }

  /** Whether the chat model runs on the server now (a server that died has no model). */
  private onServer(): boolean {
    if (this.serverModel && !this.options.server.model) this.serverModel = undefined;
    return this.serverModel !== undefined;
  }

  /** Whether the loaded model runs otherwise than it is set now: on another engine, or with another projector (or none). */
  outOfDate(model: LoadedModel): boolean {
    const placement = this.options.placementFor?.(model.path);
    if (this.options.choose(model.path, placement).engine !== (model.engine ?? 'worker')) return true;
    if (model.engine !== 'server') return false;
    // Placed otherwise than its placement says now.
    if (model.placement && JSON.stringify(model.placement.plan.placement) !== JSON.stringify(placement ?? { devices: 'auto' })) return true;
    const projector = this.options.projectorFor?.(model.path);
    return (projector ? path.basename(projector) : undefined) !== model.projector;
  }

  async generate(input: GenerateInput): Promise<GenerateResult> {
    if (!this.onServer()) {
      // Callers refuse media for a model that cannot take it, naming those that can; this is the last guard.
      if (input.messages.some((m) => m.role === 'user' && m.media?.length)) {
        throw new RpcError(
          'invalid_input',
          `${this.worker.model?.name ?? 'This model'} runs on node-llama-cpp, which takes text only; images and audio need a model with a projector on llama.cpp’s server.`,
        );
      }
      return this.worker.generate(input);
    }
    try {
      return await this.options.server.generate(input, this.options.onDelta);
    } finally {
      if (!this.options.server.model) {
        this.serverModel = undefined;
        this.announce();
      }
    }
  }

  complete(input: CompleteInput): Promise<GenerateResult> {
    if (!this.onServer()) return this.worker.complete(input);
    return this.options.server.complete(input, this.options.onDelta);
  }

  embed(input: EmbedInput): Promise<EmbedResult> {
    return this.worker.embed(input);
  }

  unloadEmbedder(): Promise<void> {
    return this.worker.unloadEmbedder();
  }

  benchmark(input: BenchmarkInput): Promise<BenchmarkMeasure> {
    if (this.onServer())
      throw new RpcError('unavailable', 'Benchmarks run on node-llama-cpp’s engine; unload the model running on llama.cpp’s server first.');
    return this.worker.benchmark(input);
  }

  async abort(requestId: string): Promise<boolean> {
    return this.options.server.abort(requestId) || (await this.worker.abort(requestId));
  }

  /**
   * A fresh worker with the settings; the chat model stays loaded, on the
   * engine its setting now names (a change of engine moves it).
   */
  async restart(why: string, override?: EngineOptions): Promise<HardwareReport> {
    const before = this.model;
    await this.unloadServer();
    const report = await this.worker.restart(why, override);
    if (before && (this.options.choose(before.path).engine === 'server' || !this.worker.model))
      await this.load({ modelPath: before.path, contextSize: before.contextSize });
    this.announce();
    return report;
  }

  async stop(): Promise<void> {
    await this.unloadServer();
    await this.worker.stop();
  }
}
