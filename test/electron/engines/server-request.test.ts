import { describe, expect, it } from 'vitest';
import { serverRequestBody } from '../../../electron/engines/server-request';

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
});
