import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { isEmbeddingModel } from '../../formats/embedding-model';
import { embeddingSchema } from '../openai-schemas';
import { parse } from '../requests';
import { ApiError, embeddingList } from '../responses';
import type { RouteContext } from './context';

/** POST /v1/embeddings: for embedding models only, in the engine's embedding slot. */
export function embeddingRoute(app: FastifyInstance, context: RouteContext): void {
  const embeddingCache = new Map<string, boolean>();
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
    const { id: modelId, model } = context.resolve(body.model);
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
    context.checkQueue();
    const requestId = `embd-${randomBytes(9).toString('base64url')}`;
    const connection = context.watchDisconnect(reply, requestId);
    const result = await context.inference
      .run(
        'api',
        requestId,
        { path: file, slot: 'embedding' },
        { kind: 'embed', input: { inputs } },
        { cancelled: () => connection.gone || connection.revoked !== null },
      )
      .catch((error: unknown) => {
        throw connection.revoked ?? error;
      });
    connection.done = true;
    if (connection.revoked) throw connection.revoked;
    context.countTokens(reply, result.promptTokens);
    return embeddingList(modelId, result.vectors, result.promptTokens, body.encoding_format === 'base64');
  });
}
