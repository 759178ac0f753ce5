/**
 * node-llama-cpp, driven inside the inference worker process. Nothing here may
 * run in the main process or the renderer: llama.cpp aborts the whole process
 * on some malformed models and out-of-memory conditions.
 *
 * InferenceEngine is what the worker API calls; the work is done by one module
 * a purpose: model-loading.ts (loading and memory fit), chat.ts and
 * completion.ts (with generation.ts, what they share), tool-calls.ts,
 * speculative.ts, embeddings.ts, benchmark.ts; slots.ts holds the loaded model.
 */
import os from 'node:os';
import type { Llama } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import { DEFAULT_PARALLEL } from '../../shared/settings';
import type {
  BackendName,
  ChatDelta,
  CompleteInput,
  EmbedInput,
  EmbedResult,
  GenerateInput,
  GenerateResult,
  HardwareReport,
  LoadedModel,
  LoadInput,
} from '../../shared/inference';
import { detectBackend, nodeLlamaCppVersion, type LlamaLogger } from './backend-detect';
import { benchmark, type BenchmarkResult } from './benchmark';
import { generateReply } from './chat';
import { completeText } from './completion';
import { Embedder } from './embeddings';
import type { Runs } from './generation';
import { LlamaLog } from './llama-log';
import { loadFitted } from './model-loading';
import { installIntegerRanges } from './schema-grammar';
import type { Loaded } from './slots';
import { resolveThreads } from './threads';

export { vocabularyMismatch } from './speculative';

export interface EngineOptions {
  backend: 'auto' | BackendName;
  /** 0 = automatic. */
  threads: number;
  maxVramPerGpuMiB: number | null;
  /** Replies generated at once (sequences of the model's context); lowered at load when memory is short. */
  parallel?: number;
}

const MiB = 1024 * 1024;

export class InferenceEngine {
  private loaded: Loaded | undefined;
  /** Replies and completions running now: their aborts, their promises (an unload waits for them), their progress. */
  private readonly runs: Runs = { active: new Map(), generating: new Set(), progress: new Map() };
  private readonly embedder: Embedder;

  private constructor(
    readonly llama: Llama,
    private readonly report: Omit<HardwareReport, 'vram' | 'ram' | 'gpus'>,
    private readonly threads: number,
    private readonly llamaLog: LlamaLog,
    private readonly parallel: number,
  ) {
    this.embedder = new Embedder(llama, llamaLog, threads);
  }

  /**
   * Picks the backend: the override if it loads, else the first that loads of
   * CUDA, Vulkan, Metal, CPU, recording why each other one was not used.
   */
  static async start(options: EngineOptions): Promise<InferenceEngine> {
    const logicalCores = os.availableParallelism();
    const threads = resolveThreads(options.threads, logicalCores);
    const llamaLog = new LlamaLog();
    const logger: LlamaLogger = (level, message) => {
      process.stderr.write(`[llama.cpp ${level}] ${message}\n`);
      llamaLog.record(level, message);
    };

    const { llama, backend: chosen, attempts, reason } = await detectBackend(options.backend, threads.used, logger);
    // Integer ranges held by tool-call and response_format grammars; without them they are only checked after generation.
    if (!(await installIntegerRanges()))
      process.stderr.write(
        '[freehold] integer ranges cannot be held by grammars with this node-llama-cpp; they are checked after generation\n',
      );

    if (options.maxVramPerGpuMiB !== null && chosen !== 'cpu') {
      const gpuCount = Math.max(1, (await llama.getGpuDeviceNames()).length);
      await llama.setVramCap(options.maxVramPerGpuMiB * MiB * gpuCount);
    }

    const features =
      /CPU\s*:(.*)/
        .exec(llama.systemInfo)?.[1]
        ?.split('|')
        .flatMap((item) => {
          const [name, value] = item.split('=').map((s) => s.trim());
          return name && value === '1' ? [name] : [];
        }) ?? [];

    return new InferenceEngine(
      llama,
      {
        backend: chosen,
        reason,
        requested: options.backend,
        attempts,
        cpu: { model: os.cpus()[0]?.model.trim() ?? 'unknown', logicalCores, mathCores: llama.cpuMathCores, features },
        threads,
        versions: { nodeLlamaCpp: nodeLlamaCppVersion(), llamaCpp: llama.llamaCppRelease.release, binary: llama.buildType },
        os: `${os.type()} ${os.release()} (${process.platform}-${process.arch})`,
      },
      threads.used,
      llamaLog,
      Math.max(1, Math.min(16, Math.floor(options.parallel ?? DEFAULT_PARALLEL))),
    );
  }

  async hardware(): Promise<HardwareReport> {
    const [vram, gpuNames] = await Promise.all([this.llama.getVramState(), this.llama.getGpuDeviceNames()]);
    return {
      ...this.report,
      gpus: gpuNames.map((name) => ({ name })),
      vram: {
        totalBytes: vram.total,
        usedBytes: vram.used,
        freeBytes: vram.free,
        unifiedBytes: vram.unifiedSize,
        capBytes: this.llama.getVramCap(),
      },
      ram: { totalBytes: os.totalmem(), freeBytes: os.freemem() },
    };
  }

  get model(): LoadedModel | undefined {
    return this.loaded?.info;
  }

  /**
   * Loads a model with GPU layers and context size fitted to the memory free
   * now, retried once smaller when it runs out of memory (model-loading.ts).
   */
  async load(input: LoadInput, onProgress: (progress: number) => void): Promise<LoadedModel> {
    await this.unload();
    const setup = { llama: this.llama, llamaLog: this.llamaLog, threads: this.threads, parallel: this.parallel };
    this.loaded = await loadFitted({ ...setup, contextCap: input.maxContextSize }, input, onProgress);
    return this.loaded.info;
  }

  async unload(): Promise<void> {
    for (const controller of this.runs.active.values()) controller.abort();
    await Promise.allSettled([...this.runs.generating]);
    const loaded = this.loaded;
    this.loaded = undefined;
    if (loaded) {
      await loaded.context.dispose();
      await loaded.model.dispose();
      await loaded.draft?.context.dispose();
      await loaded.draft?.model.dispose();
    }
  }

  abort(requestId: string): boolean {
    const controller = this.runs.active.get(requestId);
    controller?.abort();
    return controller !== undefined;
  }

  /** One reply to a conversation; text streams out through `onDelta` in batches. */
  async generate(input: GenerateInput, onDelta: (delta: ChatDelta) => void): Promise<GenerateResult> {
    return generateReply(this.llama, this.requireLoaded(), this.runs, input, onDelta);
  }

  /** Plain text completion of `prompt` (no chat template), on the loaded model's context. */
  async complete(input: CompleteInput, onDelta: (delta: ChatDelta) => void): Promise<GenerateResult> {
    return completeText(this.llama, this.requireLoaded(), this.runs, input, onDelta);
  }

  private requireLoaded(): Loaded {
    const loaded = this.loaded;
    if (!loaded) throw new RpcError('no_model_loaded', 'No model is loaded.');
    return loaded;
  }

  /** Embeddings, from their own model slot beside the chat model's (embeddings.ts). */
  async embed(input: EmbedInput): Promise<EmbedResult> {
    return this.embedder.embed(input);
  }

  get embeddingModel(): string | undefined {
    return this.embedder.modelPath;
  }

  async unloadEmbedder(): Promise<void> {
    await this.embedder.unload();
  }

  /** pp/tg of the loaded model in the manner of llama-bench (benchmark.ts), while nothing else runs. */
  async benchmark(promptTokens: number, generateTokens: number): Promise<BenchmarkResult> {
    const loaded = this.loaded;
    if (!loaded) throw new RpcError('no_model_loaded', 'Load a model to benchmark it.');
    if (this.runs.active.size > 0) throw new RpcError('busy', 'The model is generating a reply.');
    return benchmark(loaded, promptTokens, generateTokens);
  }

  async sample(): Promise<{
    rssBytes: number;
    vramUsedBytes: number;
    vramTotalBytes: number;
    tokensPerSecond: number | null;
    running: number;
  }> {
    const vram = await this.llama.getVramState();
    // Every reply running now, added up.
    let tokensPerSecond: number | null = null;
    for (const p of this.runs.progress.values()) {
      const elapsed = (performance.now() - p.firstTokenAt) / 1000;
      if (elapsed > 0.2 && p.tokens > 1) tokensPerSecond = (tokensPerSecond ?? 0) + (p.tokens - 1) / elapsed;
    }
    return {
      rssBytes: process.memoryUsage().rss,
      vramUsedBytes: vram.used,
      vramTotalBytes: vram.total,
      tokensPerSecond,
      running: this.runs.active.size,
    };
  }

  async dispose(): Promise<void> {
    await this.unload();
    await this.unloadEmbedder();
    await this.llama.dispose();
  }
}
