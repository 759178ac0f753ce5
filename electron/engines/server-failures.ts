/**
 * A failed request to llama.cpp's server in Freehold's terms: a prompt that
 * does not fit the slot's context becomes the worker's typed
 * `context_length_exceeded` with the numbers (llama-server says how many
 * tokens and how large the slot's context is); a request llama.cpp refuses
 * (an image it cannot decode) is `invalid_input` with its words; anything
 * else is the server failing the reply.
 */
import { RpcError } from '../../shared/errors';
import type { ContextOverflow } from '../../shared/inference';
import { largerContextFor } from '../worker/context-fit';

interface ServerErrorBody {
  message?: string;
  type?: string;
  n_prompt_tokens?: number;
  n_ctx?: number;
}

/** The error object of a failed OpenAI SDK call (APIError.status and .error), if it is one. */
function apiErrorOf(error: unknown): { status: number; body: ServerErrorBody } | null {
  if (typeof error !== 'object' || error === null) return null;
  const e = error as { status?: unknown; error?: unknown };
  if (typeof e.status !== 'number') return null;
  return { status: e.status, body: typeof e.error === 'object' && e.error !== null ? (e.error as ServerErrorBody) : {} };
}

export interface OverflowContext {
  /** Tokens of context per reply (a slot's). */
  contextSize: number;
  trainContextSize: number;
  maxTokens: number | undefined;
  input: 'messages' | 'prompt';
  /** Whether the memory free now would hold the model with a context of `size` per reply. */
  fits: (size: number) => Promise<boolean>;
}

/** llama-server's refusal of a prompt too long for its slot, as the worker's typed error; null if it is not one. */
export async function contextOverflowOf(error: unknown, context: OverflowContext): Promise<RpcError | null> {
  const api = apiErrorOf(error);
  if (!api || api.body.type !== 'exceed_context_size_error') return null;
  const promptTokens = api.body.n_prompt_tokens ?? 0;
  // llama-server reads a prompt of up to one token less than the slot's context, and keeps no more room for the reply.
  const contextSize = api.body.n_ctx ?? context.contextSize;
  return overflowError(
    { promptTokens, requiredTokens: promptTokens, maxPromptTokens: contextSize - 1, replyTokens: 1 },
    { ...context, contextSize },
  );
}

/** The worker's typed refusal of a prompt that does not fit, with its numbers and a larger context where one would do. */
export async function overflowError(
  counts: Pick<ContextOverflow, 'promptTokens' | 'requiredTokens' | 'replyTokens' | 'maxPromptTokens'>,
  context: OverflowContext,
): Promise<RpcError> {
  const { contextSize } = context;
  const { promptTokens, requiredTokens, maxPromptTokens, replyTokens } = counts;
  const larger = largerContextFor(requiredTokens, context.maxTokens, contextSize, context.trainContextSize);
  const fits = larger !== null && (await context.fits(larger).catch(() => false));
  const details: ContextOverflow = {
    ...counts,
    contextSize,
    trainContextSize: context.trainContextSize,
    largerContextSize: fits ? larger : null,
    largerContextLimit: larger === null ? 'trained-context' : fits ? null : 'memory',
  };
  const room = `room for ${context.input === 'messages' ? 'a reply' : 'the completion'} (${replyTokens} ${replyTokens === 1 ? 'token' : 'tokens'})`;
  // Worded as the worker words it (OpenAI's words: API clients show it as is).
  const message =
    context.input === 'messages'
      ? `This model's maximum context length is ${contextSize} tokens. However, your messages resulted in ${promptTokens} tokens` +
        (promptTokens > requiredTokens
          ? `, and the last message with the system prompt alone is ${requiredTokens} (older messages are left out when a conversation outgrows the context; the last one cannot be)`
          : '') +
        `; at most ${maxPromptTokens} fit with ${room}. Please reduce the length of the messages.`
      : `This model's maximum context length is ${contextSize} tokens. However, your prompt is ${promptTokens} tokens; at most ${maxPromptTokens} fit with ${room}. Please reduce the length of the prompt.`;
  return new RpcError('context_length_exceeded', message, details);
}

/** A request llama-server refused as malformed (400: an image or clip it could not read), in its words; else null. */
export function refusalOf(error: unknown): RpcError | null {
  const api = apiErrorOf(error);
  if (!api || api.status !== 400) return null;
  const said = api.body.message ?? (error as Error).message;
  return new RpcError('invalid_input', `llama.cpp’s server refused the request: ${said}`);
}
