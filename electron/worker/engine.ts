/*
 * Over 500 lines (loading and fit, chat, completions, tools, speculative
 * decoding, embeddings, benchmarks in one class): issue 24 splits it by what it
 * does; backend detection is already in backend-detect.ts.
 */
/**
 * node-llama-cpp, driven inside the inference worker process. Nothing here may
 * run in the main process or the renderer: llama.cpp aborts the whole process
 * on some malformed models and out-of-memory conditions.
 */
import os from 'node:os';
import path from 'node:path';
import {
  DraftSequenceTokenPredictor,
  InputLookupTokenPredictor,
  InsufficientMemoryError,
  LlamaChat,
  LlamaCompletion,
  LlamaText,
  LlamaVocabularyType,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  type ChatHistoryItem,
  type ChatModelFunctions,
  type ChatModelResponse,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
} from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import { DEFAULT_PARALLEL } from '../../shared/settings';
import { formatSize } from '../../shared/format';
import {
  type BackendName,
  type CompleteInput,
  type ContextOverflow,
  type EmbedInput,
  type EmbedResult,
  type GenerateInput,
  type HistoryCall,
  type OutputFormat,
  type GenerateResult,
  type HardwareReport,
  type LoadedModel,
  type LoadInput,
  type StopReason,
} from '../../shared/inference';
import { detectBackend, nodeLlamaCppVersion, type LlamaLogger } from './backend-detect';
import { earliestFit, historyShape, largerContextFor, maxPromptTokens, planContext, replyRoom, shiftSize } from './context-fit';
import { DeltaBatcher } from './delta-batcher';
import { LlamaLog } from './llama-log';
import { installIntegerRanges, markIntegerRanges } from './schema-grammar';
import { resolveThreads } from './threads';
import type { ChatDelta } from '../../shared/inference';

export interface EngineOptions {
  backend: 'auto' | BackendName;
  /** 0 = automatic. */
  threads: number;
  maxVramPerGpuMiB: number | null;
  /** Replies generated at once (sequences of the model's context); lowered at load when memory is short. */
  parallel?: number;
}

const MiB = 1024 * 1024;

function isMemoryError(error: unknown): boolean {
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

/** An assistant message as node-llama-cpp holds it: its text with each tool call (and result) where it was made. */
function modelResponse(text: string, calls: HistoryCall[] | undefined): ChatModelResponse['response'] {
  if (!calls?.length) return [text];
  const response: ChatModelResponse['response'] = [];
  let at = 0;
  for (const call of calls) {
    const offset = Math.min(Math.max(call.at, at), text.length);
    const between = text.slice(at, offset);
    if (between) response.push(between);
    response.push({
      type: 'functionCall',
      name: call.name,
      params: parseJson(call.arguments) ?? {},
      result: parseJson(call.result) ?? call.result,
      // Calls with no text between them were made together, in one turn.
      startsNewChunk: response.length === 0 || typeof response[response.length - 1] === 'string',
    });
    at = offset;
  }
  if (at < text.length) response.push(text.slice(at));
  return response;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The functions offered to the model, and whether a call is forced; none when
 * the reply may not call any. `functions` is what node-llama-cpp builds the
 * arguments' grammar from (integer ranges marked, see schema-grammar.ts),
 * `documented` what the model is shown (the schemas as given), when they differ.
 */
function toolsFor(
  input: GenerateInput,
): { functions: ChatModelFunctions; documented: ChatModelFunctions | null; forced: boolean } | undefined {
  const choice = input.toolChoice ?? 'auto';
  if (!input.tools?.length || choice === 'none') return undefined;
  const offered = typeof choice === 'object' ? input.tools.filter((tool) => tool.name === choice.name) : input.tools;
  if (offered.length === 0)
    throw new RpcError('invalid_input', `tool_choice names "${(choice as { name: string }).name}", which is not among the tools.`);
  const functions: Record<string, ChatModelFunctions[string]> = {};
  const documented: Record<string, ChatModelFunctions[string]> = {};
  let marked = false;
  for (const tool of offered) {
    const description = tool.description ? { description: tool.description } : {};
    const params = tool.parameters ? markIntegerRanges(tool.parameters) : undefined;
    if (params !== tool.parameters) marked = true;
    functions[tool.name] = { ...description, ...(params ? { params: params as never } : {}) };
    documented[tool.name] = { ...description, ...(tool.parameters ? { params: tool.parameters as never } : {}) };
  }
  return { functions, documented: marked ? documented : null, forced: choice !== 'auto' };
}

/** The model's chat wrapper, showing the model `documented` wherever the offered functions are rendered. */
function documentedAs(inner: ChatWrapper, documented: ChatModelFunctions): ChatWrapper {
  const wrapper = Object.create(inner) as ChatWrapper;
  wrapper.generateContextState = (options) =>
    inner.generateContextState(options.availableFunctions ? { ...options, availableFunctions: documented } : options);
  return wrapper;
}

/**
 * The model's chat wrapper with the reply opened in its function-call syntax:
 * node-llama-cpp then holds the function name and arguments to its grammar
 * from the first token, so the reply is a call (tool_choice required or named).
 */
function forcingCalls(inner: ChatWrapper): ChatWrapper {
  const forced = Object.create(inner) as ChatWrapper;
  forced.generateContextState = (options) => {
    const state = inner.generateContextState(options);
    return {
      ...state,
      contextText: LlamaText([state.contextText, inner.settings.functions.call.prefix]),
      functionCall: { initiallyEngaged: true, disengageInitiallyEngaged: [] },
    } as ReturnType<ChatWrapper['generateContextState']>;
  };
  return forced;
}

/**
 * One sequence of the loaded context: one reply at a time runs on it. A
 * conversation keeps its slot while it can, so that the next turn reads only
 * its new tokens (the rest is still in the sequence).
 */
interface Slot {
  index: number;
  sequence: LlamaContextSequence;
  chat: LlamaChat;
  /** Created on the first plain completion on this slot. */
  completion?: LlamaCompletion;
  /** The conversation (or API client's) key it last served. */
  key: string | null;
  busy: boolean;
  lastUsed: number;
}

interface Loaded {
  info: LoadedModel;
  model: LlamaModel;
  context: LlamaContext;
  slots: Slot[];
  /** The draft model for speculative decoding, with a sequence per slot. */
  draft?: { model: LlamaModel; context: LlamaContext };
}

/**
 * Why a draft model cannot predict for the target, or null: speculative
 * decoding compares token ids, so both must have the same vocabulary (the
 * same tokens for the same ids, the same special tokens).
 */
export function vocabularyMismatch(target: LlamaModel, draft: LlamaModel): string | null {
  const a = target.tokens;
  const b = draft.tokens;
  if (target.vocabularyType !== draft.vocabularyType)
    return `their tokenizers differ (${target.vocabularyType} and ${draft.vocabularyType})`;
  const vocabSize = (m: LlamaModel) =>
    (m.fileInfo.metadata as unknown as { tokenizer?: { ggml?: { tokens?: readonly unknown[] } } }).tokenizer?.ggml?.tokens?.length;
  const sizeA = vocabSize(target);
  const sizeB = vocabSize(draft);
  if (sizeA !== undefined && sizeB !== undefined && sizeA !== sizeB)
    return `their vocabularies differ in size (${sizeA} and ${sizeB} tokens)`;
  if (a.bos !== b.bos || a.eos !== b.eos) return 'their beginning or end tokens differ';
  const probe = 'The quick brown fox jumps over the lazy dog. 1234 {"key": [true]}\n\tdef main():';
  const ta = target.tokenize(probe);
  const tb = draft.tokenize(probe);
  if (ta.length !== tb.length || ta.some((t, i) => t !== tb[i])) return 'they tokenize the same text differently';
  const count = sizeA ?? 0;
  for (let id = 0; id < count; id += Math.max(1, Math.floor(count / 997))) {
    if (target.detokenize([id as never], true) !== draft.detokenize([id as never], true)) return `token ${id} differs`;
  }
  return null;
}

/** How many tokens two token lists share from the start. */
function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i += 1;
  return i;
}

export class InferenceEngine {
  private loaded: Loaded | undefined;
  private readonly active = new Map<string, AbortController>();
  /** The most tokens an automatic context of the model being loaded may have (LoadInput.maxContextSize). */
  private contextCap: number | undefined;
  private embedder: { path: string; model: LlamaModel; context: LlamaEmbeddingContext; contextSize: number } | undefined;
  /** Replies and completions running now, so that an unload waits for them. */
  private readonly generating = new Set<Promise<unknown>>();
  /** Progress of each reply being generated, for live samples. */
  private readonly progress = new Map<string, { firstTokenAt: number; tokens: number }>();

  private constructor(
    readonly llama: Llama,
    private readonly report: Omit<HardwareReport, 'vram' | 'ram' | 'gpus'>,
    private readonly threads: number,
    private readonly llamaLog: LlamaLog,
    private readonly parallel: number,
  ) {}

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
   * now (node-llama-cpp's resolver), unless overridden. A load that fails for
   * memory is retried once, smaller; then the error says what was needed.
   */
  async load(input: LoadInput, onProgress: (progress: number) => void): Promise<LoadedModel> {
    await this.unload();
    const first = { gpuLayers: input.gpuLayers ?? 'auto', contextSize: input.contextSize ?? 'auto' } as const;
    this.contextCap = input.maxContextSize;
    const speculative = input.speculative;
    try {
      this.loaded = await this.tryLoad(input.modelPath, first, onProgress, speculative);
    } catch (error) {
      const failure = error as LoadStageError;
      if (!isMemoryError(failure)) throw this.describeLoadError(input.modelPath, failure.cause ?? failure, failure.llamaReason);
      const smaller = await this.smallerAttempt(input.modelPath, first, failure);
      try {
        this.loaded = await this.tryLoad(input.modelPath, smaller, onProgress, speculative);
        this.loaded.info.retried = `The first attempt ran out of memory (${failure.message}); loaded with ${smaller.gpuLayers} GPU layers and a ${smaller.contextSize}-token context instead.`;
      } catch (retryError) {
        throw await this.memoryError(input.modelPath, (retryError as LoadStageError).cause ?? retryError, smaller);
      }
    }
    return this.loaded.info;
  }

  /**
   * The context with one sequence per parallel reply. Each needs a useful
   * context of its own (the model's trained size up to 2,048 tokens at least,
   * when the size is automatic); when that does not fit the memory free now,
   * fewer replies run at once, and the model's info says so.
   */
  private async parallelContext(
    model: LlamaModel,
    contextSize: number | 'auto',
  ): Promise<{ context: LlamaContext; parallelNote: string | null }> {
    const requested = this.parallel;
    let failure: unknown;
    for (let sequences = requested; ; sequences = Math.max(1, Math.floor(sequences / 2))) {
      const short = sequences > 1 ? await this.memoryShortFor(model, contextSize, sequences) : null;
      if (short) {
        failure = new Error(short);
        continue;
      }
      try {
        const cap = this.contextCap === undefined ? undefined : Math.min(this.contextCap, model.trainContextSize);
        const size =
          contextSize !== 'auto'
            ? contextSize
            : cap !== undefined
              ? { min: Math.min(cap, sequences > 1 ? 2048 : 256), max: cap }
              : sequences > 1
                ? { min: Math.min(model.trainContextSize, 2048) }
                : 'auto';
        const context = await model.createContext({ contextSize: size, sequences, threads: this.threads });
        const parallelNote =
          sequences < requested
            ? `${requested} replies at once did not fit in the memory free now (${(failure as Error).message.split('\n')[0]}); ${sequences === 1 ? 'one runs' : `${sequences} run`} at a time.`
            : null;
        return { context, parallelNote };
      } catch (error) {
        if (sequences === 1 || !isMemoryError(error)) throw error;
        failure = error;
      }
    }
  }

  /**
   * The draft model for speculative decoding, checked to share the target's
   * vocabulary, with a context of as many sequences. When it cannot be used,
   * the target loads without it and the note says why.
   */
  private async draftFor(
    target: LlamaModel,
    draftPath: string,
    context: LlamaContext,
  ): Promise<{ model?: LlamaModel; context?: LlamaContext; name: string; note?: string }> {
    const name = path.basename(draftPath, path.extname(draftPath));
    let draft: LlamaModel | undefined;
    try {
      draft = await this.llama.loadModel({ modelPath: draftPath, gpuLayers: 'auto' });
      const mismatch = vocabularyMismatch(target, draft);
      if (mismatch) {
        await draft.dispose();
        return { name, note: `${name} cannot draft for this model: ${mismatch}. It runs without a draft model.` };
      }
      const draftContext = await draft.createContext({
        contextSize: context.contextSize,
        sequences: context.totalSequences,
        threads: this.threads,
      });
      return { model: draft, context: draftContext, name };
    } catch (error) {
      await draft?.dispose().catch(() => undefined);
      return {
        name,
        note: `The draft model ${name} could not be loaded (${(error as Error).message.split('\n')[0]}). It runs without a draft model.`,
      };
    }
  }

  /** Why `sequences` contexts of this size would not fit the memory free now (RAM, and VRAM for offloaded layers), or null. */
  private async memoryShortFor(model: LlamaModel, contextSize: number | 'auto', sequences: number): Promise<string | null> {
    try {
      const size = contextSize === 'auto' ? Math.min(model.trainContextSize, 2048, this.contextCap ?? Infinity) : contextSize;
      const needs = await model.fileInsights.estimateContextResourceRequirementsV2({
        contextSize: size,
        sequences,
        modelGpuLayers: model.gpuLayers,
      });
      const [ram, vram] = await Promise.all([this.llama.getRamState(), this.llama.getVramState()]);
      const cap = this.llama.getRamCap();
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

  private async tryLoad(
    modelPath: string,
    attempt: { gpuLayers: number | 'auto'; contextSize: number | 'auto' },
    onProgress: (progress: number) => void,
    speculative?: LoadInput['speculative'],
  ): Promise<Loaded> {
    const log = this.llamaLog.capture();
    let model: LlamaModel;
    try {
      model = await this.llama.loadModel({
        modelPath,
        gpuLayers: attempt.gpuLayers === 'auto' ? 'auto' : attempt.gpuLayers,
        onLoadProgress: onProgress,
      });
    } catch (error) {
      throw new LoadStageError('model', error, undefined, await log.reasonFor(error));
    }
    try {
      const { context, parallelNote } = await this.parallelContext(model, attempt.contextSize);
      const draft = speculative?.kind === 'draft' ? await this.draftFor(model, speculative.modelPath, context) : undefined;
      const predictor = () =>
        speculative?.kind === 'prompt-lookup'
          ? new InputLookupTokenPredictor()
          : draft?.context
            ? // The draft runs beside the model and never holds it up (waiting for a minimum of drafted tokens
              // deadlocked now and then in node-llama-cpp 3.22); its guesses are used when they are ready.
              new DraftSequenceTokenPredictor(draft.context.getSequence(), { maxTokens: 8 })
            : undefined;
      const slots: Slot[] = Array.from({ length: context.totalSequences }, (_, index) => {
        const tokenPredictor = predictor();
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
  private async smallerAttempt(
    modelPath: string,
    first: { gpuLayers: number | 'auto'; contextSize: number | 'auto' },
    failure: LoadStageError,
  ): Promise<{ gpuLayers: number; contextSize: number }> {
    const { readGgufFileInfo, GgufInsights } = await import('node-llama-cpp');
    const insights = await GgufInsights.from(await readGgufFileInfo(modelPath), this.llama);
    const train = insights.trainContextSize ?? 4096;
    const context = typeof first.contextSize === 'number' ? first.contextSize : Math.min(train, 8192);
    const offloadable = this.llama.gpu === false ? 0 : insights.totalLayers;
    if (failure.stage === 'context') {
      return { gpuLayers: failure.gpuLayers ?? 0, contextSize: Math.max(256, Math.floor(context / 2)) };
    }
    const layers = typeof first.gpuLayers === 'number' ? first.gpuLayers : offloadable;
    return {
      gpuLayers: Math.floor(layers / 2),
      contextSize: typeof first.contextSize === 'number' ? first.contextSize : Math.min(context, 4096),
    };
  }

  private async memoryError(modelPath: string, error: unknown, attempt: { gpuLayers: number; contextSize: number }): Promise<RpcError> {
    let numbers = '';
    try {
      const { readGgufFileInfo, GgufInsights } = await import('node-llama-cpp');
      const insights = await GgufInsights.from(await readGgufFileInfo(modelPath), this.llama);
      const needs = insights.estimateModelResourceRequirements({ gpuLayers: attempt.gpuLayers });
      const vram = await this.llama.getVramState();
      numbers = ` With ${attempt.gpuLayers} GPU layers the model alone needs about ${formatSize(needs.gpuVram)} of VRAM and ${formatSize(needs.cpuRam)} of RAM; ${formatSize(vram.free)} VRAM and ${formatSize(os.freemem())} RAM are free now.`;
    } catch {
      // The numbers are a courtesy; the error stands without them.
    }
    return new RpcError(
      'out_of_memory',
      `Not enough memory to load ${path.basename(modelPath)}, even after retrying with ${attempt.gpuLayers} GPU layers and a ${attempt.contextSize}-token context (${(error as Error).message}).${numbers} Try a smaller quantization or context.`,
    );
  }

  private describeLoadError(modelPath: string, error: unknown, llamaReason?: string): RpcError {
    if (error instanceof RpcError) return error;
    if (llamaReason) {
      const sentence = /[.!?]$/.test(llamaReason) ? llamaReason : `${llamaReason}.`;
      return new RpcError('invalid_model', `llama.cpp could not load ${path.basename(modelPath)}: ${sentence}`);
    }
    const message = (error as Error).message ?? String(error);
    return new RpcError('invalid_model', `Could not load ${path.basename(modelPath)}: ${message}`);
  }

  async unload(): Promise<void> {
    for (const controller of this.active.values()) controller.abort();
    await Promise.allSettled([...this.generating]);
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
    const controller = this.active.get(requestId);
    controller?.abort();
    return controller !== undefined;
  }

  /** One reply to a conversation; text streams out through `onDelta` in batches. */
  async generate(input: GenerateInput, onDelta: (delta: ChatDelta) => void): Promise<GenerateResult> {
    const loaded = this.requireLoaded();
    const last = input.messages[input.messages.length - 1];
    if (last?.role === 'system') throw new RpcError('invalid_input', 'The conversation must end with a user or assistant message.');

    const history: ChatHistoryItem[] = [];
    if (input.system) history.push({ type: 'system', text: input.system });
    for (const message of input.messages) {
      if (message.role === 'system') history.push({ type: 'system', text: message.text });
      else if (message.role === 'user') history.push({ type: 'user', text: message.text });
      else history.push({ type: 'model', response: modelResponse(message.text, message.calls) });
    }
    // Ending with the assistant's words means "go on from here" (a prefill); else a fresh reply.
    if (last?.role !== 'assistant') history.push({ type: 'model', response: [] });

    // Counted with the model's tokenizer and template before anything is read: a prompt that does not
    // fit is refused with the numbers, and a history that outgrew the context loses its oldest messages.
    // The tools offered are part of the prompt (the template renders their names, descriptions and
    // parameters): counted with it, as is the call syntax a forced call opens the reply with.
    const calling = toolsFor(input);
    if (calling && input.format) throw new RpcError('invalid_input', 'A reply cannot both call tools and follow an output format.');
    const { chatWrapper } = loaded.slots[0]!.chat;
    const shown = calling?.documented ? documentedAs(chatWrapper, calling.documented) : chatWrapper;
    const promptWrapper = calling?.forced ? forcingCalls(shown) : shown;
    const offered = calling ? { availableFunctions: calling.functions, documentFunctionParams: true } : {};
    const render = (wrapper: ChatWrapper, chatHistory: ChatHistoryItem[]) => wrapper.generateContextState({ chatHistory, ...offered });
    const tokensFrom = (items: readonly ChatHistoryItem[], lead: number, start: number) =>
      render(promptWrapper, [...items.slice(0, lead), ...items.slice(start)]).contextText.tokenize(loaded.model.tokenizer).length;
    const types = history.map((item) => item.type);
    const { lead } = historyShape(types);
    const maxTokens = input.sampling?.maxTokens;
    const plan = planContext(types, (start) => tokensFrom(history, lead, start), loaded.context.contextSize, maxTokens);
    if (!plan.fits) {
      throw await this.contextOverflow(loaded, 'messages', maxTokens, {
        promptTokens: tokensFrom(history, lead, lead),
        requiredTokens: plan.requiredTokens,
        replyTokens: plan.replyTokens,
        maxPromptTokens: plan.maxPromptTokens,
      });
    }
    const kept = [...history.slice(0, lead), ...history.slice(plan.start)];
    const grammar = calling ? undefined : await this.grammarFor(input.format);
    // A call that must happen starts in the wrapper's call syntax, its name and arguments held to the grammar.
    // A conversation's own slot if free; else the one already holding most of this prompt; else the least recently used.
    const slot = this.acquire(loaded, input.slotKey, () => render(promptWrapper, kept).contextText.tokenize(loaded.model.tokenizer));
    const chat = promptWrapper !== chatWrapper ? new LlamaChat({ contextSequence: slot.sequence, chatWrapper: promptWrapper }) : slot.chat;

    const context = { historyLength: kept.length, droppedBefore: plan.start - lead, promptTokens: plan.promptTokens };
    return this.stream(input.requestId, loaded, slot, onDelta, context, async (options) => {
      const result = await chat
        .generateResponse(kept, {
          ...options,
          customStopTriggers: input.stop,
          ...(calling
            ? {
                functions: calling.functions,
                documentFunctionParams: true,
                ...(input.parallelToolCalls === false ? { maxParallelFunctionCalls: 1 } : {}),
                onFunctionCallParamsChunk: (chunk: { callIndex: number; functionName: string; paramsChunk: string }) =>
                  options.onCallChunk(chunk.callIndex, chunk.functionName, chunk.paramsChunk),
              }
            : { grammar }),
          ...(input.thinking ? { budgets: { thoughtTokens: input.thinking.enabled ? (input.thinking.budget ?? Infinity) : 0 } } : {}),
          repeatPenalty: this.repeatPenalty(input.sampling),
          ...this.samplingOptions(input.sampling),
          maxTokens: Math.min(maxTokens ?? Number.POSITIVE_INFINITY, plan.maxReplyTokens),
          // When the reply fills the context, the oldest messages go, whole, by the same rule;
          // node-llama-cpp's own strategy would cut into the last message instead.
          contextShift: {
            size: plan.shiftSize,
            strategy: ({ chatHistory, maxTokensCount, tokenizer, chatWrapper: wrapper }) => {
              const shape = historyShape(chatHistory.map((item) => item.type));
              const count = (start: number) =>
                render(wrapper, [...chatHistory.slice(0, shape.lead), ...chatHistory.slice(start)]).contextText.tokenize(tokenizer).length;
              const start = earliestFit(shape, count, maxTokensCount)?.start ?? shape.tail;
              return { chatHistory: [...chatHistory.slice(0, shape.lead), ...chatHistory.slice(start)], metadata: null };
            },
          },
        })
        .finally(() => {
          if (chat !== slot.chat) chat.dispose({ disposeSequence: false });
        });
      const toolCalls = result.functionCalls?.map((call) => ({ name: call.functionName, arguments: JSON.stringify(call.params ?? {}) }));
      return {
        stopReason: result.metadata.stopReason,
        contextWindow: result.lastEvaluation?.contextWindow?.length,
        ...(toolCalls?.length ? { toolCalls } : {}),
      };
    });
  }

  /** The typed refusal of a prompt that does not fit, with a larger context where one would do. */
  private async contextOverflow(
    loaded: Loaded,
    input: 'messages' | 'prompt',
    maxTokens: number | undefined,
    counts: Pick<ContextOverflow, 'promptTokens' | 'requiredTokens' | 'replyTokens' | 'maxPromptTokens'>,
  ): Promise<RpcError> {
    const contextSize = loaded.context.contextSize;
    const trainContextSize = loaded.model.trainContextSize;
    const larger = largerContextFor(counts.requiredTokens, maxTokens, contextSize, trainContextSize);
    const fitsMemory = larger !== null && (await this.contextFitsMemory(loaded, larger));
    const details: ContextOverflow = {
      ...counts,
      contextSize,
      trainContextSize,
      largerContextSize: fitsMemory ? larger : null,
      largerContextLimit: larger === null ? 'trained-context' : fitsMemory ? null : 'memory',
    };
    // Worded as OpenAI words it, since API clients show it as is; the chat view words its own.
    const message =
      input === 'messages'
        ? `This model's maximum context length is ${contextSize} tokens. However, your messages resulted in ${counts.promptTokens} tokens` +
          (counts.promptTokens > counts.requiredTokens
            ? `, and the last message with the system prompt alone is ${counts.requiredTokens} (older messages are left out when a conversation outgrows the context; the last one cannot be)`
            : '') +
          `; at most ${counts.maxPromptTokens} fit with room for a reply (${counts.replyTokens} tokens). Please reduce the length of the messages.`
        : `This model's maximum context length is ${contextSize} tokens. However, your prompt is ${counts.promptTokens} tokens; at most ${counts.maxPromptTokens} fit with room for the completion (${counts.replyTokens} tokens). Please reduce the length of the prompt.`;
    return new RpcError('context_length_exceeded', message, details);
  }

  /** Whether the memory free now holds a context of `size` in place of the loaded one. */
  private async contextFitsMemory(loaded: Loaded, size: number): Promise<boolean> {
    try {
      const estimate = (contextSize: number) =>
        loaded.model.fileInsights.estimateContextResourceRequirementsV2({
          contextSize,
          modelGpuLayers: loaded.model.gpuLayers,
          sequences: loaded.context.totalSequences,
          flashAttention: loaded.context.flashAttention,
        });
      const [now, next, vram] = await Promise.all([estimate(loaded.context.contextSize), estimate(size), this.llama.getVramState()]);
      return next.gpuVram - now.gpuVram <= vram.free && next.cpuRam - now.cpuRam <= os.freemem();
    } catch {
      return false;
    }
  }

  /** Plain text completion of `prompt` (no chat template), on the loaded model's context. */
  async complete(input: CompleteInput, onDelta: (delta: ChatDelta) => void): Promise<GenerateResult> {
    const loaded = this.requireLoaded();
    const grammar = await this.grammarFor(input.format);
    // LlamaCompletion would keep only the prompt's last tokens; a prompt that does not fit is refused instead.
    const contextSize = loaded.context.contextSize;
    const { vocabularyType, tokens } = loaded.model;
    const bos =
      vocabularyType === LlamaVocabularyType.rwkv || vocabularyType === LlamaVocabularyType.ugm
        ? undefined
        : vocabularyType === LlamaVocabularyType.wpm || tokens.shouldPrependBosToken
          ? (tokens.bos ?? undefined)
          : undefined;
    const promptTokens =
      loaded.model.tokenize(input.prompt, false, bos === undefined ? undefined : 'trimLeadingSpace').length + (bos === undefined ? 0 : 1);
    const maxTokens = input.sampling?.maxTokens;
    if (promptTokens > maxPromptTokens(contextSize, maxTokens)) {
      throw await this.contextOverflow(loaded, 'prompt', maxTokens, {
        promptTokens,
        requiredTokens: promptTokens,
        replyTokens: replyRoom(contextSize, maxTokens),
        maxPromptTokens: maxPromptTokens(contextSize, maxTokens),
      });
    }
    const context = { historyLength: 0, droppedBefore: 0, promptTokens };
    const slot = this.acquire(loaded, undefined, () => [
      ...(bos === undefined ? [] : [bos]),
      ...loaded.model.tokenize(input.prompt, false, bos === undefined ? undefined : 'trimLeadingSpace'),
    ]);
    slot.completion ??= new LlamaCompletion({ contextSequence: slot.sequence });
    const completion = slot.completion;
    return this.stream(input.requestId, loaded, slot, onDelta, context, async (options) => {
      const result = await completion.generateCompletionWithMeta(input.prompt, {
        // Its first fit keeps the context less this many tokens: never less than the whole prompt.
        contextShiftSize: Math.max(1, Math.min(shiftSize(contextSize), contextSize - promptTokens)),
        signal: options.signal,
        stopOnAbortSignal: true,
        onToken: options.onToken,
        onTextChunk: (text) => options.onResponseChunk({ text }),
        customStopTriggers: input.stop,
        grammar,
        repeatPenalty: this.repeatPenalty(input.sampling),
        ...this.samplingOptions(input.sampling),
      });
      return { stopReason: result.metadata.stopReason, contextWindow: undefined };
    });
  }

  private requireLoaded(): Loaded {
    const loaded = this.loaded;
    if (!loaded) throw new RpcError('no_model_loaded', 'No model is loaded.');
    return loaded;
  }

  /**
   * A free slot for a reply: the one that served `key` last (its prompt is
   * still there), else the one whose tokens share the longest start with this
   * prompt, else the least recently used. Held until the reply ends.
   */
  private acquire(loaded: Loaded, key: string | undefined, promptTokens: () => readonly number[]): Slot {
    const free = loaded.slots.filter((slot) => !slot.busy);
    if (free.length === 0)
      throw new RpcError(
        'busy',
        `The model is already generating ${loaded.slots.length === 1 ? 'a reply' : `${loaded.slots.length} replies`}.`,
      );
    let slot = key === undefined ? undefined : free.find((s) => s.key === key);
    if (!slot && free.length > 1) {
      const tokens = promptTokens();
      let best = -1;
      for (const candidate of free) {
        const shared = sharedPrefix(candidate.sequence.contextTokens, tokens);
        if (shared > best || (shared === best && candidate.lastUsed < slot!.lastUsed)) {
          best = shared;
          slot = candidate;
        }
      }
    }
    slot ??= free[0]!;
    slot.busy = true;
    slot.key = key ?? null;
    slot.lastUsed = performance.now();
    return slot;
  }

  private repeatPenalty(sampling: GenerateInput['sampling']) {
    const { repeatPenalty, frequencyPenalty, presencePenalty } = sampling ?? {};
    if (repeatPenalty === undefined && !frequencyPenalty && !presencePenalty) return undefined;
    return { penalty: repeatPenalty, frequencyPenalty: frequencyPenalty || undefined, presencePenalty: presencePenalty || undefined };
  }

  private samplingOptions(sampling: GenerateInput['sampling']) {
    return {
      maxTokens: sampling?.maxTokens,
      temperature: sampling?.temperature,
      topK: sampling?.topK,
      topP: sampling?.topP,
      minP: sampling?.minP,
      seed: sampling?.seed,
    };
  }

  /** A grammar that holds the output to JSON, or to JSON matching a schema. */
  private async grammarFor(format: OutputFormat | undefined): Promise<LlamaGrammar | undefined> {
    if (!format) return undefined;
    try {
      if (format.type === 'json') return await this.llama.getGrammarFor('json');
      return await this.llama.createGrammarForJsonSchema(markIntegerRanges(format.schema) as never);
    } catch (error) {
      throw new RpcError('invalid_input', `The JSON schema cannot be turned into a grammar: ${(error as Error).message}`);
    }
  }

  /** The streaming, stats and stop bookkeeping shared by chat and completion. */
  private async stream(
    requestId: string,
    loaded: Loaded,
    slot: Slot,
    onDelta: (delta: ChatDelta) => void,
    /** The history passed (its items), the messages left out before it, and its tokens as counted. */
    context: { historyLength: number; droppedBefore: number; promptTokens: number },
    run: (options: {
      signal: AbortSignal;
      stopOnAbortSignal: true;
      onToken: (tokens: readonly unknown[]) => void;
      onResponseChunk: (chunk: { text: string; type?: string; segmentType?: string }) => void;
      onCallChunk: (index: number, name: string, text: string) => void;
    }) => Promise<{ stopReason: string; contextWindow: number | undefined; toolCalls?: Array<{ name: string; arguments: string }> }>,
  ): Promise<GenerateResult> {
    const controller = new AbortController();
    this.active.set(requestId, controller);
    const batcher = new DeltaBatcher(requestId, onDelta);
    const meter = slot.sequence.tokenMeter;
    const predictionsBefore = slot.sequence.tokenPredictions;
    const inputBefore = meter.usedInputTokens;
    let generatedTokens = 0;
    /** Prompt tokens read (not reused from the cache) by the first token; later shifts read again. */
    let inputAtFirstToken: number | undefined;
    let firstTokenAt = 0;
    let reasoningStartedAt = 0;
    let reasoningEndedAt = 0;
    let text = '';
    let reasoning = '';
    const callText: string[] = [];
    const heldSpace: string[] = [];
    const startedAt = performance.now();

    const running = run({
      signal: controller.signal,
      stopOnAbortSignal: true,
      onToken: (tokens) => {
        if (generatedTokens === 0) inputAtFirstToken = meter.usedInputTokens - inputBefore;
        generatedTokens += tokens.length;
        const progress = this.progress.get(requestId) ?? { firstTokenAt: performance.now(), tokens: 0 };
        progress.tokens = generatedTokens;
        this.progress.set(requestId, progress);
      },
      onResponseChunk: (chunk) => {
        if (chunk.text === '') return;
        if (firstTokenAt === 0) firstTokenAt = performance.now();
        if (chunk.type === 'segment' && chunk.segmentType === 'thought') {
          const now = performance.now();
          if (reasoningStartedAt === 0) reasoningStartedAt = now;
          reasoningEndedAt = now;
          reasoning += chunk.text;
          batcher.push('reasoning', chunk.text);
        } else if (chunk.type === undefined) {
          text += chunk.text;
          batcher.push('text', chunk.text);
        }
      },
      onCallChunk: (index, name, chunk) => {
        if (firstTokenAt === 0) firstTokenAt = performance.now();
        // Whitespace after the arguments' JSON is held back until more follows, so the pieces add up to the call's arguments.
        callText[index] = (callText[index] ?? '') + chunk;
        const full = (heldSpace[index] ?? '') + chunk;
        const send = full.trimEnd();
        heldSpace[index] = full.slice(send.length);
        if (send) batcher.pushCall(index, name, send);
        else if (callText[index] === chunk) batcher.pushCall(index, name, '');
      },
    });
    this.generating.add(running);
    try {
      let result: Awaited<typeof running> | undefined;
      try {
        result = await running;
      } catch (error) {
        // Stopped before the first token (while the prompt was still being read):
        // node-llama-cpp throws rather than returning; it is a stop all the same.
        if (!controller.signal.aborted) throw error;
      }
      batcher.flush();
      const endedAt = performance.now();
      const decodeMs = firstTokenAt ? endedAt - firstTokenAt : 0;
      const stopReason: StopReason = !result
        ? 'abort'
        : result.stopReason === 'maxTokens'
          ? 'max-tokens'
          : result.stopReason === 'abort'
            ? 'abort'
            : result.stopReason === 'eogToken'
              ? 'eos'
              : result.stopReason === 'functionCalls'
                ? 'tool-calls'
                : 'stop-sequence';
      return {
        requestId,
        text,
        reasoning,
        ...(result?.toolCalls
          ? {
              // The arguments as the model wrote them (what streamed), where they are the JSON of the call.
              toolCalls: result.toolCalls.map((call, index) => {
                const raw = callText[index]?.trim();
                return raw && parseJson(raw) !== undefined ? { ...call, arguments: raw } : call;
              }),
            }
          : {}),
        stats: {
          // The whole prompt, whether read now or reused from the cache; and how much was reused.
          promptTokens: context.promptTokens,
          cachedPromptTokens: Math.max(0, context.promptTokens - (inputAtFirstToken ?? meter.usedInputTokens - inputBefore)),
          generatedTokens,
          timeToFirstTokenMs: firstTokenAt ? firstTokenAt - startedAt : 0,
          tokensPerSecond: decodeMs > 0 && generatedTokens > 1 ? (generatedTokens - 1) / (decodeMs / 1000) : 0,
          totalMs: endedAt - startedAt,
          stopReason,
          contextTokens: slot.sequence.contextTokens.length,
          contextSize: loaded.context.contextSize,
          ...(slot.sequence.tokenPredictor
            ? {
                predictedTokens:
                  slot.sequence.tokenPredictions.validated +
                  slot.sequence.tokenPredictions.refuted -
                  predictionsBefore.validated -
                  predictionsBefore.refuted,
                acceptedPredictions: slot.sequence.tokenPredictions.used - predictionsBefore.used,
              }
            : {}),
          // Older messages left out: before the first token (counted above), and by shifts on the
          // way (the window node-llama-cpp kept at the end).
          droppedMessages: context.droppedBefore + Math.max(0, context.historyLength - (result?.contextWindow ?? context.historyLength)),
          ...(reasoningStartedAt ? { reasoningMs: reasoningEndedAt - reasoningStartedAt } : {}),
        },
      };
    } finally {
      batcher.flush();
      this.active.delete(requestId);
      this.progress.delete(requestId);
      this.generating.delete(running);
      slot.busy = false;
    }
  }

  /**
   * Embeddings come from their own model slot, so that an embedding model and a
   * chat model can both stay loaded (retrieval alternates between the two).
   */
  async embed(input: EmbedInput): Promise<EmbedResult> {
    if (this.embedder?.path !== input.modelPath) {
      await this.unloadEmbedder();
      let model: LlamaModel;
      const log = this.llamaLog.capture();
      try {
        model = await this.llama.loadModel({ modelPath: input.modelPath, gpuLayers: 'auto' });
        log.stop();
      } catch (error) {
        if (!isMemoryError(error)) throw this.describeLoadError(input.modelPath, error, await log.reasonFor(error));
        log.stop();
        throw new RpcError('out_of_memory', `Not enough memory to load ${path.basename(input.modelPath)} for embeddings.`);
      }
      try {
        const context = await model.createEmbeddingContext({ threads: this.threads });
        this.embedder = { path: input.modelPath, model, context, contextSize: model.trainContextSize };
      } catch (error) {
        await model.dispose();
        throw this.describeLoadError(input.modelPath, error);
      }
    }
    const embedder = this.embedder!;
    const vectors: number[][] = [];
    let promptTokens = 0;
    for (const [index, text] of input.inputs.entries()) {
      const tokens = embedder.model.tokenize(text);
      if (tokens.length > embedder.contextSize) {
        throw new RpcError(
          'invalid_input',
          `Input ${index} is ${tokens.length} tokens long; this model embeds at most ${embedder.contextSize}.`,
        );
      }
      promptTokens += tokens.length;
      const embedding = await embedder.context.getEmbeddingFor(tokens);
      vectors.push([...embedding.vector]);
    }
    return { vectors, promptTokens };
  }

  get embeddingModel(): string | undefined {
    return this.embedder?.path;
  }

  async unloadEmbedder(): Promise<void> {
    const embedder = this.embedder;
    this.embedder = undefined;
    if (embedder) {
      await embedder.context.dispose();
      await embedder.model.dispose();
    }
  }

  /**
   * pp/tg in the manner of llama-bench: evaluate `promptTokens` tokens from a
   * clean context, then generate `generateTokens` tokens greedily, timing each.
   * It uses the loaded model's own context and leaves it empty afterwards.
   */
  async benchmark(
    promptTokens: number,
    generateTokens: number,
  ): Promise<{ promptTokensPerSecond: number; generationTokensPerSecond: number; promptTokens: number; generatedTokens: number }> {
    const loaded = this.loaded;
    if (!loaded) throw new RpcError('no_model_loaded', 'Load a model to benchmark it.');
    if (this.active.size > 0) throw new RpcError('busy', 'The model is generating a reply.');
    const sequence = loaded.slots[0]!.sequence;
    loaded.slots[0]!.key = null;
    const maxPrompt = Math.max(16, Math.min(promptTokens, loaded.context.contextSize - generateTokens - 8));
    let tokens = loaded.model.tokenize('Once upon a time, in a small village by the sea, there lived a curious child. ');
    while (tokens.length < maxPrompt) tokens = [...tokens, ...tokens];
    tokens = tokens.slice(0, maxPrompt);
    await sequence.clearHistory();
    let start = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(tokens);
    const promptSeconds = (performance.now() - start) / 1000;
    let generated = 0;
    start = performance.now();
    for await (const _token of sequence.evaluate([tokens[tokens.length - 1]!], { temperature: 0 })) {
      generated += 1;
      if (generated >= generateTokens || sequence.nextTokenIndex >= loaded.context.contextSize - 1) break;
    }
    const generationSeconds = (performance.now() - start) / 1000;
    await sequence.clearHistory();
    return {
      promptTokens: tokens.length,
      promptTokensPerSecond: tokens.length / promptSeconds,
      generatedTokens: generated,
      generationTokensPerSecond: generated / generationSeconds,
    };
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
    for (const p of this.progress.values()) {
      const elapsed = (performance.now() - p.firstTokenAt) / 1000;
      if (elapsed > 0.2 && p.tokens > 1) tokensPerSecond = (tokensPerSecond ?? 0) + (p.tokens - 1) / elapsed;
    }
    return {
      rssBytes: process.memoryUsage().rss,
      vramUsedBytes: vram.used,
      vramTotalBytes: vram.total,
      tokensPerSecond,
      running: this.active.size,
    };
  }

  async dispose(): Promise<void> {
    await this.unload();
    await this.unloadEmbedder();
    await this.llama.dispose();
  }
}
