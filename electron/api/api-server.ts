/**
 * The local OpenAI-compatible API: /v1/models, /v1/chat/completions,
 * /v1/completions and /v1/embeddings over the same worker, queue and library
 * as the UI. Secure by default: loopback only unless asked otherwise (then
 * the key is always required), a Host allow-list against DNS rebinding, CORS
 * only for listed origins, a bearer key compared in constant time, bounded
 * bodies and max_tokens, no file paths in or out.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { RpcError } from '../../shared/errors';
import type { ChatMessage, GenerateResult, OutputFormat, Sampling, StopReason } from '../../shared/inference';
import type { ModelEntry } from '../../shared/library';
import { allowedHostHeaders, isAllowedHost, isLoopbackAddress, secretsMatch } from '../host/http-security';
import type { InferenceService } from '../inference/inference-service';
import type { ModelLibrary } from '../library/model-library';
import { openFileSource } from '../library/file-source';
import { readGgufHeader } from '../library/gguf-header';
import { prepareJsonSchema } from './json-schema-support';
import { apiModelIds, resolveApiModel } from './model-ids';
import {
  chatCompletionSchema,
  completionSchema,
  embeddingSchema,
  MAX_TOKENS_LIMIT,
  type ChatCompletionRequest,
  type CompletionRequest,
} from './openai-schemas';

export interface ApiServerOptions {
  inference: InferenceService;
  library: ModelLibrary;
  host: string;
  port: number;
  key: () => string;
  requireKey: boolean;
  corsOrigins: string[];
  log?: (line: string) => void;
  /** Largest request body accepted (bytes). */
  bodyLimit?: number;
  /** Requests from the API allowed to wait in the queue before new ones get 429. */
  maxWaiting?: number;
  /** Shorter timeouts, for tests (see API_TIMEOUTS). */
  timeouts?: Partial<ApiTimeouts>;
}

export interface ApiTimeouts {
  /** To receive a request's headers. */
  headersMs: number;
  /** To receive a whole request, body included; the answer (a stream may run for minutes) is not timed. */
  requestMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveMs: number;
  /** How often Node looks for requests past their time. */
  checkEveryMs: number;
}

/** Slow or stalled clients cannot hold connections open: a request arrives in full within these or gets 408 and is closed. */
export const API_TIMEOUTS: ApiTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, checkEveryMs: 1_000 };
/** Refusals made before the body is read: the connection is closed rather than left to a client that may still be sending. */
const closingStatuses = new Set([401, 403, 408, 413, 415, 421]);

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export const API_BODY_LIMIT = 8 * 1024 * 1024;
/** Temperature when a request gives none (llama.cpp's server uses the same). */
export const DEFAULT_TEMPERATURE = 0.8;

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
function contextLengthError(param: 'messages' | 'prompt') {
  return (error: unknown): never => {
    if (error instanceof RpcError && error.code === 'context_length_exceeded')
      throw new ApiError(400, scrubPaths(error.message), 'invalid_request_error', 'context_length_exceeded', param);
    throw error;
  };
}

function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof RpcError) {
    const [status, type] = statusFor[error.code] ?? [500, 'server_error'];
    return new ApiError(status, scrubPaths(error.message), type, error.code);
  }
  const fastify = error as { statusCode?: number; code?: string; message?: string };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    const messages: Record<string, string> = {
      FST_ERR_CTP_BODY_TOO_LARGE: `The request body is larger than ${API_BODY_LIMIT / 1024 / 1024} MiB.`,
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

function errorBody(error: ApiError) {
  return { error: { message: error.message, type: error.type, param: error.param, code: error.code } };
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'The request body must be a JSON object.');
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.map(String).join('.') || null;
  throw new ApiError(400, `${param ? `${param}: ` : ''}${issue.message}`, 'invalid_request_error', 'invalid_value', param);
}

const encoderArchitectures = new Set([
  'bert',
  'nomic-bert',
  'nomic-bert-moe',
  'jina-bert-v2',
  'jina-bert-v3',
  'neo-bert',
  'modern-bert',
  't5encoder',
  'gemma-embedding',
]);

/**
 * Embedding models are encoders, or say how to pool their output
 * (`<arch>.pooling_type`, e.g. Qwen3-Embedding); a chat model's "embeddings"
 * are not fit for search, so those are refused rather than served.
 */
async function isEmbeddingModel(file: string): Promise<boolean> {
  const source = await openFileSource(file);
  try {
    const header = await readGgufHeader(source);
    const arch = header.metadata.get('general.architecture');
    if (typeof arch !== 'string') return false;
    const pooling = header.metadata.get(`${arch}.pooling_type`);
    return encoderArchitectures.has(arch) || (typeof pooling === 'number' && pooling > 0);
  } finally {
    await source.close();
  }
}

function finishReason(stop: StopReason): 'stop' | 'length' {
  return stop === 'max-tokens' ? 'length' : 'stop';
}

function usage(result: GenerateResult) {
  return {
    prompt_tokens: result.stats.promptTokens,
    completion_tokens: result.stats.generatedTokens,
    total_tokens: result.stats.promptTokens + result.stats.generatedTokens,
    prompt_tokens_details: { cached_tokens: result.stats.cachedPromptTokens ?? 0 },
  };
}

function seed32(seed: number | null | undefined): number | undefined {
  if (seed === null || seed === undefined) return undefined;
  return ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32;
}

function refuseUnsupported(body: { n?: number | null; logprobs?: boolean | number | null }): void {
  if (body.n !== null && body.n !== undefined && body.n !== 1)
    throw new ApiError(400, 'n must be 1: Freehold generates one choice per request.', 'invalid_request_error', 'unsupported_value', 'n');
  if (body.logprobs) throw new ApiError(400, 'logprobs are not supported.', 'invalid_request_error', 'unsupported_value', 'logprobs');
}

function textOf(content: ChatCompletionRequest['messages'][number]['content'], index: number): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part, at) => {
      if (part.type !== 'text' || !('text' in part)) {
        throw new ApiError(
          400,
          `Content of type "${part.type}" is not supported; only text.`,
          'invalid_request_error',
          'unsupported_content',
          `messages.${index}.content.${at}`,
        );
      }
      return part.text;
    })
    .join('\n');
}

function chatMessages(body: ChatCompletionRequest): ChatMessage[] {
  const messages = body.messages.map((message, index): ChatMessage => {
    if (message.role === 'tool' || message.role === 'function' || (message.tool_calls && message.tool_calls.length > 0)) {
      throw new ApiError(
        400,
        'Tool and function calls are not supported.',
        'invalid_request_error',
        'unsupported_value',
        `messages.${index}.role`,
      );
    }
    const text = textOf(message.content, index);
    if (message.role === 'system' || message.role === 'developer') return { role: 'system', text };
    return { role: message.role, text };
  });
  const last = messages[messages.length - 1]!;
  if (last.role === 'system')
    throw new ApiError(
      400,
      'The last message must be from the user (or the assistant, to continue its text).',
      'invalid_request_error',
      'invalid_value',
      'messages',
    );
  return messages;
}

function outputFormat(body: Pick<ChatCompletionRequest, 'response_format'>): OutputFormat | undefined {
  const format = body.response_format;
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json' };
  const schema = format.json_schema.schema;
  if (!schema) return { type: 'json' };
  // Checked and bounded here, so that the worker only ever builds a grammar it can build quickly.
  const prepared = prepareJsonSchema(schema);
  if (!prepared.ok)
    throw new ApiError(
      400,
      `response_format.json_schema.schema cannot be enforced: ${prepared.problem}.`,
      'invalid_request_error',
      'unsupported_schema',
      'response_format.json_schema.schema',
    );
  return { type: 'json_schema', schema: prepared.schema };
}

function samplingOf(
  body: Pick<CompletionRequest, 'temperature' | 'top_p' | 'seed' | 'frequency_penalty' | 'presence_penalty'>,
  maxTokens: number | undefined,
): Sampling {
  return {
    temperature: body.temperature ?? DEFAULT_TEMPERATURE,
    ...(body.top_p !== null && body.top_p !== undefined ? { topP: body.top_p } : {}),
    ...(seed32(body.seed) !== undefined ? { seed: seed32(body.seed) } : {}),
    ...(body.frequency_penalty ? { frequencyPenalty: body.frequency_penalty } : {}),
    ...(body.presence_penalty ? { presencePenalty: body.presence_penalty } : {}),
    ...(maxTokens !== undefined ? { maxTokens } : {}),
  };
}

function stopsOf(stop: string | string[] | null | undefined): string[] | undefined {
  if (stop === null || stop === undefined) return undefined;
  return typeof stop === 'string' ? [stop] : stop.length ? stop : undefined;
}

/** An SSE stream on a hijacked reply. */
class EventStream {
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
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { inference, library } = options;
  const log = options.log ?? (() => undefined);
  const requireKey = options.requireKey || !isLoopbackAddress(options.host);
  const corsOrigins = new Set(options.corsOrigins);
  const maxWaiting = options.maxWaiting ?? 64;
  const timeouts = { ...API_TIMEOUTS, ...options.timeouts };
  let allowedHosts = new Set<string>();
  const embeddingCache = new Map<string, boolean>();

  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? API_BODY_LIMIT,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: timeouts.checkEveryMs },
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  // JSON only: a text/plain POST is what a hostile page can send without a CORS preflight.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error, _request, reply) => {
    const apiError = toApiError(error);
    if (apiError.status >= 500) log(`api: ${apiError.message}`);
    if (closingStatuses.has(apiError.status)) void reply.header('Connection', 'close');
    void reply.code(apiError.status).send(errorBody(apiError));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .send(
        errorBody(new ApiError(404, `No such endpoint: ${request.method} ${request.url.split('?')[0]}.`, 'not_found_error', 'unknown_url')),
      );
  });

  app.addHook('onRequest', async (request, reply) => {
    if (!isAllowedHost(request.headers.host, allowedHosts)) {
      throw new ApiError(421, 'Host not allowed (this server answers to its own address only).', 'permission_error', 'host_not_allowed');
    }
    const origin = request.headers.origin;
    if (origin !== undefined) {
      // A browser page: only the listed origins, and they get their own entry back, never "*".
      if (!corsOrigins.has(origin))
        throw new ApiError(
          403,
          "Origin not allowed: add it to the API server's allowed origins in settings.",
          'permission_error',
          'origin_not_allowed',
        );
      reply.raw.setHeader(
        'Access-Control-Allow-Origin',
        [...corsOrigins].find((o) => o === origin)!,
      );
      reply.raw.setHeader('Vary', 'Origin');
      if (request.method === 'OPTIONS') {
        const asked = String(request.headers['access-control-request-headers'] ?? '');
        const headers = asked
          .split(',')
          .map((h) => h.trim().toLowerCase())
          .filter((h) => /^[a-z0-9-]{1,64}$/.test(h));
        reply.raw.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
        reply.raw.setHeader('Access-Control-Allow-Headers', headers.length ? headers.join(', ') : 'authorization, content-type');
        reply.raw.setHeader('Access-Control-Max-Age', '600');
        return reply.code(204).send();
      }
    } else if (request.method === 'OPTIONS') {
      return reply.code(204).send();
    }
    if (requireKey) {
      const header = request.headers.authorization;
      const given = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : null;
      if (!secretsMatch(given, options.key())) {
        throw new ApiError(
          401,
          'Missing or wrong API key: send "Authorization: Bearer <key>" with the key shown in Freehold\'s settings.',
          'authentication_error',
          'invalid_api_key',
        );
      }
    }
  });

  const resolve = (requested: string): { id: string; model: ModelEntry } => {
    const found = resolveApiModel(library.snapshot().models, requested);
    if (!found)
      throw new ApiError(
        404,
        `The model "${requested}" is not in Freehold's library; GET /v1/models lists the ones that are.`,
        'invalid_request_error',
        'model_not_found',
        'model',
      );
    return found;
  };

  const checkQueue = () => {
    if (inference.queue.state().waiting >= maxWaiting)
      throw new ApiError(
        429,
        `${maxWaiting} requests are already waiting for the model; try again shortly.`,
        'rate_limit_error',
        'queue_full',
      );
  };

  /** Aborts the request's generation (or withdraws it from the queue) if the client hangs up first. */
  const watchDisconnect = (reply: FastifyReply, requestId: string) => {
    const state = { gone: false, done: false };
    reply.raw.on('close', () => {
      if (state.done || reply.raw.writableFinished) return;
      state.gone = true;
      void inference.abort(requestId).catch(() => undefined);
    });
    return state;
  };

  app.get('/v1/models', async () => ({
    object: 'list',
    data: [...apiModelIds(library.snapshot().models)].map(([id, model]) => ({
      id,
      object: 'model',
      created: Math.floor(Date.parse(model.addedAt) / 1000) || 0,
      owned_by: model.publisher ?? 'freehold',
    })),
  }));

  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request) => {
    const { id, model } = resolve(request.params['*']);
    return { id, object: 'model', created: Math.floor(Date.parse(model.addedAt) / 1000) || 0, owned_by: model.publisher ?? 'freehold' };
  });

  /**
   * The shared body of chat and text completion: a turn in the queue, the
   * model loaded just in time, max_tokens checked against its context, the
   * output streamed as SSE chunks or returned whole.
   */
  async function generate(
    request: FastifyRequest,
    reply: FastifyReply,
    kind: 'chat' | 'text',
    body: { model: string; stream?: boolean | null; stream_options?: { include_usage?: boolean | null } | null },
    maxTokens: number | undefined,
    run: (requestId: string, maxTokens: number) => Promise<GenerateResult>,
  ) {
    const { id: modelId, model } = resolve(body.model);
    checkQueue();
    const requestId = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('base64url')}`;
    const created = Math.floor(Date.now() / 1000);
    const object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const streaming = body.stream === true;
    const connection = watchDisconnect(reply, requestId);
    let stream: EventStream | undefined;
    const chunk = (delta: { content?: string; reasoning?: string; role?: string }, finish: string | null) =>
      kind === 'chat'
        ? {
            id: requestId,
            object,
            created,
            model: modelId,
            choices: [
              {
                index: 0,
                delta: {
                  ...(delta.role ? { role: delta.role } : {}),
                  ...(delta.content !== undefined ? { content: delta.content } : {}),
                  ...(delta.reasoning !== undefined ? { reasoning_content: delta.reasoning } : {}),
                },
                logprobs: null,
                finish_reason: finish,
              },
            ],
          }
        : {
            id: requestId,
            object,
            created,
            model: modelId,
            choices: [{ index: 0, text: delta.content ?? '', logprobs: null, finish_reason: finish }],
          };

    let result: GenerateResult;
    try {
      result = await inference.schedule('api', requestId, async () => {
        if (connection.gone) throw new RpcError('aborted', 'The client went away.');
        const loaded = await inference.ensureModel('api', model.files[0]!);
        if (maxTokens !== undefined && maxTokens > loaded.contextSize) {
          throw new ApiError(
            400,
            `max_tokens is ${maxTokens}, more than this model's context of ${loaded.contextSize} tokens.`,
            'invalid_request_error',
            'invalid_value',
            'max_tokens',
          );
        }
        if (connection.gone) throw new RpcError('aborted', 'The client went away.');
        // The stream opens with the first output, so that a prompt the worker refuses before reading it
        // (longer than the context) still gets its 400 before any header is out.
        const openStream = () => {
          if (!streaming || stream || connection.gone) return;
          reply.hijack();
          stream = new EventStream(reply.raw);
          stream.open();
          if (kind === 'chat') stream.send(chunk({ role: 'assistant', content: '' }, null));
        };
        const unlisten = inference.listenDeltas(requestId, (delta) => {
          openStream();
          if (!stream) return;
          for (const part of delta.parts)
            stream.send(chunk(part.kind === 'text' ? { content: part.text } : { reasoning: part.text }, null));
        });
        try {
          const generated = await run(requestId, maxTokens ?? loaded.contextSize);
          openStream();
          return generated;
        } finally {
          unlisten();
        }
      });
    } catch (error) {
      if (!stream) throw error;
      // Headers are out: the error goes in the stream, as OpenAI's own server does.
      const apiError = toApiError(error);
      if (apiError.status >= 500) log(`api: ${apiError.message}`);
      stream.send(errorBody(apiError));
      stream.end();
      connection.done = true;
      return reply;
    }
    connection.done = true;
    if (connection.gone) return reply;
    const reason = finishReason(result.stats.stopReason);
    if (stream) {
      stream.send(chunk({}, reason));
      if (body.stream_options?.include_usage)
        stream.send({ id: requestId, object, created, model: modelId, choices: [], usage: usage(result) });
      stream.end();
      return reply;
    }
    if (kind === 'chat') {
      return {
        id: requestId,
        object: 'chat.completion',
        created,
        model: modelId,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: result.text,
              refusal: null,
              ...(result.reasoning ? { reasoning_content: result.reasoning } : {}),
            },
            logprobs: null,
            finish_reason: reason,
          },
        ],
        usage: usage(result),
      };
    }
    return {
      id: requestId,
      object: 'text_completion',
      created,
      model: modelId,
      choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: reason }],
      usage: usage(result),
    };
  }

  app.post('/v1/chat/completions', async (request, reply) => {
    const body = parse(chatCompletionSchema, request.body);
    refuseUnsupported(body);
    if ((body.tools && body.tools.length) || (body.functions && body.functions.length)) {
      throw new ApiError(
        400,
        'Tool and function calls are not supported.',
        'invalid_request_error',
        'unsupported_value',
        body.tools ? 'tools' : 'functions',
      );
    }
    const messages = chatMessages(body);
    const format = outputFormat(body);
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
    const stop = stopsOf(body.stop);
    return generate(request, reply, 'chat', body, maxTokens, (requestId, max) =>
      inference.supervisor
        .generate({
          requestId,
          messages,
          sampling: samplingOf(body, max),
          ...(stop ? { stop } : {}),
          ...(format ? { format } : {}),
        })
        .catch(contextLengthError('messages')),
    );
  });

  app.post('/v1/completions', async (request, reply) => {
    const body = parse(completionSchema, request.body);
    refuseUnsupported(body);
    if (body.echo) throw new ApiError(400, 'echo is not supported.', 'invalid_request_error', 'unsupported_value', 'echo');
    if (body.suffix)
      throw new ApiError(400, 'suffix (fill-in-the-middle) is not supported.', 'invalid_request_error', 'unsupported_value', 'suffix');
    if (body.best_of !== null && body.best_of !== undefined && body.best_of !== 1)
      throw new ApiError(400, 'best_of must be 1.', 'invalid_request_error', 'unsupported_value', 'best_of');
    const prompt = typeof body.prompt === 'string' ? body.prompt : body.prompt[0]!;
    // OpenAI's default for this endpoint is 16 tokens.
    const maxTokens = body.max_tokens ?? 16;
    const stop = stopsOf(body.stop);
    // As llama.cpp's server: a grammar holds plain completions too.
    const format = outputFormat(body);
    return generate(request, reply, 'text', body, maxTokens, (requestId, max) =>
      inference.supervisor
        .complete({ requestId, prompt, sampling: samplingOf(body, max), ...(stop ? { stop } : {}), ...(format ? { format } : {}) })
        .catch(contextLengthError('prompt')),
    );
  });

  app.post('/v1/embeddings', async (request, reply) => {
    const body = parse(embeddingSchema, request.body);
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (!inputs.every((item): item is string => typeof item === 'string')) {
      throw new ApiError(
        400,
        'input must be a string or an array of strings; token arrays are not supported.',
        'invalid_request_error',
        'unsupported_value',
        'input',
      );
    }
    if (body.dimensions !== null && body.dimensions !== undefined)
      throw new ApiError(
        400,
        'dimensions is not supported: the model decides the size.',
        'invalid_request_error',
        'unsupported_value',
        'dimensions',
      );
    const { id: modelId, model } = resolve(body.model);
    const file = model.files[0]!;
    let embeds = embeddingCache.get(file);
    if (embeds === undefined) {
      embeds = await isEmbeddingModel(file).catch(() => false);
      embeddingCache.set(file, embeds);
    }
    if (!embeds) {
      throw new ApiError(
        400,
        `"${modelId}" is a text-generation model, not an embedding model; load an embedding model (nomic-embed-text, bge, Qwen3-Embedding…) for /v1/embeddings.`,
        'invalid_request_error',
        'model_not_embedding',
        'model',
      );
    }
    checkQueue();
    const requestId = `embd-${randomBytes(9).toString('base64url')}`;
    const connection = watchDisconnect(reply, requestId);
    const result = await inference.schedule('api', requestId, () => {
      if (connection.gone) throw new RpcError('aborted', 'The client went away.');
      return inference.supervisor.embed({ modelPath: file, inputs });
    });
    connection.done = true;
    const base64 = body.encoding_format === 'base64';
    return {
      object: 'list',
      data: result.vectors.map((vector, index) => ({
        object: 'embedding',
        index,
        embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector,
      })),
      model: modelId,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    };
  });

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  allowedHosts = allowedHostHeaders(options.host, port);
  const displayHost =
    options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host.includes(':') ? `[${options.host}]` : options.host;
  log(`api: listening on ${options.host}:${port}${requireKey ? '' : ' (no key: loopback only)'}`);
  return {
    url: `http://${displayHost}:${port}/v1`,
    port,
    close: () => app.close(),
  };
}

export { MAX_TOKENS_LIMIT };
