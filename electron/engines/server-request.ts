/**
 * A reply's input as llama-server's OpenAI endpoint takes it (with `--jinja`,
 * the model's own template renders tools and calls): the history with each
 * call and its result where it was made, a user message's images and audio as
 * OpenAI content parts, the tools and tool_choice, an output format as
 * `response_format`, thinking on or off (and its budget), the slot it runs on
 * (its conversation's, so that the earlier turns are not read again) and the
 * sampling fields (openai-reply.ts). And the tool calls of its streamed
 * answer, read back into the worker's call deltas.
 */
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import type { ChatMessage, DeltaPart, GenerateInput } from '../../shared/inference';
import type { MediaPart } from '../../shared/media';
import { requestBody } from '../machines/openai-reply';

type Message = Record<string, unknown>;

/** llama.cpp's input_audio formats by MIME type (it decodes WAV and MP3 with miniaudio). */
const audioFormats: Record<string, string> = { 'audio/wav': 'wav', 'audio/x-wav': 'wav', 'audio/wave': 'wav', 'audio/mpeg': 'mp3' };

/** A user message's content: its text alone, or (with images or audio) a text part and a part per image or clip. */
export function userContent(text: string, media: readonly MediaPart[] | undefined): string | Array<Record<string, unknown>> {
  if (!media?.length) return text;
  return [
    { type: 'text', text },
    ...media.map((part) =>
      part.kind === 'audio'
        ? { type: 'input_audio', input_audio: { data: part.data, format: audioFormats[part.mime] ?? part.mime.replace(/^audio\//, '') } }
        : { type: 'image_url', image_url: { url: `data:${part.mime};base64,${part.data}` } },
    ),
  ];
}

/** The history in OpenAI's messages: an assistant turn's calls as tool_calls, each followed by its tool message. */
function messagesOf(system: string | undefined, messages: readonly ChatMessage[]): Message[] {
  const out: Message[] = system ? [{ role: 'system', content: system }] : [];
  let callId = 0;
  for (const message of messages) {
    if (message.role === 'user') {
      out.push({ role: 'user', content: userContent(message.text, message.media) });
      continue;
    }
    if (message.role !== 'assistant' || !message.calls?.length) {
      out.push({ role: message.role, content: message.text });
      continue;
    }
    // Calls made at the same point form one turn, with the text written before them; their results follow it.
    let at = 0;
    let text = '';
    let group: Array<{ id: string; name: string; arguments: string; result: string }> = [];
    const flush = () => {
      if (!group.length) return;
      out.push({
        role: 'assistant',
        content: text || null,
        tool_calls: group.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
      });
      for (const call of group) out.push({ role: 'tool', tool_call_id: call.id, content: call.result });
      group = [];
      text = '';
    };
    for (const call of message.calls) {
      const offset = Math.min(Math.max(call.at, at), message.text.length);
      if (offset > at) {
        flush();
        text = message.text.slice(at, offset);
        at = offset;
      }
      group.push({ id: `call_${callId++}`, name: call.name, arguments: call.arguments, result: call.result });
    }
    flush();
    if (at < message.text.length) out.push({ role: 'assistant', content: message.text.slice(at) });
  }
  return out;
}

/**
 * The streaming chat request for `input` on the model served as `model`, on
 * llama-server's slot `slot` when one is given (its cache still holds that
 * conversation's earlier turns).
 */
export function serverRequestBody(model: string, input: GenerateInput, slot?: number): ChatCompletionCreateParamsStreaming {
  const body = requestBody(model, input) as unknown as Record<string, unknown>;
  body.messages = messagesOf(input.system, input.messages);
  // Reuse what the slot already read (llama-server's default; said, so that no setting turns it off).
  body.cache_prompt = true;
  if (slot !== undefined) body.id_slot = slot;
  if (input.stop?.length) body.stop = input.stop;
  const choice = input.toolChoice ?? 'auto';
  if (input.tools?.length && choice !== 'none') {
    body.tools = input.tools.map((tool) => ({
      type: 'function',
      function: {
        name: tool.name,
        ...(tool.description ? { description: tool.description } : {}),
        parameters: tool.parameters ?? { type: 'object', properties: {} },
      },
    }));
    body.tool_choice = typeof choice === 'object' ? { type: 'function', function: { name: choice.name } } : choice;
    if (input.parallelToolCalls === false) body.parallel_tool_calls = false;
  }
  if (input.format)
    body.response_format =
      input.format.type === 'json'
        ? { type: 'json_object' }
        : { type: 'json_schema', json_schema: { name: 'output', schema: input.format.schema } };
  if (input.thinking) {
    body.chat_template_kwargs = { enable_thinking: input.thinking.enabled };
    // llama-server ends the reasoning at the budget (its reasoning_budget sampler) and goes on with the answer.
    if (input.thinking.enabled && input.thinking.budget !== undefined) body.thinking_budget_tokens = input.thinking.budget;
  }
  return body as unknown as ChatCompletionCreateParamsStreaming;
}

/** Tool calls as they stream: each delta's pieces as call parts, and the calls whole at the end. */
export class ToolCallReader {
  private readonly calls: Array<{ name: string; arguments: string }> = [];

  /** The call parts in one chunk (llama-server sends a call's name once, then its arguments in pieces). */
  read(chunk: ChatCompletionChunk): DeltaPart[] {
    const parts: DeltaPart[] = [];
    for (const choice of chunk.choices ?? [])
      for (const delta of choice.delta?.tool_calls ?? []) {
        const call = (this.calls[delta.index] ??= { name: '', arguments: '' });
        if (delta.function?.name) call.name += delta.function.name;
        const text = delta.function?.arguments ?? '';
        call.arguments += text;
        if (text) parts.push({ kind: 'call', index: delta.index, name: call.name, text });
      }
    return parts;
  }

  result(): Array<{ name: string; arguments: string }> {
    return this.calls.filter((call) => call.name);
  }
}

/** Whether a chat request leaves llama-server nothing to parse in the reply: no tools, output format or thinking budget. */
export function plainReply(body: ChatCompletionCreateParamsStreaming): boolean {
  const b = body as unknown as Record<string, unknown>;
  return b.tools === undefined && b.response_format === undefined && b.thinking_budget_tokens === undefined;
}

/** The completion request for a chat request whose prompt was rendered as `prompt`: the same sampling, slot and stops. */
export function completionBody(body: ChatCompletionCreateParamsStreaming, prompt: string): Record<string, unknown> {
  const {
    messages: _messages,
    tools: _tools,
    tool_choice: _choice,
    parallel_tool_calls: _parallel,
    response_format: _format,
    chat_template_kwargs: _kwargs,
    ...rest
  } = body as unknown as Record<string, unknown>;
  return { ...rest, prompt };
}

/** A completion chunk (choices[].text) as a chat chunk (its text as delta.content); a chat chunk as it is. */
export function asChatChunk(event: Record<string, unknown>): ChatCompletionChunk {
  const choices = event.choices as Array<Record<string, unknown>> | undefined;
  if (!choices?.some((choice) => typeof choice.text === 'string')) return event as unknown as ChatCompletionChunk;
  return {
    ...event,
    choices: choices.map((choice) => ({
      index: choice.index ?? 0,
      delta: { content: typeof choice.text === 'string' ? choice.text : '' },
      finish_reason: choice.finish_reason ?? null,
    })),
  } as unknown as ChatCompletionChunk;
}
