import type { FastifyReply } from 'fastify';
import type { ModelEntry } from '../../../shared/library';
import type { InferenceService } from '../../inference/inference-service';
import type { ModelLibrary } from '../../library/model-library';
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
  log: (line: string) => void;
  /** The library model a request names; 404 if none. */
  resolve(requested: string): { id: string; model: ModelEntry };
  /** 429 when too many requests already wait for the model. */
  checkQueue(): void;
  /** Stops the request's generation (or withdraws it from the queue) if the client hangs up first. */
  watchDisconnect(reply: FastifyReply, requestId: string): { gone: boolean; done: boolean };
}

export function routeContext(options: {
  inference: ApiInference;
  library: ModelLibrary;
  log: (line: string) => void;
  maxWaiting: number;
}): RouteContext {
  const { inference, library, maxWaiting } = options;
  return {
    split: () => null,
    inference,
    library,
    log: options.log,
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
      const state = { gone: false, done: false };
      reply.raw.on('close', () => {
        if (state.done || reply.raw.writableFinished) return;
        state.gone = true;
        void inference.abort(requestId).catch(() => undefined);
      });
      return state;
    },
  };
}
