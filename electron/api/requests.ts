/** Reading OpenAI requests: bodies checked against their schemas, what Freehold does not do refused by name, the rest turned into the engine's inputs. */
import type { z } from 'zod';
import type { ChatMessage, OutputFormat, Sampling } from '../../shared/inference';
import { prepareJsonSchema } from './json-schema-support';
import type { ChatCompletionRequest, CompletionRequest } from './openai-schemas';
import { ApiError } from './responses';

/** Temperature when a request gives none (llama.cpp's server uses the same). */
export const DEFAULT_TEMPERATURE = 0.8;

export function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'The request body must be a JSON object.');
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const param = issue.path.map(String).join('.') || null;
  throw new ApiError(400, `${param ? `${param}: ` : ''}${issue.message}`, 'invalid_request_error', 'invalid_value', param);
}

function seed32(seed: number | null | undefined): number | undefined {
  if (seed === null || seed === undefined) return undefined;
  return ((seed % 2 ** 32) + 2 ** 32) % 2 ** 32;
}

export function refuseUnsupported(body: { n?: number | null; logprobs?: boolean | number | null }): void {
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

export function chatMessages(body: ChatCompletionRequest): ChatMessage[] {
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

export function outputFormat(body: Pick<ChatCompletionRequest, 'response_format'>): OutputFormat | undefined {
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

export function samplingOf(
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

export function stopsOf(stop: string | string[] | null | undefined): string[] | undefined {
  if (stop === null || stop === undefined) return undefined;
  return typeof stop === 'string' ? [stop] : stop.length ? stop : undefined;
}
