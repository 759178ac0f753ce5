import type { FastifyInstance } from 'fastify';
import { completionSchema } from '../openai-schemas';
import { outputFormat, parse, refuseUnsupported, samplingOf, stopsOf } from '../requests';
import { ApiError } from '../responses';
import type { RouteContext } from './context';
import { answerGeneration } from './generation';

/** POST /v1/completions: plain text completion, no chat template. */
export function completionRoute(app: FastifyInstance, context: RouteContext): void {
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
    return answerGeneration(context, reply, 'text', body, maxTokens, {
      kind: 'complete',
      input: (max) => ({ prompt, sampling: samplingOf(body, max), ...(stop ? { stop } : {}), ...(format ? { format } : {}) }),
    });
  });
}
