import { SchemaChecker } from '../../formats/json-schema-check';
import type { FastifyReply } from 'fastify';
import type { ModelEntry } from '../../../shared/library';
import type { InferenceService } from '../../inference/inference-service';
import type { ModelLibrary } from '../../library/model-library';
import { servedRequest } from '../access';
import type { EngineSettings } from '../media-parts';
import { resolveApiModel } from '../model-ids';
import { ApiError } from '../responses';

/** What the routes use of the inference service: jobs in the queue, its status, and stopping a request. */
export type ApiInference = Pick<InferenceService, 'run' | 'status' | 'abort'>;

/** A split model's llama-server (electron/engines/split-service.ts): the API passes its requests through. */
export interface SplitEndpoint {
  /** Its id in /v1/models: "split:<model name>". */
  id: string;
  url: string;
  apiKey: string;
}

/** What every route shares: the services, and the checks each request makes. */
export interface RouteContext {
  /** The split model running here, if any. */
  split: () => SplitEndpoint | null;
  inference: ApiInference;
  library: ModelLibrary;
  /** The engine each library model is set to run on (settings.inference.engines): a model pinned to node-llama-cpp takes text only. */
  engines: () => EngineSettings;
  /** The API's usual body limit (bytes). */
  bodyLimit: number;
  log: (line: string) => void;
  /** Checks a tool call's arguments against its function's whole schema (json-schema-check.ts). */
  checker: SchemaChecker;
  /** The library model a request names; 404 if none. */
  resolve(requested: string): { id: string; model: ModelEntry };
  /** 429 when too many requests already wait for the model. */
  checkQueue(): void;
  /**
   * Stops the request's generation (or withdraws it from the queue) if the client hangs up first, or if
   * the key it came with is revoked meanwhile: then `revoked` holds the 401 to answer and `onRevoked`
   * (set by the route) ends a stream already open.
   */
  watchDisconnect(reply: FastifyReply, requestId: string): Connection;
  /** Counts tokens served to the request's key (its counters and its log line). */
  countTokens(reply: FastifyReply, tokens: number): void;
}

/** A request's state as its route follows it. */
export interface Connection {
  /** The client hung up. */
  gone: boolean;
  /** The answer is complete. */
  done: boolean;
  /** The key it came with was revoked: the error to answer (or to end the stream with). */
  revoked: ApiError | null;
  onRevoked?: (error: ApiError) => void;
}

export function routeContext(options: {
  inference: ApiInference;
  library: ModelLibrary;
  engines?: () => EngineSettings;
  bodyLimit: number;
  log: (line: string) => void;
  maxWaiting: number;
  /** Counts tokens served with a key (its id). */
  recordTokens?: (keyId: string, tokens: number) => void;
}): RouteContext {
  const { inference, library, maxWaiting } = options;
  return {
    split: () => null,
    inference,
    library,
    engines: options.engines ?? (() => ({})),
    bodyLimit: options.bodyLimit,
    log: options.log,
    checker: new SchemaChecker({ log: options.log }),
    resolve(requested) {
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
    },
    checkQueue() {
      if (inference.status().queue.waiting >= maxWaiting)
        throw new ApiError(
          429,
          `${maxWaiting} requests are already waiting for the model; try again shortly.`,
          'rate_limit_error',
          'queue_full',
        );
    },
    watchDisconnect(reply, requestId) {
      const state: Connection = { gone: false, done: false, revoked: null };
      reply.raw.on('close', () => {
        if (state.done || reply.raw.writableFinished) return;
        state.gone = true;
        void inference.abort(requestId).catch(() => undefined);
      });
      const signal = servedRequest(reply.request.raw)?.revoked;
      const onRevoked = () => {
        if (state.done || state.gone || state.revoked) return;
        state.revoked = signal!.reason as ApiError;
        void inference.abort(requestId).catch(() => undefined);
        state.onRevoked?.(state.revoked);
      };
      if (signal?.aborted) onRevoked();
      else signal?.addEventListener('abort', onRevoked, { once: true });
      return state;
    },
    countTokens(reply, tokens) {
      const served = servedRequest(reply.request.raw);
      if (!served || !Number.isFinite(tokens) || tokens <= 0) return;
      served.tokens += tokens;
      if (served.key) options.recordTokens?.(served.key.id, tokens);
    },
  };
}
