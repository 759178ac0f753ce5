import type { FastifyInstance } from 'fastify';
import { chatCompletionSchema } from '../openai-schemas';
import { chatMessages, outputFormat, parse, refuseUnsupported, samplingOf, stopsOf } from '../requests';
import { ApiError } from '../responses';
import type { RouteContext } from './context';
import { answerGeneration } from './generation';

/** POST /v1/chat/completions: a reply with the model's chat template, streamed or whole. */
export function chatCompletionRoute(app: FastifyInstance, context: RouteContext): void {
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
    return answerGeneration(context, reply, 'chat', body, maxTokens, {
      kind: 'generate',
      input: (max) => ({ messages, sampling: samplingOf(body, max), ...(stop ? { stop } : {}), ...(format ? { format } : {}) }),
    });
  });
}
