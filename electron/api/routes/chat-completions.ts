import { PassThrough, Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { chatCompletionSchema } from '../openai-schemas';
import { chatMessages, outputFormat, parse, refuseUnsupported, samplingOf, stopsOf, thinkingOf, toolsOf } from '../requests';
import { servedRequest } from '../access';
import { CHAT_MEDIA_BODY_LIMIT, hasMediaParts, requestMedia } from '../media-parts';
import { apiModelIds } from '../model-ids';
import { ApiError, bodyTooLarge, errorBody } from '../responses';
import type { RouteContext, SplitEndpoint } from './context';
import { answerGeneration } from './generation';

/**
 * A request for the split model goes to its llama-server (same OpenAI API) as
 * it came, under that server's own key, and its answer (streamed or whole,
 * errors included) comes back as it is. A client that hangs up ends it there;
 * a key revoked meanwhile ends it too, a stream with an error event.
 */
async function passThrough(split: SplitEndpoint, body: unknown, reply: FastifyReply): Promise<FastifyReply> {
  const controller = new AbortController();
  reply.raw.on('close', () => controller.abort());
  const revocation = servedRequest(reply.request.raw)?.revoked;
  const revoked = () => (revocation?.aborted ? (revocation.reason as ApiError) : null);
  const onRevoked = () => controller.abort();
  revocation?.addEventListener('abort', onRevoked, { once: true });
  reply.raw.once('close', () => revocation?.removeEventListener('abort', onRevoked));
  let upstream: Response;
  try {
    if (revoked()) throw revoked();
    upstream = await fetch(`${split.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${split.apiKey}` },
      body: JSON.stringify({ ...(body as object), model: split.id }),
      signal: controller.signal,
    });
  } catch (error) {
    throw revoked() ?? new ApiError(503, `The split model is not answering: ${(error as Error).message}`, 'server_error', 'unavailable');
  }
  reply.code(upstream.status);
  reply.header('Content-Type', upstream.headers.get('content-type') ?? 'application/json');
  if (!upstream.body) return reply.send('');
  const streaming = /^text\/event-stream/i.test(upstream.headers.get('content-type') ?? '');
  const source = Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream);
  const out = new PassThrough();
  source.pipe(out, { end: false });
  source.on('end', () => out.end());
  source.on('error', () => {
    source.unpipe(out);
    const error = revoked();
    // A stream ends with the error event (after any event cut short); a whole answer cut short can only be dropped.
    if (error && streaming) out.end(`\n\ndata: ${JSON.stringify(errorBody(error))}\n\n`);
    else out.destroy();
  });
  return reply.send(out);
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * POST /v1/chat/completions: a reply with the model's chat template, streamed or whole. Its body may be as large
 * as one message's media at the limit (in base64) when it carries images or audio; otherwise the API's usual limit.
 */
export function chatCompletionRoute(app: FastifyInstance, context: RouteContext): void {
  const mediaLimit = Math.max(context.bodyLimit, CHAT_MEDIA_BODY_LIMIT);
  app.post('/v1/chat/completions', { bodyLimit: mediaLimit }, async (request, reply) => {
    if (Number(request.headers['content-length']) > context.bodyLimit && !hasMediaParts(request.body))
      throw bodyTooLarge(context.bodyLimit, mediaLimit);
    const split = context.split();
    if (split && (request.body as { model?: unknown } | null)?.model === split.id) return passThrough(split, request.body, reply);
    const body = parse(chatCompletionSchema, request.body);
    refuseUnsupported(body);
    const offered = toolsOf(body);
    const checks = offered?.checks ?? new Map<string, unknown>();
    const tools = offered
      ? { tools: offered.tools, toolChoice: offered.toolChoice, parallelToolCalls: offered.parallelToolCalls }
      : undefined;
    const media = hasMediaParts(body)
      ? await requestMedia(body, {
          ...context.resolve(body.model),
          models: apiModelIds(context.library.snapshot().models),
          engines: context.engines(),
        })
      : undefined;
    const messages = chatMessages(body, media);
    const format = tools && tools.toolChoice !== 'none' ? undefined : outputFormat(body);
    const thinking = thinkingOf(body);
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
    const stop = stopsOf(body.stop);
    return answerGeneration(context, reply, 'chat', body, maxTokens, {
      kind: 'generate',
      input: (max) => ({
        messages,
        sampling: samplingOf(body, max),
        ...(stop ? { stop } : {}),
        ...(format ? { format } : {}),
        ...(tools ?? {}),
        ...(thinking ? { thinking } : {}),
      }),
      // A call of a function whose schema the grammar did not hold whole is checked: one that does not match is
      // returned as the model wrote it (as OpenAI does without strict), and the log says so.
      onResult: (result) => {
        for (const call of result.toolCalls ?? []) {
          const schema = checks.get(call.name);
          if (schema === undefined) continue;
          void context.checker.check(schema, parseArguments(call.arguments)).then((checked) => {
            if (!checked.valid)
              context.log(`api: a call of "${call.name}" does not match its schema (returned as written): ${checked.message}`);
          });
        }
      },
    });
  });
}
