/**
 * The local OpenAI-compatible API: /v1/models, /v1/chat/completions,
 * /v1/completions and /v1/embeddings over the same engine, queue and library
 * as the UI. Secure by default: loopback only unless asked otherwise (then
 * the key is always required), a Host allow-list against DNS rebinding, CORS
 * only for listed origins, named bearer keys found by hash in constant time
 * (a revoked one refused at once, its open streams ended), bounded bodies and
 * max_tokens, no file paths in or out. Each request is logged with the name
 * of the key it came with, never the key.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { allowedHostHeaders, isLoopbackAddress } from '../platform/http-security';
import type { ModelLibrary } from '../library/model-library';
import { checkAccess, closingStatuses, revokedKeyError, servedRequest, singleKey, type ApiKeyAuthority, type RunningByKey } from './access';
import type { EngineSettings } from './media-parts';
import { API_BODY_LIMIT, ApiError, errorBody, toApiError } from './responses';
import { chatCompletionRoute } from './routes/chat-completions';
import { completionRoute } from './routes/completions';
import { routeContext, type SplitEndpoint, type ApiInference } from './routes/context';
import { embeddingRoute } from './routes/embeddings';
import { modelRoutes } from './routes/models';

export interface ApiServerOptions {
  inference: ApiInference;
  /** The split model running here, if any (its llama-server): served under its own id, passed through. */
  split?: () => SplitEndpoint | null;
  library: ModelLibrary;
  /** The engine each library model is set to run on (settings.inference.engines). */
  engines?: () => EngineSettings;
  host: string;
  port: number;
  /** The keys that open it (the named keys); or `key`, one key named "default". */
  keys?: ApiKeyAuthority;
  key?: () => string;
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

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const log = options.log ?? (() => undefined);
  const requireKey = options.requireKey || !isLoopbackAddress(options.host);
  const timeouts = { ...API_TIMEOUTS, ...options.timeouts };
  let allowedHosts = new Set<string>();

  const bodyLimit = options.bodyLimit ?? API_BODY_LIMIT;
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit,
    requestTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    http: { headersTimeout: timeouts.headersMs, connectionsCheckingInterval: timeouts.checkEveryMs },
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  // JSON only: a text/plain POST is what a hostile page can send without a CORS preflight.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error, request.routeOptions.bodyLimit ?? bodyLimit);
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

  const keys = options.keys ?? singleKey(options.key ?? (() => ''));
  // Requests running now, by key id: revoking a key aborts them (a 401 for those not answering yet, an error event for streams).
  const running: RunningByKey = new Map();
  const stopRevoked = keys.onRevoked((ids) => {
    for (const id of ids) {
      const entry = running.get(id);
      running.delete(id);
      for (const request of entry?.requests ?? []) request.abort(revokedKeyError(entry!.name));
    }
  });

  // One line per request, when it ends: what, the answer's status, the key's name (never the key), time and tokens.
  app.addHook('onRequest', async (request, reply) => {
    const started = performance.now();
    reply.raw.once('close', () => {
      const served = servedRequest(request.raw);
      const revoked = served?.revoked.aborted === true;
      const cut = !revoked && !reply.raw.writableFinished;
      const ms = Math.round(performance.now() - started);
      log(
        `api: ${request.method} ${request.url.split('?')[0]} ${reply.raw.statusCode} key=${served?.key?.name ?? 'none'} ${ms}ms` +
          `${served?.tokens ? ` tokens=${served.tokens}` : ''}${revoked ? ' (ended: key revoked)' : cut ? ' (client went away)' : ''}`,
      );
    });
  });
  checkAccess(app, { allowedHosts: () => allowedHosts, corsOrigins: new Set(options.corsOrigins), requireKey, keys, running });

  const context = routeContext({
    inference: options.inference,
    library: options.library,
    engines: options.engines,
    bodyLimit,
    log,
    maxWaiting: options.maxWaiting ?? 64,
    recordTokens: (id, tokens) => keys.recordUse(id, { tokens }),
  });
  context.split = options.split ?? (() => null);
  modelRoutes(app, context);
  chatCompletionRoute(app, context);
  completionRoute(app, context);
  embeddingRoute(app, context);

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
    close: async () => {
      stopRevoked();
      await app.close();
      await context.checker.close();
    },
  };
}
