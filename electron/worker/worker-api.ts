import type {
  ChatDelta,
  CompleteInput,
  EmbedInput,
  EmbedResult,
  GenerateInput,
  GenerateResult,
  HardwareReport,
  LoadedModel,
  LoadInput,
  LoadProgress,
} from '../../shared/inference';
import type { EngineOptions } from './engine';

/** What the worker reports for the live hardware panel. */
export interface WorkerSample {
  rssBytes: number;
  vramUsedBytes: number;
  vramTotalBytes: number;
  /** Decode speed of the replies being generated (added up), if any is. */
  tokensPerSecond: number | null;
  /** Replies generating now. */
  running?: number;
}

/** What the host may call in the worker process. */
export interface WorkerFunctions {
  init(options: EngineOptions): Promise<HardwareReport>;
  hardware(): Promise<HardwareReport>;
  load(input: LoadInput): Promise<LoadedModel>;
  unload(): Promise<void>;
  generate(input: GenerateInput): Promise<GenerateResult>;
  complete(input: CompleteInput): Promise<GenerateResult>;
  /** Embeddings from `modelPath`, loaded into the worker's separate embedding slot if needed. */
  embed(input: EmbedInput): Promise<EmbedResult>;
  unloadEmbedder(): Promise<void>;
  abort(input: { requestId: string }): Promise<boolean>;
  ping(): Promise<'pong'>;
  sample(): Promise<WorkerSample>;
  benchmark(input: {
    promptTokens: number;
    generateTokens: number;
  }): Promise<{ promptTokensPerSecond: number; generationTokensPerSecond: number; promptTokens: number; generatedTokens: number }>;
  /** For tests of supervision: makes the worker stop answering or die. */
  misbehave(input: { kind: 'hang' | 'crash' }): Promise<void>;
}

/** Events the worker sends the host. */
export interface WorkerEvents {
  onDelta(delta: ChatDelta): void;
  onLoadProgress(progress: LoadProgress): void;
}

export const workerEventNames = ['onDelta', 'onLoadProgress'] as const;
