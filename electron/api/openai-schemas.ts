/**
 * Request bodies of the OpenAI endpoints Freehold serves. Fields clients send
 * that change nothing here (user, metadata, store…) are accepted and ignored;
 * fields that would change the answer in a way Freehold cannot honour (legacy
 * functions, n > 1, logprobs, media for a model that cannot take it) are
 * refused by the server with a clear message, never silently ignored.
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
/** Any other part, kept whole: images (`image_url`) and audio (`input_audio`) are read by media-parts.ts, the rest refused. */
const otherPart = z.looseObject({ type: z.string().max(100) });
const content = z.union([z.string().max(4_000_000), z.array(z.union([textPart, otherPart])).max(10_000)]).nullish();

const toolCall = z.object({
  id: z.string().min(1).max(200),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().min(1).max(200), arguments: z.string().max(4_000_000) }),
});

const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content,
  name: z.string().max(200).nullish(),
  tool_calls: z.array(toolCall).max(1000).nullish(),
  tool_call_id: z.string().min(1).max(200).nullish(),
});

const tool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1).max(200),
    description: z.string().max(100_000).nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1).max(200) }) }),
]);

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
  tools: z.array(tool).max(128).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  /** Thinking, for models that reason: OpenAI's effort, the enable_thinking switch vLLM and llama-server take, and a budget in tokens. */
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high']).nullish(),
  chat_template_kwargs: z.object({ enable_thinking: z.boolean().nullish() }).nullish(),
  thinking_budget: z.number().int().min(0).max(1_048_576).nullish(),
  functions: z.array(z.unknown()).nullish(),
  function_call: z.unknown().optional(),
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
