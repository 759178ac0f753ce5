import type { InferenceStatus } from '../../shared/contract';
import type {
  CompleteInput,
  EmbedInput,
  EmbedResult,
  GenerateInput,
  GenerateResult,
  HardwareReport,
  LoadedModel,
  LoadInput,
} from '../../shared/inference';
import type { EngineOptions } from '../worker/engine';
import type { WorkerFunctions, WorkerSample } from '../worker/worker-api';

export type BenchmarkInput = Parameters<WorkerFunctions['benchmark']>[0];
export type BenchmarkMeasure = Awaited<ReturnType<WorkerFunctions['benchmark']>>;

/**
 * What runs the models. The inference service owns the one engine and is the
 * only caller: it queues the work, loads models just in time and unloads idle
 * ones. The first implementation is the node-llama-cpp worker's supervisor.
 */
export interface Engine {
  /** The chat model loaded now. */
  readonly model: LoadedModel | undefined;
  /** The file of the model in the embedding slot. */
  readonly embeddingModel: string | undefined;
  /** The report from when the engine started, if it has. */
  readonly hardware: HardwareReport | undefined;
  status(): InferenceStatus;
  /** Tells listeners the status changed (the queue moved, say). */
  announce(): void;
  /** Starts the engine if it is not running; resolves with its hardware report. */
  start(): Promise<HardwareReport>;
  /** A fresh hardware report (the memory free now). */
  report(): Promise<HardwareReport>;
  /** Live figures for the hardware panel; null where the engine has not started. */
  sample(): Promise<WorkerSample | null>;
  load(input: LoadInput): Promise<LoadedModel>;
  unload(): Promise<void>;
  generate(input: GenerateInput): Promise<GenerateResult>;
  complete(input: CompleteInput): Promise<GenerateResult>;
  embed(input: EmbedInput): Promise<EmbedResult>;
  unloadEmbedder(): Promise<void>;
  benchmark(input: BenchmarkInput): Promise<BenchmarkMeasure>;
  /** Stops generating `requestId`; false if nothing was generating it. */
  abort(requestId: string): Promise<boolean>;
  /** A fresh engine with the settings (or `override`, for this run only), with the model it had. */
  restart(why: string, override?: EngineOptions): Promise<HardwareReport>;
  stop(): Promise<void>;
}
