/** What the local API answers, in OpenAI's shapes: errors, model objects, completions and their SSE chunks. */
import type { ServerResponse } from 'node:http';
import { RpcError } from '../../shared/errors';
import type { GenerateResult, StopReason } from '../../shared/inference';
import type { ModelEntry } from '../../shared/library';

export const API_BODY_LIMIT = 8 * 1024 * 1024;

type ErrorType =
  'invalid_request_error' | 'authentication_error' | 'permission_error' | 'not_found_error' | 'rate_limit_error' | 'server_error';

/** An error answered in OpenAI's shape: { error: { message, type, param, code } }. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = 'invalid_request_error',
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** Absolute paths never leave the server: each becomes its file name. */
export function scrubPaths(message: string): string {
  // A drive letter or UNC root, or a / root with at least one folder (but not this API's own /v1/ routes).
  return message.replace(
    /(?<=^|[\s'"(=,])(?:[A-Za-z]:[\\/]|\\\\|\/(?!v1\/)(?=[^\s'"()\\/]+\/))(?:[^\s'"()\\/]+[\\/])*([^\s'"()\\/]*)/g,
    (_match, name: string) => name || '<path>',
  );
}

const statusFor: Partial<Record<RpcError['code'], [number, ErrorType]>> = {
  invalid_input: [400, 'invalid_request_error'],
  not_found: [404, 'not_found_error'],
  no_model_loaded: [400, 'invalid_request_error'],
  invalid_model: [422, 'invalid_request_error'],
  out_of_memory: [507, 'server_error'],
  busy: [429, 'rate_limit_error'],
  aborted: [499, 'invalid_request_error'],
  unavailable: [503, 'server_error'],
  worker_crashed: [500, 'server_error'],
  // The answer would not fit the channel from the worker (many large embeddings, say).
  payload_too_large: [413, 'invalid_request_error'],
  context_length_exceeded: [400, 'invalid_request_error'],
};

/** A prompt too long for the loaded context, as OpenAI answers it: 400 on the input that is too long. */
export function contextLengthError(param: 'messages' | 'prompt') {
  return (error: unknown): never => {
    if (error instanceof RpcError && error.code === 'context_length_exceeded')
      throw new ApiError(400, scrubPaths(error.message), 'invalid_request_error', 'context_length_exceeded', param);
    throw error;
  };
}

const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

/** A body over the limit: 413, saying how much a request with images or audio may carry where that is more. */
export function bodyTooLarge(limit: number, mediaLimit = limit): ApiError {
  const media = mediaLimit > limit ? ` (${mib(mediaLimit)} with images or audio)` : '';
  return new ApiError(413, `The request body is larger than ${mib(limit)}${media}.`, 'invalid_request_error', 'FST_ERR_CTP_BODY_TOO_LARGE');
}

/**
 * Any error (ours, the engine's, Fastify's) as the OpenAI error to answer; `bodyLimit` is the limit of the route
 * that refused a body as too large.
 */
export function toApiError(error: unknown, bodyLimit = API_BODY_LIMIT): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof RpcError) {
    const [status, type] = statusFor[error.code] ?? [500, 'server_error'];
    return new ApiError(status, scrubPaths(error.message), type, error.code);
  }
  const fastify = error as { statusCode?: number; code?: string; message?: string };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return bodyTooLarge(bodyLimit);
    const messages: Record<string, string> = {
      FST_ERR_CTP_INVALID_MEDIA_TYPE: 'Send the body as JSON (Content-Type: application/json).',
      FST_ERR_CTP_EMPTY_JSON_BODY: 'The request body is empty; send a JSON object.',
    };
    const message =
      messages[fastify.code ?? ''] ??
      (error instanceof SyntaxError || /JSON/.test(fastify.message ?? '')
        ? `The request body is not valid JSON: ${fastify.message}`
        : (fastify.message ?? 'Bad request.'));
    return new ApiError(fastify.statusCode, scrubPaths(message), 'invalid_request_error', fastify.code ?? null);
  }
  return new ApiError(500, scrubPaths((error as Error)?.message ?? 'Internal error.'), 'server_error');
}

export function errorBody(error: ApiError) {
  return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}

/** A library model as OpenAI's model object. */
export function modelObject(id: string, model: ModelEntry, capabilities: { vision: boolean; audio: boolean }) {
  return {
    id,
    object: 'model',
    created: Math.floor(Date.parse(model.addedAt) / 1000) || 0,
    owned_by: model.publisher ?? 'freehold',
    // Beyond OpenAI's fields (its clients keep extras): whether the model takes images and audio here.
    capabilities,
  };
}

type FinishReason = 'stop' | 'length' | 'tool_calls';

function finishReason(stop: StopReason): FinishReason {
  return stop === 'max-tokens' ? 'length' : stop === 'tool-calls' ? 'tool_calls' : 'stop';
}

/** The id a tool call of a reply carries: the same in the stream and in the whole answer. */
export function toolCallId(completionId: string, index: number): string {
  return `call_${completionId.replace(/^chatcmpl-/, '')}_${index}`;
}

function usage(result: GenerateResult) {
  return {
    prompt_tokens: result.stats.promptTokens,
    completion_tokens: result.stats.generatedTokens,
    total_tokens: result.stats.promptTokens + result.stats.generatedTokens,
    prompt_tokens_details: { cached_tokens: result.stats.cachedPromptTokens ?? 0 },
  };
}

/** Which endpoint answers: chat completions or plain text completions. */
export type CompletionKind = 'chat' | 'text';

/** One chat or text completion being answered: its id, time and model, the same in every chunk. */
export interface CompletionIds {
  kind: CompletionKind;
  id: string;
  created: number;
  model: string;
}

export interface ChunkDelta {
  role?: string;
  content?: string;
  reasoning?: string;
  /** A tool call starting (id and name, on its first piece) or a piece of its arguments. */
  toolCall?: { index: number; id?: string; name?: string; arguments: string };
}

function chunkObject(ids: CompletionIds): 'chat.completion.chunk' | 'text_completion' {
  return ids.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
}

/** A streamed piece of the answer. */
export function completionChunk(ids: CompletionIds, delta: ChunkDelta, finish: FinishReason | null) {
  const head = { id: ids.id, object: chunkObject(ids), created: ids.created, model: ids.model };
  if (ids.kind === 'text') return { ...head, choices: [{ index: 0, text: delta.content ?? '', logprobs: null, finish_reason: finish }] };
  return {
    ...head,
    choices: [
      {
        index: 0,
        delta: {
          ...(delta.role ? { role: delta.role } : {}),
          ...(delta.content !== undefined ? { content: delta.content } : {}),
          ...(delta.reasoning !== undefined ? { reasoning_content: delta.reasoning } : {}),
          ...(delta.toolCall
            ? {
                tool_calls: [
                  {
                    index: delta.toolCall.index,
                    ...(delta.toolCall.id ? { id: delta.toolCall.id, type: 'function' } : {}),
                    function: { ...(delta.toolCall.name ? { name: delta.toolCall.name } : {}), arguments: delta.toolCall.arguments },
                  },
                ],
              }
            : {}),
        },
        logprobs: null,
        finish_reason: finish,
      },
    ],
  };
}

/** The chunks that end a stream: the finish reason, then the usage if the client asked for it. */
export function finalChunks(ids: CompletionIds, result: GenerateResult, includeUsage: boolean) {
  const last = completionChunk(ids, {}, finishReason(result.stats.stopReason));
  if (!includeUsage) return [last];
  return [last, { id: ids.id, object: chunkObject(ids), created: ids.created, model: ids.model, choices: [], usage: usage(result) }];
}

/** The whole answer, not streamed. */
export function completionObject(ids: CompletionIds, result: GenerateResult) {
  const reason = finishReason(result.stats.stopReason);
  if (ids.kind === 'text') {
    return {
      id: ids.id,
      object: 'text_completion',
      created: ids.created,
      model: ids.model,
      choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: reason }],
      usage: usage(result),
    };
  }
  return {
    id: ids.id,
    object: 'chat.completion',
    created: ids.created,
    model: ids.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          // As OpenAI answers a reply that only calls tools: no content.
          content: result.toolCalls?.length && result.text === '' ? null : result.text,
          refusal: null,
          ...(result.reasoning ? { reasoning_content: result.reasoning } : {}),
          ...(result.toolCalls?.length
            ? {
                tool_calls: result.toolCalls.map((call, index) => ({
                  id: toolCallId(ids.id, index),
                  type: 'function',
                  function: { name: call.name, arguments: call.arguments },
                })),
              }
            : {}),
        },
        logprobs: null,
        finish_reason: reason,
      },
    ],
    usage: usage(result),
  };
}

/** Embeddings as OpenAI's list, floats or base64 (little-endian float32, the `openai` package's default). */
export function embeddingList(model: string, vectors: number[][], promptTokens: number, base64: boolean) {
  return {
    object: 'list',
    data: vectors.map((vector, index) => ({
      object: 'embedding',
      index,
      embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
    })),
    model,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

/** An SSE stream on a hijacked reply. */
export class EventStream {
  constructor(private readonly res: ServerResponse) {}

  open(): void {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    this.res.flushHeaders();
  }

  send(data: unknown): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.end('data: [DONE]\n\n');
  }

  /** Ends the stream with an error event and no [DONE]: the answer did not complete (its key was revoked, say). */
  fail(error: unknown): void {
    if (!this.res.writableEnded && !this.res.destroyed) this.res.end(`data: ${JSON.stringify(error)}\n\n`);
  }
}
