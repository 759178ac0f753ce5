/**
 * One chat reply: the conversation as node-llama-cpp's history, fitted to the
 * context (older messages left out by context-fit.ts's rule, before and while
 * it runs), with tools offered or an output format held.
 */
import { LlamaChat, type ChatHistoryItem, type ChatWrapper, type Llama } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import type { ChatDelta, GenerateInput, GenerateResult } from '../../shared/inference';
import { earliestFit, historyShape, planContext } from './context-fit';
import { contextOverflow } from './context-overflow';
import { grammarFor, repeatPenalty, samplingOptions, stream, type Runs } from './generation';
import { acquireSlot, type Loaded } from './slots';
import { documentedAs, forcingCalls, modelResponse, toolsFor } from './tool-calls';

/** One reply to a conversation; text streams out through `onDelta` in batches. */
export async function generateReply(
  llama: Llama,
  loaded: Loaded,
  runs: Runs,
  input: GenerateInput,
  onDelta: (delta: ChatDelta) => void,
): Promise<GenerateResult> {
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
    throw await contextOverflow(llama, loaded, 'messages', maxTokens, {
      promptTokens: tokensFrom(history, lead, lead),
      requiredTokens: plan.requiredTokens,
      replyTokens: plan.replyTokens,
      maxPromptTokens: plan.maxPromptTokens,
    });
  }
  const kept = [...history.slice(0, lead), ...history.slice(plan.start)];
  const grammar = calling ? undefined : await grammarFor(llama, input.format);
  // A call that must happen starts in the wrapper's call syntax, its name and arguments held to the grammar.
  // A conversation's own slot if free; else the one already holding most of this prompt; else the least recently used.
  const slot = acquireSlot(loaded, input.slotKey, () => render(promptWrapper, kept).contextText.tokenize(loaded.model.tokenizer));
  const chat = promptWrapper !== chatWrapper ? new LlamaChat({ contextSequence: slot.sequence, chatWrapper: promptWrapper }) : slot.chat;

  const context = { historyLength: kept.length, droppedBefore: plan.start - lead, promptTokens: plan.promptTokens };
  return stream(runs, input.requestId, loaded, slot, onDelta, context, async (options) => {
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
        repeatPenalty: repeatPenalty(input.sampling),
        ...samplingOptions(input.sampling),
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
