/** Reading OpenAI requests: bodies checked against their schemas, what Freehold does not do refused by name, the rest turned into the engine's inputs. */
import type { z } from 'zod';
import {
  toolNameSchema,
  type ChatMessage,
  type HistoryCall,
  type OutputFormat,
  type Sampling,
  type ToolChoice,
  type ToolDefinition,
  type Thinking,
} from '../../shared/inference';
import type { MediaPart } from '../../shared/media';
import { prepareCheckedSchema } from '../formats/json-schema-check';
import { isMediaPart } from './media-parts';
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

function textOf(message: ChatCompletionRequest['messages'][number], index: number): string {
  const content = message.content;
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  const texts: string[] = [];
  content.forEach((part, at) => {
    // A user message's images and audio go beside its text (media-parts.ts).
    if (message.role === 'user' && isMediaPart(part)) return;
    if (part.type !== 'text' || !('text' in part) || typeof part.text !== 'string') {
      throw new ApiError(
        400,
        isMediaPart(part)
          ? `messages[${index}].content[${at}]: images and audio are taken in user messages only, not in ${message.role} messages.`
          : `Content of type "${part.type}" is not supported; only text, images (image_url) and audio (input_audio).`,
        'invalid_request_error',
        isMediaPart(part) ? 'invalid_value' : 'unsupported_content',
        isMediaPart(part) ? `messages[${index}].content[${at}]` : `messages.${index}.content.${at}`,
      );
    }
    texts.push(part.text);
  });
  return texts.join('\n');
}

const badMessage = (message: string, param: string) => new ApiError(400, message, 'invalid_request_error', 'invalid_value', param);

/**
 * The conversation as the engine takes it. An assistant message's tool calls
 * and the tool messages answering them (and any assistant text after them)
 * become one assistant message with its calls in place, as the model's chat
 * template renders them; a conversation ending with tool results is continued
 * from there. A user message carries its checked images and audio (`media`,
 * by message index: media-parts.ts). OpenAI's rules hold: each call is answered by exactly one tool
 * message with its id, and tool messages answer only the calls before them.
 */
export function chatMessages(body: ChatCompletionRequest, media: ReadonlyMap<number, MediaPart[]> = new Map()): ChatMessage[] {
  const messages: ChatMessage[] = [];
  /** Calls of the assistant message being built that have no result yet, by id. */
  let open = new Map<string, { call: HistoryCall; index: number }>();
  let openSince = -1;
  const closeTurn = (index: number) => {
    if (open.size === 0) return;
    const [id] = open.keys();
    throw badMessage(
      `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open.keys()].join(', ')} (message ${openSince}; message ${index} came first).`,
      `messages.${open.get(id!)!.index}`,
    );
  };
  body.messages.forEach((message, index) => {
    if (message.role === 'function')
      throw new ApiError(
        400,
        'The "function" role (legacy function calling) is not supported; use tools and "tool" messages.',
        'invalid_request_error',
        'unsupported_value',
        `messages.${index}.role`,
      );
    const text = textOf(message, index);
    if (message.role === 'tool') {
      const id = message.tool_call_id;
      if (!id)
        throw badMessage(
          `messages.${index}: a tool message needs the tool_call_id of the call it answers.`,
          `messages.${index}.tool_call_id`,
        );
      const waiting = open.get(id);
      if (!waiting)
        throw badMessage(
          `messages.${index}: tool_call_id "${id}" does not answer a tool call of the assistant message before it.`,
          `messages.${index}.tool_call_id`,
        );
      waiting.call.result = text;
      open.delete(id);
      return;
    }
    if (message.role === 'assistant') {
      const previous = messages[messages.length - 1];
      // Text after tool results continues the same turn of the model.
      const continuing =
        open.size === 0 &&
        previous?.role === 'assistant' &&
        (previous.calls?.length ?? 0) > 0 &&
        index > 0 &&
        body.messages[index - 1]!.role === 'tool';
      const target: Extract<ChatMessage, { role: 'assistant' }> = continuing
        ? (previous as typeof target)
        : { role: 'assistant', text: '' };
      closeTurn(index);
      target.text += text;
      if (message.tool_calls?.length) {
        target.calls ??= [];
        openSince = index;
        open = new Map();
        message.tool_calls.forEach((call, at) => {
          const name = toolNameSchema.safeParse(call.function.name);
          if (!name.success)
            throw badMessage(
              `messages.${index}.tool_calls.${at}.function.name: ${name.error.issues[0]!.message}.`,
              `messages.${index}.tool_calls.${at}.function.name`,
            );
          if (open.has(call.id))
            throw badMessage(`messages.${index}: tool call id "${call.id}" is used twice.`, `messages.${index}.tool_calls.${at}.id`);
          const entry: HistoryCall = { name: call.function.name, arguments: call.function.arguments, result: '', at: target.text.length };
          target.calls!.push(entry);
          open.set(call.id, { call: entry, index });
        });
      }
      if (!continuing) messages.push(target);
      return;
    }
    closeTurn(index);
    if (message.role === 'system' || message.role === 'developer') messages.push({ role: 'system', text });
    else {
      const parts = media.get(index);
      messages.push({ role: 'user', text, ...(parts?.length ? { media: parts } : {}) });
    }
  });
  closeTurn(body.messages.length);
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

/**
 * The tools a request offers and its tool_choice; none when it offers none.
 * A function with `strict: true` is held whole by the grammar, or refused
 * naming the keyword it cannot hold (OpenAI's rule); without it, such keywords
 * are relaxed to their type and the function's schema is in `checks`, for the
 * call to be checked against once written.
 */
export function toolsOf(body: ChatCompletionRequest):
  | {
      tools: ToolDefinition[];
      toolChoice: ToolChoice;
      parallelToolCalls: boolean;
      /** The whole schemas of the functions whose calls the grammar does not hold entirely, by name. */
      checks: Map<string, unknown>;
    }
  | undefined {
  if (body.functions?.length || body.function_call !== undefined)
    throw new ApiError(
      400,
      'Legacy "functions" and "function_call" are not supported; send "tools" and "tool_choice".',
      'invalid_request_error',
      'unsupported_value',
      body.functions?.length ? 'functions' : 'function_call',
    );
  const choice = body.tool_choice ?? undefined;
  if (!body.tools?.length) {
    if (choice && choice !== 'none' && choice !== 'auto')
      throw badMessage('tool_choice is only allowed when tools are specified.', 'tool_choice');
    return undefined;
  }
  const names = new Set<string>();
  const checks = new Map<string, unknown>();
  const tools = body.tools.map((tool, index): ToolDefinition => {
    const fn = tool.function;
    const name = toolNameSchema.safeParse(fn.name);
    if (!name.success) throw badMessage(`tools.${index}.function.name: ${name.error.issues[0]!.message}.`, `tools.${index}.function.name`);
    if (names.has(fn.name)) throw badMessage(`tools.${index}.function.name: "${fn.name}" is given twice.`, `tools.${index}.function.name`);
    names.add(fn.name);
    let parameters: Record<string, unknown> | undefined;
    if (fn.parameters && Object.keys(fn.parameters).length > 0) {
      const prepared = prepareCheckedSchema(fn.parameters, fn.strict === true);
      if (prepared.ok && prepared.relaxed.length) checks.set(fn.name, fn.parameters);
      if (!prepared.ok)
        throw new ApiError(
          400,
          `tools.${index}.function.parameters cannot be enforced: ${prepared.problem}.`,
          'invalid_request_error',
          'unsupported_schema',
          `tools.${index}.function.parameters`,
        );
      if (prepared.schema.type !== 'object')
        throw badMessage(
          `tools.${index}.function.parameters must be a JSON schema of type "object".`,
          `tools.${index}.function.parameters`,
        );
      parameters = prepared.schema;
    }
    return { name: fn.name, ...(fn.description ? { description: fn.description } : {}), ...(parameters ? { parameters } : {}) };
  });
  let toolChoice: ToolChoice = 'auto';
  if (typeof choice === 'string') toolChoice = choice;
  else if (choice) {
    if (!names.has(choice.function.name))
      throw badMessage(`tool_choice names the function "${choice.function.name}", which is not in tools.`, 'tool_choice.function.name');
    toolChoice = { name: choice.function.name };
  }
  if (toolChoice !== 'none' && body.response_format && body.response_format.type !== 'text')
    throw new ApiError(
      400,
      'response_format cannot be combined with tools (unless tool_choice is "none").',
      'invalid_request_error',
      'unsupported_value',
      'response_format',
    );
  return { tools, toolChoice, parallelToolCalls: body.parallel_tool_calls ?? true, checks };
}

export function outputFormat(body: Pick<ChatCompletionRequest, 'response_format'>): OutputFormat | undefined {
  const format = body.response_format;
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json' };
  const schema = format.json_schema.schema;
  if (!schema) return { type: 'json' };
  // Checked and bounded here, so that the worker only ever builds a grammar it can build quickly.
  const prepared = prepareCheckedSchema(schema, format.json_schema.strict === true);
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

/** Thought budgets (tokens) for OpenAI's reasoning_effort levels; "high" is unbounded. */
export const EFFORT_BUDGETS = { minimal: 256, low: 1024, medium: 4096 } as const;

/**
 * Thinking, where the request says: reasoning_effort "none" or
 * chat_template_kwargs.enable_thinking false turn it off; an effort or
 * thinking_budget bounds it (0 is off). Unsaid, the model thinks as it does.
 */
export function thinkingOf(body: ChatCompletionRequest): Thinking | undefined {
  const effort = body.reasoning_effort ?? undefined;
  const enabled = body.chat_template_kwargs?.enable_thinking ?? undefined;
  const budget = body.thinking_budget ?? undefined;
  if (effort === 'none' || enabled === false || budget === 0) return { enabled: false };
  if (budget !== undefined) return { enabled: true, budget };
  if (effort && effort !== 'high') return { enabled: true, budget: EFFORT_BUDGETS[effort] };
  if (effort === 'high' || enabled === true) return { enabled: true };
  return undefined;
}
