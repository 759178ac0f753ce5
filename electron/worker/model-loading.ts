/**
 * Loading a model fitted to the memory free now: the context with a sequence
 * per parallel reply, the retry after an out-of-memory failure, and what the
 * errors say when it does not load.
 */
import os from 'node:os';
import path from 'node:path';
import { InsufficientMemoryError, LlamaChat, type Llama, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import { formatSize } from '../../shared/format';
import type { LoadInput } from '../../shared/inference';
import type { LlamaLog } from './llama-log';
import type { Loaded, Slot } from './slots';
import { draftFor, tokenPredictorFor } from './speculative';

/** What a load needs of the engine. */
export interface LoadSetup {
  llama: Llama;
  llamaLog: LlamaLog;
  threads: number;
  /** Replies generated at once, when they fit. */
  parallel: number;
  /** The most tokens an automatic context may have (LoadInput.maxContextSize). */
  contextCap: number | undefined;
}

type Attempt = { gpuLayers: number | 'auto'; contextSize: number | 'auto' };

export function isMemoryError(error: unknown): boolean {
  if (error instanceof InsufficientMemoryError) return true;
  // llama.cpp's own allocation failures reach node-llama-cpp as plain Errors: only their words say what they are.
  const e = error as { message?: string };
  return /insufficient memory|out of memory|not enough memory|too large for the available (V?RAM|memory)|failed to allocate|cannot allocate|\bOOM\b/i.test(
    e?.message ?? '',
  );
}

/** Where a load failed, and what the model resolved to if it got that far. */
class LoadStageError extends Error {
  constructor(
    readonly stage: 'model' | 'context',
    override readonly cause: unknown,
    readonly gpuLayers: number | undefined,
    /** Why llama.cpp refused, from its log, when node-llama-cpp's error does not say. */
    readonly llamaReason: string | undefined,
  ) {
    super((cause as Error)?.message ?? String(cause));
    this.name = (cause as Error)?.name ?? 'Error';
  }
}

/**
 * Loads a model with GPU layers and context size fitted to the memory free
 * now (node-llama-cpp's resolver), unless overridden. A load that fails for
 * memory is retried once, smaller; then the error says what was needed.
 */
export async function loadFitted(setup: LoadSetup, input: LoadInput, onProgress: (progress: number) => void): Promise<Loaded> {
  const first = { gpuLayers: input.gpuLayers ?? 'auto', contextSize: input.contextSize ?? 'auto' } as const;
  const speculative = input.speculative;
  try {
    return await tryLoad(setup, input.modelPath, first, onProgress, speculative);
  } catch (error) {
    const failure = error as LoadStageError;
    if (!isMemoryError(failure)) throw describeLoadError(input.modelPath, failure.cause ?? failure, failure.llamaReason);
    const smaller = await smallerAttempt(setup.llama, input.modelPath, first, failure);
    try {
      const loaded = await tryLoad(setup, input.modelPath, smaller, onProgress, speculative);
      loaded.info.retried = `The first attempt ran out of memory (${failure.message}); loaded with ${smaller.gpuLayers} GPU layers and a ${smaller.contextSize}-token context instead.`;
      return loaded;
    } catch (retryError) {
      throw await memoryError(setup.llama, input.modelPath, (retryError as LoadStageError).cause ?? retryError, smaller);
    }
  }
}

/**
 * The context with one sequence per parallel reply. node-llama-cpp gives each
 * sequence a whole context of its own (no unified cache), so the size is
 * settled for one chat first — what fits the memory free now, as for a single
 * sequence — and the other replies get sequences of that same size only as
 * far as the memory left over holds them: a single chat never gets a smaller
 * context because parallel replies exist; fewer run at once instead, and the
 * model's info says so.
 */
async function parallelContext(
  setup: LoadSetup,
  model: LlamaModel,
  contextSize: number | 'auto',
): Promise<{ context: LlamaContext; parallelNote: string | null }> {
  const requested = setup.parallel;
  const cap = setup.contextCap === undefined ? undefined : Math.min(setup.contextCap, model.trainContextSize);
  const single = contextSize !== 'auto' ? contextSize : cap !== undefined ? { min: Math.min(cap, 256), max: cap } : 'auto';
  if (requested <= 1)
    return { context: await model.createContext({ contextSize: single, sequences: 1, threads: setup.threads }), parallelNote: null };
  // One chat's context: made alone (as it would be without parallel replies), measured, and let go.
  let size: number;
  if (typeof single === 'number') size = single;
  else {
    const alone = await model.createContext({ contextSize: single, sequences: 1, threads: setup.threads });
    size = alone.contextSize;
    await alone.dispose();
  }
  let failure: unknown;
  for (let sequences = requested; sequences > 1; sequences -= 1) {
    const short = await memoryShortFor(setup.llama, model, size, sequences);
    if (short) {
      failure ??= new Error(short);
      continue;
    }
    try {
      const context = await model.createContext({ contextSize: size, sequences, threads: setup.threads });
      return { context, parallelNote: sequences < requested ? parallelNoteFor(requested, sequences, size, failure) : null };
    } catch (error) {
      if (!isMemoryError(error)) throw error;
      failure ??= error;
    }
  }
  const context = await model.createContext({ contextSize: size, sequences: 1, threads: setup.threads });
  return { context, parallelNote: parallelNoteFor(requested, 1, size, failure) };
}

function parallelNoteFor(requested: number, sequences: number, size: number, failure: unknown): string {
  const why = failure ? ` (${(failure as Error).message.split('\n')[0]})` : '';
  return `${requested} replies at once with a ${size}-token context each did not fit in the memory free now${why}; ${sequences === 1 ? 'one runs' : `${sequences} run`} at a time, each with the whole context.`;
}

/** Why `sequences` contexts of `size` tokens would not fit the memory free now (RAM, and VRAM for offloaded layers), or null. */
async function memoryShortFor(llama: Llama, model: LlamaModel, size: number, sequences: number): Promise<string | null> {
  try {
    const needs = await model.fileInsights.estimateContextResourceRequirementsV2({
      contextSize: size,
      sequences,
      modelGpuLayers: model.gpuLayers,
    });
    const [ram, vram] = await Promise.all([llama.getRamState(), llama.getVramState()]);
    const cap = llama.getRamCap();
    const freeRam = cap === null ? ram.free : Math.min(ram.free, cap);
    if (needs.cpuRam > freeRam)
      return `${sequences} contexts of ${size} tokens need ${formatSize(needs.cpuRam)} of RAM, ${formatSize(freeRam)} is free`;
    if (needs.gpuVram > vram.free)
      return `${sequences} contexts of ${size} tokens need ${formatSize(needs.gpuVram)} of VRAM, ${formatSize(vram.free)} is free`;
    return null;
  } catch {
    return null;
  }
}

async function tryLoad(
  setup: LoadSetup,
  modelPath: string,
  attempt: Attempt,
  onProgress: (progress: number) => void,
  speculative?: LoadInput['speculative'],
): Promise<Loaded> {
  const log = setup.llamaLog.capture();
  let model: LlamaModel;
  try {
    model = await setup.llama.loadModel({
      modelPath,
      gpuLayers: attempt.gpuLayers === 'auto' ? 'auto' : attempt.gpuLayers,
      onLoadProgress: onProgress,
    });
  } catch (error) {
    throw new LoadStageError('model', error, undefined, await log.reasonFor(error));
  }
  try {
    const { context, parallelNote } = await parallelContext(setup, model, attempt.contextSize);
    const draft =
      speculative?.kind === 'draft' ? await draftFor(setup.llama, setup.threads, model, speculative.modelPath, context) : undefined;
    const slots: Slot[] = Array.from({ length: context.totalSequences }, (_, index) => {
      const tokenPredictor = tokenPredictorFor(speculative, draft?.context);
      const sequence = context.getSequence(tokenPredictor ? { tokenPredictor } : {});
      return { index, sequence, chat: new LlamaChat({ contextSequence: sequence }), key: null, busy: false, lastUsed: 0 };
    });
    const chat = slots[0]!.chat;
    const metadata = model.fileInfo.metadata as { general?: { name?: string; architecture?: string } };
    log.stop();
    return {
      model,
      context,
      slots,
      ...(draft?.context ? { draft: { model: draft.model!, context: draft.context } } : {}),
      info: {
        path: modelPath,
        name: metadata.general?.name ?? path.basename(modelPath, path.extname(modelPath)),
        architecture: metadata.general?.architecture ?? 'unknown',
        sizeBytes: model.size,
        gpuLayers: model.gpuLayers,
        totalLayers: model.fileInsights.totalLayers,
        contextSize: context.contextSize,
        chatWrapper: chat.chatWrapper.wrapperName,
        parallel: context.totalSequences,
        ...(parallelNote ? { parallelNote } : {}),
        ...(speculative?.kind === 'prompt-lookup' ? { speculative: 'prompt-lookup' as const } : {}),
        ...(draft?.context ? { speculative: 'draft' as const, draftModel: draft.name } : {}),
        ...(draft?.note ? { speculativeNote: draft.note } : {}),
      },
    };
  } catch (error) {
    const gpuLayers = model.gpuLayers;
    const reason = await log.reasonFor(error);
    await model.dispose();
    throw new LoadStageError('context', error, gpuLayers, reason);
  }
}

/**
 * The second attempt: if the model itself did not fit, half the GPU layers;
 * if its context did not, the same layers and half the context.
 */
async function smallerAttempt(
  llama: Llama,
  modelPath: string,
  first: Attempt,
  failure: LoadStageError,
): Promise<{ gpuLayers: number; contextSize: number }> {
  const { readGgufFileInfo, GgufInsights } = await import('node-llama-cpp');
  const insights = await GgufInsights.from(await readGgufFileInfo(modelPath), llama);
  const train = insights.trainContextSize ?? 4096;
  const context = typeof first.contextSize === 'number' ? first.contextSize : Math.min(train, 8192);
  const offloadable = llama.gpu === false ? 0 : insights.totalLayers;
  if (failure.stage === 'context') {
    return { gpuLayers: failure.gpuLayers ?? 0, contextSize: Math.max(256, Math.floor(context / 2)) };
  }
  const layers = typeof first.gpuLayers === 'number' ? first.gpuLayers : offloadable;
  return {
    gpuLayers: Math.floor(layers / 2),
    contextSize: typeof first.contextSize === 'number' ? first.contextSize : Math.min(context, 4096),
  };
}

async function memoryError(
  llama: Llama,
  modelPath: string,
  error: unknown,
  attempt: { gpuLayers: number; contextSize: number },
): Promise<RpcError> {
  let numbers = '';
  try {
    const { readGgufFileInfo, GgufInsights } = await import('node-llama-cpp');
    const insights = await GgufInsights.from(await readGgufFileInfo(modelPath), llama);
    const needs = insights.estimateModelResourceRequirements({ gpuLayers: attempt.gpuLayers });
    const vram = await llama.getVramState();
    numbers = ` With ${attempt.gpuLayers} GPU layers the model alone needs about ${formatSize(needs.gpuVram)} of VRAM and ${formatSize(needs.cpuRam)} of RAM; ${formatSize(vram.free)} VRAM and ${formatSize(os.freemem())} RAM are free now.`;
  } catch {
    // The numbers are a courtesy; the error stands without them.
  }
  return new RpcError(
    'out_of_memory',
    `Not enough memory to load ${path.basename(modelPath)}, even after retrying with ${attempt.gpuLayers} GPU layers and a ${attempt.contextSize}-token context (${(error as Error).message}).${numbers} Try a smaller quantization or context.`,
  );
}

export function describeLoadError(modelPath: string, error: unknown, llamaReason?: string): RpcError {
  if (error instanceof RpcError) return error;
  if (llamaReason) {
    const sentence = /[.!?]$/.test(llamaReason) ? llamaReason : `${llamaReason}.`;
    return new RpcError('invalid_model', `llama.cpp could not load ${path.basename(modelPath)}: ${sentence}`);
  }
  const message = (error as Error).message ?? String(error);
  return new RpcError('invalid_model', `Could not load ${path.basename(modelPath)}: ${message}`);
}
