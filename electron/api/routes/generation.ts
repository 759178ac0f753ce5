import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { ChatDelta, CompleteInput, GenerateInput, GenerateResult, LoadedModel } from '../../../shared/inference';
import {
  ApiError,
  completionChunk,
  completionObject,
  contextLengthError,
  errorBody,
  EventStream,
  finalChunks,
  toApiError,
  toolCallId,
  type CompletionIds,
  type CompletionKind,
} from '../responses';
import type { RouteContext } from './context';

export type GenerationJob =
  | {
      kind: 'generate';
      input: (maxTokens: number) => Omit<GenerateInput, 'requestId'>;
      /** Sees the result before it is answered (not waited for). */
      onResult?: (result: GenerateResult) => void;
    }
  | { kind: 'complete'; input: (maxTokens: number) => Omit<CompleteInput, 'requestId'> };

export interface GenerationRequest {
  model: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
}

/**
 * The shared body of chat and text completion: a turn in the queue, the
 * model loaded just in time, max_tokens checked against its context, the
 * output streamed as SSE chunks or returned whole.
 */
export async function answerGeneration(
  context: RouteContext,
  reply: FastifyReply,
  kind: CompletionKind,
  body: GenerationRequest,
  maxTokens: number | undefined,
  job: GenerationJob,
) {
  const { id: modelId, model } = context.resolve(body.model);
  context.checkQueue();
  const ids: CompletionIds = {
    kind,
    id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('base64url')}`,
    created: Math.floor(Date.now() / 1000),
    model: modelId,
  };
  const streaming = body.stream === true;
  const connection = context.watchDisconnect(reply, ids.id);
  let stream: EventStream | undefined;
  // The stream opens with the first output, so that a prompt the worker refuses before reading it
  // (longer than the context) still gets its 400 before any header is out.
  const openStream = () => {
    if (!streaming || stream || connection.gone || connection.revoked) return;
    reply.hijack();
    stream = new EventStream(reply.raw);
    stream.open();
    if (kind === 'chat') stream.send(completionChunk(ids, { role: 'assistant', content: '' }, null));
  };
  const tokensFor = (loaded: LoadedModel): number => {
    if (maxTokens !== undefined && maxTokens > loaded.contextSize) {
      throw new ApiError(
        400,
        `max_tokens is ${maxTokens}, more than this model's context of ${loaded.contextSize} tokens.`,
        'invalid_request_error',
        'invalid_value',
        'max_tokens',
      );
    }
    return maxTokens ?? loaded.contextSize;
  };
  /** Tool calls announced in the stream (id and name sent), and their arguments so far. */
  const streamedCalls = new Map<number, string>();
  const sendCall = (index: number, name: string, text: string) => {
    const first = !streamedCalls.has(index);
    streamedCalls.set(index, (streamedCalls.get(index) ?? '') + text);
    stream?.send(
      completionChunk(ids, { toolCall: { index, ...(first ? { id: toolCallId(ids.id, index), name } : {}), arguments: text } }, null),
    );
  };
  // A key revoked mid-stream: the stream ends at once with the error, without waiting for the model to stop.
  connection.onRevoked = (error) => {
    if (stream) stream.fail(errorBody(error));
  };
  const options = {
    cancelled: () => connection.gone || connection.revoked !== null,
    onDelta: (delta: ChatDelta) => {
      openStream();
      if (!stream || connection.revoked) return;
      for (const part of delta.parts) {
        if (part.kind === 'call') sendCall(part.index, part.name, part.text);
        else stream.send(completionChunk(ids, part.kind === 'text' ? { content: part.text } : { reasoning: part.text }, null));
      }
    },
  };
  const target = { path: model.files[0]! };
  let result: GenerateResult;
  try {
    result = await (
      job.kind === 'generate'
        ? context.inference.run('api', ids.id, target, { kind: 'generate', input: (loaded) => job.input(tokensFor(loaded)) }, options)
        : context.inference.run('api', ids.id, target, { kind: 'complete', input: (loaded) => job.input(tokensFor(loaded)) }, options)
    ).catch(contextLengthError(kind === 'chat' ? 'messages' : 'prompt'));
    context.countTokens(reply, result.stats.promptTokens + result.stats.generatedTokens);
    if (job.kind === 'generate') job.onResult?.(result);
    openStream();
  } catch (error) {
    if (connection.revoked) {
      connection.done = true;
      // Not streaming yet: a plain 401. Streaming: the stream has already ended with it.
      if (!stream) throw connection.revoked;
      return reply;
    }
    if (!stream) throw error;
    // Headers are out: the error goes in the stream, as OpenAI's own server does.
    const apiError = toApiError(error);
    if (apiError.status >= 500) context.log(`api: ${apiError.message}`);
    stream.send(errorBody(apiError));
    stream.end();
    connection.done = true;
    return reply;
  }
  connection.done = true;
  if (connection.gone) return reply;
  if (connection.revoked) {
    if (!stream) throw connection.revoked;
    return reply;
  }
  if (stream) {
    // A call whose arguments did not stream (a function without parameters) is sent whole.
    result.toolCalls?.forEach((call, index) => {
      const sent = streamedCalls.get(index);
      if (sent === undefined) sendCall(index, call.name, call.arguments);
      else if (call.arguments.startsWith(sent) && call.arguments.length > sent.length)
        sendCall(index, call.name, call.arguments.slice(sent.length));
    });
    for (const chunk of finalChunks(ids, result, body.stream_options?.include_usage === true)) stream.send(chunk);
    stream.end();
    return reply;
  }
  return completionObject(ids, result);
}
