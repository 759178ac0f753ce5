/**
 * A reply's input as llama-server's OpenAI endpoint takes it (with `--jinja`,
 * the model's own template renders tools and calls): the history with each
 * call and its result where it was made, the tools and tool_choice, an output
 * format as `response_format`, thinking on or off, and the sampling fields
 * (openai-reply.ts). And the tool calls of its streamed answer, read back into
 * the worker's call deltas.
 */
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import type { ChatMessage, DeltaPart, GenerateInput } from '../../shared/inference';
import { requestBody } from '../machines/openai-reply';

type Message = Record<string, unknown>;

/** The history in OpenAI's messages: an assistant turn's calls as tool_calls, each followed by its tool message. */
function messagesOf(system: string | undefined, messages: readonly ChatMessage[]): Message[] {
  const out: Message[] = system ? [{ role: 'system', content: system }] : [];
  let callId = 0;
  for (const message of messages) {
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

/** The streaming chat request for `input` on the model served as `model`. */
export function serverRequestBody(model: string, input: GenerateInput): ChatCompletionCreateParamsStreaming {
  const body = requestBody(model, input) as unknown as Record<string, unknown>;
  body.messages = messagesOf(input.system, input.messages);
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
  if (input.thinking) body.chat_template_kwargs = { enable_thinking: input.thinking.enabled };
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
