/**
 * Request bodies of the OpenAI endpoints Freehold serves. Fields clients send
 * that change nothing here (user, metadata, store…) are accepted and ignored;
 * fields that would change the answer in a way Freehold cannot honour (tools,
 * n > 1, logprobs, images) are refused by the server with a clear message,
 * never silently ignored.
 */
import { z } from 'zod';

/** No request may ask for more than this many tokens; the loaded context bounds it further. */
export const MAX_TOKENS_LIMIT = 1_048_576;

const maxTokens = z.number().int().min(1).max(MAX_TOKENS_LIMIT).nullish();
const sampling = {
  model: z.string().min(1).max(500),
  max_tokens: maxTokens,
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  seed: z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish(),
  stop: z.union([z.string().min(1).max(1000), z.array(z.string().min(1).max(1000)).max(4)]).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  n: z.number().int().min(1).max(128).nullish(),
  logprobs: z.union([z.boolean(), z.number()]).nullish(),
};

const textPart = z.object({ type: z.literal('text'), text: z.string().max(4_000_000) });
const otherPart = z.object({ type: z.string().max(100) });
const content = z.union([z.string().max(4_000_000), z.array(z.union([textPart, otherPart])).max(10_000)]).nullish();

const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content,
  name: z.string().max(200).nullish(),
  tool_calls: z.array(z.unknown()).nullish(),
});

export const responseFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: z.string().min(1).max(200),
      description: z.string().max(10_000).nullish(),
      schema: z.record(z.string(), z.unknown()).nullish(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

export const chatCompletionSchema = z.object({
  ...sampling,
  max_completion_tokens: maxTokens,
  messages: z.array(message).min(1).max(10_000),
  response_format: responseFormatSchema.nullish(),
  tools: z.array(z.unknown()).nullish(),
  functions: z.array(z.unknown()).nullish(),
  tool_choice: z.unknown().optional(),
  top_logprobs: z.number().nullish(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionSchema>;

export const completionSchema = z.object({
  ...sampling,
  prompt: z.union([z.string().max(4_000_000), z.array(z.string().max(4_000_000)).min(1).max(1)]),
  response_format: responseFormatSchema.nullish(),
  echo: z.boolean().nullish(),
  suffix: z.string().nullish(),
  best_of: z.number().int().nullish(),
});
export type CompletionRequest = z.infer<typeof completionSchema>;

export const embeddingSchema = z.object({
  model: z.string().min(1).max(500),
  input: z.union([
    z.string().max(4_000_000),
    z.array(z.string().max(4_000_000)).min(1).max(2048),
    z.array(z.number()),
    z.array(z.array(z.number())),
  ]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.number().int().nullish(),
  user: z.string().nullish(),
});
export type EmbeddingRequest = z.infer<typeof embeddingSchema>;
