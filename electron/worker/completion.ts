/**
 * Plain text completion of a prompt (no chat template), refused with the
 * numbers when the prompt does not fit the context.
 */
import { LlamaCompletion, LlamaVocabularyType, type Llama } from 'node-llama-cpp';
import type { ChatDelta, CompleteInput, GenerateResult } from '../../shared/inference';
import { maxPromptTokens, replyRoom, shiftSize } from './context-fit';
import { contextOverflow } from './context-overflow';
import { grammarFor, repeatPenalty, samplingOptions, stream, type Runs } from './generation';
import { acquireSlot, type Loaded } from './slots';

/** Plain text completion of `prompt` (no chat template), on the loaded model's context. */
export async function completeText(
  llama: Llama,
  loaded: Loaded,
  runs: Runs,
  input: CompleteInput,
  onDelta: (delta: ChatDelta) => void,
): Promise<GenerateResult> {
  const grammar = await grammarFor(llama, input.format);
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
    throw await contextOverflow(llama, loaded, 'prompt', maxTokens, {
      promptTokens,
      requiredTokens: promptTokens,
      replyTokens: replyRoom(contextSize, maxTokens),
      maxPromptTokens: maxPromptTokens(contextSize, maxTokens),
    });
  }
  const context = { historyLength: 0, droppedBefore: 0, promptTokens };
  const slot = acquireSlot(loaded, undefined, () => [
    ...(bos === undefined ? [] : [bos]),
    ...loaded.model.tokenize(input.prompt, false, bos === undefined ? undefined : 'trimLeadingSpace'),
  ]);
  slot.completion ??= new LlamaCompletion({ contextSequence: slot.sequence });
  const completion = slot.completion;
  return stream(runs, input.requestId, loaded, slot, onDelta, context, async (options) => {
    const result = await completion.generateCompletionWithMeta(input.prompt, {
      // Its first fit keeps the context less this many tokens: never less than the whole prompt.
      contextShiftSize: Math.max(1, Math.min(shiftSize(contextSize), contextSize - promptTokens)),
      signal: options.signal,
      stopOnAbortSignal: true,
      onToken: options.onToken,
      onTextChunk: (text) => options.onResponseChunk({ text }),
      customStopTriggers: input.stop,
      grammar,
      repeatPenalty: repeatPenalty(input.sampling),
      ...samplingOptions(input.sampling),
    });
    return { stopReason: result.metadata.stopReason, contextWindow: undefined };
  });
}
