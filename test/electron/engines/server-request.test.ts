import { describe, expect, it } from 'vitest';
import { asChatChunk, completionBody, plainReply, serverRequestBody } from '../../../electron/engines/server-request';
import { ForcedToolCall } from '../../../electron/engines/server-tools';
import { SlotPicker } from '../../../electron/engines/server-slots';
import { fitRefusal, kvBytesPerToken, serverFit } from '../../../electron/engines/server-fit';
import type { GgufHeader } from '../../../electron/formats/gguf-header';

describe('a reply as llama-server takes it', () => {
  it('puts each call where it was made: text before it, calls made together in one turn, their results after, the rest as its own turn', () => {
    const body = serverRequestBody('m', {
      requestId: 'r',
      system: 'Be brief.',
      messages: [
        { role: 'user', text: 'Weather in Paris and Lyon?' },
        {
          role: 'assistant',
          text: 'Let me look. Both are sunny.',
          calls: [
            { name: 'get_weather', arguments: '{"city":"Paris"}', result: 'Sunny', at: 12 },
            { name: 'get_weather', arguments: '{"city":"Lyon"}', result: 'Sunny too', at: 12 },
          ],
        },
      ],
      tools: [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
      toolChoice: { name: 'get_weather' },
      parallelToolCalls: false,
      format: undefined,
      thinking: { enabled: false },
      sampling: { temperature: 0, maxTokens: 9, topK: 3 },
      stop: ['END'],
    }) as unknown as Record<string, unknown>;
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Weather in Paris and Lyon?' },
      {
        role: 'assistant',
        content: 'Let me look.',
        tool_calls: [
          { id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lyon"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_0', content: 'Sunny' },
      { role: 'tool', tool_call_id: 'call_1', content: 'Sunny too' },
      { role: 'assistant', content: ' Both are sunny.' },
    ]);
    expect(body).toMatchObject({
      model: 'm',
      stream: true,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      chat_template_kwargs: { enable_thinking: false },
      temperature: 0,
      max_tokens: 9,
      top_k: 3,
      stop: ['END'],
    });
  });

  it('sends no tools when the choice is none, and an output format as response_format', () => {
    const body = serverRequestBody('m', {
      requestId: 'r',
      messages: [{ role: 'user', text: 'x' }],
      tools: [{ name: 'f' }],
      toolChoice: 'none',
      format: { type: 'json_schema', schema: { type: 'object' } },
    }) as unknown as Record<string, unknown>;
    expect(body.tools).toBeUndefined();
    expect(body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema: { type: 'object' } } });
  });

  it('a user message with images and audio becomes OpenAI content parts: the text, then a part per image or clip', () => {
    const body = serverRequestBody('m', {
      requestId: 'r',
      messages: [
        {
          role: 'user',
          text: 'What is this?',
          media: [
            { kind: 'image', mime: 'image/png', data: 'iVBORw0KGgo=' },
            { kind: 'image', mime: 'image/jpeg', data: '/9j/4AAQ' },
            { kind: 'audio', mime: 'audio/wav', data: 'UklGRg==' },
            { kind: 'audio', mime: 'audio/mpeg', data: 'SUQz' },
          ],
        },
        { role: 'assistant', text: 'A cat.' },
        { role: 'user', text: 'And now?' },
      ],
    }) as unknown as Record<string, unknown>;
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } },
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
          { type: 'input_audio', input_audio: { data: 'SUQz', format: 'mp3' } },
        ],
      },
      { role: 'assistant', content: 'A cat.' },
      { role: 'user', content: 'And now?' },
    ]);
  });

  it('runs on the slot given, reusing its cache; a thinking budget goes as llama-server’s thinking_budget_tokens', () => {
    const body = serverRequestBody(
      'm',
      { requestId: 'r', messages: [{ role: 'user', text: 'x' }], thinking: { enabled: true, budget: 64 } },
      2,
    ) as unknown as Record<string, unknown>;
    expect(body).toMatchObject({
      id_slot: 2,
      cache_prompt: true,
      chat_template_kwargs: { enable_thinking: true },
      thinking_budget_tokens: 64,
    });
    const plain = serverRequestBody('m', {
      requestId: 'r',
      messages: [{ role: 'user', text: 'x' }],
      thinking: { enabled: false, budget: 64 },
    });
    expect(plain).not.toHaveProperty('id_slot');
    expect(plain).not.toHaveProperty('thinking_budget_tokens');
  });
});

describe('the slot a reply runs on', () => {
  it('a conversation comes back to its slot while it is free; others take free slots, the least recently used first', () => {
    const slots = new SlotPicker(3);
    const a = slots.take('a', 'A1')!;
    const b = slots.take('b', 'B1')!;
    expect(new Set([a, b]).size).toBe(2);
    slots.release(a, ' reply');
    slots.release(b, ' reply');
    expect(slots.take('a', 'A1 reply A2')).toBe(a);
    // While a's slot is busy, a second reply of the same conversation runs on another slot (never two on one).
    const again = slots.take('a', 'A1 reply A2')!;
    expect(again).not.toBe(a);
    expect(again).not.toBe(b);
    expect(slots.take('c', 'C1')).toBe(b);
    // Every slot busy: none (the server queues it).
    expect(slots.take('d', 'D1')).toBeUndefined();
  });

  it('without a key: the free slot whose last prompt shares the longest start with this one, else one no conversation holds', () => {
    const slots = new SlotPicker(3);
    const system = 'system: You tell short stories for children. ';
    const x = slots.take(undefined, `${system}user: tell me about cats`)!;
    slots.release(x, ' Cats purr.');
    const y = slots.take('conv', `${system}user: tell me about dogs`)!;
    slots.release(y);
    expect(slots.take(undefined, `${system}user: tell me about cats Cats purr. user: more`)).toBe(x);
    // A short start in common (a template's) does not take a conversation's slot.
    const fresh = slots.take('new', 'user: hi')!;
    expect(fresh).not.toBe(y);
    expect(fresh).not.toBe(x);
  });

  it('a new conversation takes another conversation’s slot only for a long start in common', () => {
    const slots = new SlotPicker(2);
    const a = slots.take('a', 'user: Lily had a red ball. She played with it in the park every day.')!;
    slots.release(a, ' The end.');
    expect(slots.take('b', 'user: Once upon a time')).not.toBe(a);
    const copy = new SlotPicker(2);
    const held = copy.take('a', 'user: Lily had a red ball. She played with it in the park every day.')!;
    copy.release(held, ' The end.');
    // A copy of that conversation (a branch) goes on from where it is.
    expect(copy.take('branch', 'user: Lily had a red ball. She played with it in the park every day. The end. user: more')).toBe(held);
  });
});

describe('the memory a model needs on llama.cpp’s server', () => {
  const header = (meta: Record<string, unknown>) => ({ metadata: new Map(Object.entries(meta)) }) as unknown as GgufHeader;

  it('KV per token: layers × (K + V widths of the KV heads) × 2 bytes', () => {
    // 32 layers, 4096 wide, 32 heads, 8 KV heads: K and V of 8 × 128 each.
    const llama = header({
      'general.architecture': 'llama',
      'llama.block_count': 32,
      'llama.embedding_length': 4096,
      'llama.attention.head_count': 32,
      'llama.attention.head_count_kv': 8,
    });
    expect(kvBytesPerToken(llama)).toBe(32 * (8 * 128 * 2) * 2);
    // Explicit key and value lengths win.
    const gemma = header({
      'general.architecture': 'gemma',
      'gemma.block_count': 2,
      'gemma.embedding_length': 64,
      'gemma.attention.head_count': 4,
      'gemma.attention.head_count_kv': 1,
      'gemma.attention.key_length': 256,
      'gemma.attention.value_length': 128,
    });
    expect(kvBytesPerToken(gemma)).toBe(2 * (256 + 128) * 2);
  });

  it('refuses a load that does not fit with the numbers; fits where RAM, or RAM and VRAM together, hold it', () => {
    const GB = 1024 ** 3;
    const need = { weightBytes: 4 * GB, kvBytes: 1 * GB, contextTokens: 8192 };
    const small = { ramFreeBytes: 2 * GB, vramFreeBytes: 0 };
    const fit = serverFit(need, small, 0);
    expect(fit.verdict).toBe('no');
    const refusal = fitRefusal('/models/big.gguf', need, fit, 2)!;
    expect(refusal.code).toBe('out_of_memory');
    expect(refusal.message).toMatch(
      /Not enough memory to load big\.gguf on llama\.cpp’s server: with a 8192-token context \(2 replies at once, 4096 tokens each\)/,
    );
    expect(refusal.message).toMatch(/needs about 5\.\d\d GB .* only 2\.00 GB of RAM are free now/);
    expect(fitRefusal('/m.gguf', need, serverFit(need, { ramFreeBytes: 8 * GB, vramFreeBytes: 0 }, 0), 1)).toBeNull();
    // VRAM counts only with layers on the GPU, and within the cap.
    const gpu = { ramFreeBytes: 3 * GB, vramFreeBytes: 4 * GB };
    expect(serverFit(need, gpu, 0).verdict).toBe('no');
    expect(serverFit(need, gpu, 33).verdict).toBe('ram');
    expect(serverFit(need, { ...gpu, vramCapBytes: 1 * GB }, 33).verdict).toBe('no');
  });
});

describe('a reply with nothing to parse, and a call a template cannot make', () => {
  it('a plain reply goes as a completion of the rendered prompt with the same sampling, slot and stops', () => {
    const body = serverRequestBody(
      'm',
      { requestId: 'r', messages: [{ role: 'user', text: 'x' }], sampling: { temperature: 0, maxTokens: 5 }, stop: ['END'] },
      1,
    );
    expect(plainReply(body)).toBe(true);
    expect(completionBody(body, '<|im_start|>user\nx')).toEqual({
      model: 'm',
      prompt: '<|im_start|>user\nx',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0,
      max_tokens: 5,
      stop: ['END'],
      cache_prompt: true,
      id_slot: 1,
    });
    expect(plainReply(serverRequestBody('m', { requestId: 'r', messages: [{ role: 'user', text: 'x' }], format: { type: 'json' } }))).toBe(
      false,
    );
    expect(plainReply(serverRequestBody('m', { requestId: 'r', messages: [{ role: 'user', text: 'x' }], tools: [{ name: 'f' }] }))).toBe(
      false,
    );
    // A completion chunk reads as a chat chunk.
    expect(asChatChunk({ choices: [{ text: 'hi', index: 0, finish_reason: null }], object: 'text_completion' })).toMatchObject({
      choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }],
    });
  });

  it('required or named on a template without tool calls: the tools described, the reply held to a call, read back as one', () => {
    const tools = [
      { name: 'get_weather', description: 'The weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      { name: 'get_time' },
    ];
    const input = { requestId: 'r', messages: [{ role: 'user' as const, text: 'Weather?' }], tools };
    expect(ForcedToolCall.for({ ...input, toolChoice: 'required' }, true)).toBeNull();
    expect(ForcedToolCall.for({ ...input, toolChoice: 'auto' }, false)).toBeNull();
    const required = ForcedToolCall.for({ ...input, toolChoice: 'required' }, false)!;
    const body = serverRequestBody('m', { ...input, toolChoice: 'required' }) as unknown as Record<string, unknown>;
    required.apply(body);
    expect(body.tools).toBeUndefined();
    expect(body.tool_choice).toBeUndefined();
    expect((body.messages as Array<{ role: string; content: string }>)[0]!.content).toMatch(
      /^Call one of these functions: .*\n- get_weather: The weather; arguments: /,
    );
    expect(body.response_format).toMatchObject({
      type: 'json_schema',
      json_schema: {
        schema: { anyOf: [{ properties: { name: { const: 'get_weather' } } }, { properties: { name: { const: 'get_time' } } }] },
      },
    });
    expect(required.read('{"name": "get_weather", ')).toEqual([]);
    required.read('"arguments": {"city": "Paris"}}');
    expect(required.finish()).toEqual({
      call: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      parts: [{ kind: 'call', index: 0, name: 'get_weather', text: '{"city":"Paris"}' }],
    });
    const named = ForcedToolCall.for({ ...input, toolChoice: { name: 'get_weather' } }, false)!;
    expect(named.read('{"city": ')).toEqual([{ kind: 'call', index: 0, name: 'get_weather', text: '{"city": ' }]);
    named.read('"Lyon"}');
    expect(named.finish()!.call).toEqual({ name: 'get_weather', arguments: '{"city": "Lyon"}' });
    // Cut short: no call.
    const cut = ForcedToolCall.for({ ...input, toolChoice: 'required' }, false)!;
    cut.read('{"name": "get_w');
    expect(cut.finish()).toBeNull();
  });
});
