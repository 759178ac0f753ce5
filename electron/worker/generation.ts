/**
 * What chat replies and plain completions share: their sampling options and
 * output grammars, and the streaming, stats and stop bookkeeping of a run on a
 * slot.
 */
import type { Llama, LlamaGrammar } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import type { ChatDelta, GenerateInput, GenerateResult, OutputFormat, StopReason } from '../../shared/inference';
import { DeltaBatcher } from './delta-batcher';
import { markIntegerRanges } from './schema-grammar';
import type { Loaded, Slot } from './slots';
import { parseJson } from './tool-calls';

/** The replies and completions running now. */
export interface Runs {
  /** How to stop each, by request id. */
  active: Map<string, AbortController>;
  /** Each run's promise, so that an unload waits for them. */
  generating: Set<Promise<unknown>>;
  /** Progress of each reply being generated, for live samples. */
  progress: Map<string, { firstTokenAt: number; tokens: number }>;
}

export function repeatPenalty(sampling: GenerateInput['sampling']) {
  const { repeatPenalty, frequencyPenalty, presencePenalty } = sampling ?? {};
  if (repeatPenalty === undefined && !frequencyPenalty && !presencePenalty) return undefined;
  return { penalty: repeatPenalty, frequencyPenalty: frequencyPenalty || undefined, presencePenalty: presencePenalty || undefined };
}

export function samplingOptions(sampling: GenerateInput['sampling']) {
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
export async function grammarFor(llama: Llama, format: OutputFormat | undefined): Promise<LlamaGrammar | undefined> {
  if (!format) return undefined;
  try {
    if (format.type === 'json') return await llama.getGrammarFor('json');
    return await llama.createGrammarForJsonSchema(markIntegerRanges(format.schema) as never);
  } catch (error) {
    throw new RpcError('invalid_input', `The JSON schema cannot be turned into a grammar: ${(error as Error).message}`);
  }
}

/** The streaming, stats and stop bookkeeping shared by chat and completion. */
export async function stream(
  runs: Runs,
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
  runs.active.set(requestId, controller);
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
      const progress = runs.progress.get(requestId) ?? { firstTokenAt: performance.now(), tokens: 0 };
      progress.tokens = generatedTokens;
      runs.progress.set(requestId, progress);
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
  runs.generating.add(running);
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
    runs.active.delete(requestId);
    runs.progress.delete(requestId);
    runs.generating.delete(running);
    slot.busy = false;
  }
}
