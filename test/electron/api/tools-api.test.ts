/**
 * The OpenAI tools API on /v1/chat/completions, driven by the official
 * `openai` client against a real worker with stories260K: calls forced by
 * tool_choice (required, named) are grammar-held, so even this tiny story
 * model answers with valid calls; auto leaves it to the model (stories260K
 * never calls); tool results continue the conversation; malformed tools and
 * tool messages get 400s in OpenAI's shape.
 */
import OpenAI from 'openai';
import type { ChatCompletionFunctionTool, ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import type { GenerateInput, GenerateResult } from '../../../shared/inference';
import { apiHostWithModel, recordResults, type ApiHost } from '../../helpers/inference-host';
import { SCRIPT, scriptedModel } from '../../helpers/scripted-models';
import { until } from '../../helpers/until';

let host: ApiHost | undefined;
let services: HostServices;
let client: OpenAI;
let baseUrl: string;
let key: string;
let hostLogs: string[];
const finished: GenerateResult[] = [];
/** What the engine was asked, request by request. */
const asked: GenerateInput[] = [];

const tools: ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 40 } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'add',
      description: 'Add two integers',
      parameters: {
        type: 'object',
        properties: { a: { type: 'integer' }, b: { type: 'integer' } },
        required: ['a', 'b'],
        additionalProperties: false,
      },
    },
  },
];
const user = { role: 'user', content: 'What is the weather in Paris?' } as const;

beforeAll(async () => {
  host = await apiHostWithModel('tools-api', {
    watchFolders: false,
    engine: (engine) => {
      recordResults(finished, ['generate'])(engine);
      const generate = engine.generate.bind(engine);
      engine.generate = async (input: GenerateInput) => {
        asked.push(input);
        const result = await generate(input);
        // A stand-in for a model that makes two calls in one turn (stories260K never does), to check their shape.
        const last = input.messages.at(-1);
        if (last?.role === 'user' && last.text === 'PARALLEL' && input.tools?.length)
          return {
            ...result,
            text: '',
            toolCalls: [
              { name: 'get_weather', arguments: '{"city":"Paris"}' },
              { name: 'get_weather', arguments: '{"city":"Lyon"}' },
            ],
            stats: { ...result.stats, stopReason: 'tool-calls' as const },
          };
        return result;
      };
      return engine;
    },
  });
  ({ services, logs: hostLogs, baseUrl, key } = host);
  client = new OpenAI({ baseURL: baseUrl, apiKey: key, maxRetries: 0, timeout: 60_000 });
});

afterAll(async () => {
  await host?.close();
});

async function post(body: unknown) {
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as { error?: { message: string; param: string | null; code: string | null } },
  };
}

function argumentsOf(call: { function: { arguments: string } }) {
  return JSON.parse(call.function.arguments) as Record<string, unknown>;
}

describe('tools on /v1/chat/completions (official openai client, stories260K)', () => {
  it('tool_choice "required" answers with a call whose arguments match the schema, finish_reason "tool_calls"', async () => {
    const completion = await client.chat.completions.create({
      model: 'stories260k',
      messages: [user],
      tools,
      tool_choice: 'required',
      temperature: 0,
      max_tokens: 80,
    });
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const calls = choice.message.tool_calls!;
    expect(calls.length).toBeGreaterThanOrEqual(1);
    for (const call of calls) {
      expect(call.type).toBe('function');
      expect(call.id).toMatch(/^call_/);
      if (call.type !== 'function') continue;
      expect(['get_weather', 'add']).toContain(call.function.name);
      const args = argumentsOf(call);
      if (call.function.name === 'add') {
        expect(Number.isInteger(args.a) && Number.isInteger(args.b)).toBe(true);
        expect(Object.keys(args).sort()).toEqual(['a', 'b']);
      } else {
        expect(typeof args.city).toBe('string');
        expect(Object.keys(args)).toEqual(['city']);
      }
    }
    expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length);
  });

  it('a named tool_choice calls that function, never another; no call syntax leaks into content', async () => {
    for (const name of ['add', 'get_weather']) {
      const completion = await client.chat.completions.create({
        model: 'stories260k',
        messages: [user],
        tools,
        tool_choice: { type: 'function', function: { name } },
        temperature: 0,
        max_tokens: 80,
      });
      const choice = completion.choices[0]!;
      expect(choice.finish_reason).toBe('tool_calls');
      const call = choice.message.tool_calls![0]!;
      expect(call.type === 'function' && call.function.name).toBe(name);
      expect(choice.message.content ?? '').not.toMatch(/\[\[call|<tool_call>|"name"/);
    }
    const engineInput = finished.at(-1);
    expect(engineInput?.toolCalls?.[0]?.name).toBe('get_weather');
  });

  it('streams a call in the standard deltas: index, id and name once, arguments in pieces; the SDK helper accumulates it', async () => {
    const stream = await client.chat.completions.create({
      model: 'stories260k',
      messages: [user],
      tools,
      tool_choice: { type: 'function', function: { name: 'add' } },
      temperature: 0,
      max_tokens: 80,
      stream: true,
    });
    const pieces: string[] = [];
    const ids: string[] = [];
    const names: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      for (const delta of choice.delta.tool_calls ?? []) {
        expect(delta.index).toBe(0);
        if (delta.id) ids.push(delta.id);
        if (delta.function?.name) names.push(delta.function.name);
        if (delta.function?.arguments) pieces.push(delta.function.arguments);
      }
      expect(choice.delta.content ?? '').toBe('');
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    expect(ids).toHaveLength(1);
    expect(names).toEqual(['add']);
    expect(pieces.length).toBeGreaterThan(1);
    const args = JSON.parse(pieces.join('')) as Record<string, unknown>;
    expect(Object.keys(args).sort()).toEqual(['a', 'b']);
    expect(finish).toBe('tool_calls');

    // The SDK's own accumulator (runTools' stream helper) puts the same call together.
    const runner = client.chat.completions.stream({
      model: 'stories260k',
      messages: [user],
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      temperature: 0,
      max_tokens: 80,
    });
    const final = await runner.finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && call.function.name).toBe('get_weather');
    expect(typeof argumentsOf(call as { function: { arguments: string } }).city).toBe('string');
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('the streamed and whole answers of the same greedy call are the same call', async () => {
    const request: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
      model: 'stories260k',
      messages: [user],
      tools,
      tool_choice: { type: 'function', function: { name: 'add' } },
      temperature: 0,
      max_tokens: 80,
    };
    const whole = await client.chat.completions.create(request);
    const streamed = await client.chat.completions.stream({ ...request, stream: true }).finalChatCompletion();
    const a = whole.choices[0]!.message.tool_calls![0]! as { function: { arguments: string } };
    const b = streamed.choices[0]!.message.tool_calls![0]! as { function: { arguments: string } };
    expect(b.function.arguments).toBe(a.function.arguments);
  });

  it('parallel_tool_calls false gives at most one call', async () => {
    for (let i = 0; i < 2; i += 1) {
      const completion = await client.chat.completions.create({
        model: 'stories260k',
        messages: [user],
        tools,
        tool_choice: 'required',
        parallel_tool_calls: false,
        temperature: 0,
        seed: i,
        max_tokens: 120,
      });
      expect(completion.choices[0]!.message.tool_calls).toHaveLength(1);
    }
  });

  it('parallel calls in one turn: each with its own id and index, in the whole answer and in the stream', async () => {
    const request = {
      model: 'stories260k',
      messages: [{ role: 'user' as const, content: 'PARALLEL' }],
      tools,
      temperature: 0,
      max_tokens: 4,
    };
    const whole = await client.chat.completions.create(request);
    const calls = whole.choices[0]!.message.tool_calls! as Array<{ id: string; function: { name: string; arguments: string } }>;
    expect(calls.map((c) => JSON.parse(c.function.arguments) as unknown)).toEqual([{ city: 'Paris' }, { city: 'Lyon' }]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
    const streamed = await client.chat.completions.stream({ ...request, stream: true }).finalChatCompletion();
    const streamedCalls = streamed.choices[0]!.message.tool_calls! as Array<{ id: string; function: { arguments: string } }>;
    expect(streamedCalls.map((c) => JSON.parse(c.function.arguments) as unknown)).toEqual([{ city: 'Paris' }, { city: 'Lyon' }]);
    expect(streamed.choices[0]!.finish_reason).toBe('tool_calls');
    // Answering both continues the conversation with both results in place.
    await client.chat.completions.create({
      ...request,
      messages: [
        { role: 'user', content: 'Weather in two cities?' },
        whole.choices[0]!.message,
        { role: 'tool', tool_call_id: calls[0]!.id, content: 'Sunny' },
        { role: 'tool', tool_call_id: calls[1]!.id, content: 'Rain' },
      ],
    });
    expect(asked.at(-1)!.messages.at(-1)).toMatchObject({
      role: 'assistant',
      calls: [
        { arguments: '{"city":"Paris"}', result: 'Sunny' },
        { arguments: '{"city":"Lyon"}', result: 'Rain' },
      ],
    });
  });

  it('auto leaves it to the model: stories260K answers in text, finish_reason "stop" or "length", no tool_calls', async () => {
    const completion = await client.chat.completions.create({
      model: 'stories260k',
      messages: [user],
      tools,
      temperature: 0,
      max_tokens: 20,
    });
    const choice = completion.choices[0]!;
    expect(choice.message.tool_calls ?? []).toEqual([]);
    expect(choice.message.content!.length).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(choice.finish_reason);
  });

  it('tool_choice "none" does not call even though tools are listed', async () => {
    const completion = await client.chat.completions.create({
      model: 'stories260k',
      messages: [user],
      tools,
      tool_choice: 'none',
      temperature: 0,
      max_tokens: 10,
    });
    expect(completion.choices[0]!.message.tool_calls ?? []).toEqual([]);
    expect(completion.choices[0]!.finish_reason).not.toBe('tool_calls');
  });

  it('tool results continue the conversation: the call and its result reach the model in place, and it answers', async () => {
    const first = await client.chat.completions.create({
      model: 'stories260k',
      messages: [user],
      tools,
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      temperature: 0,
      max_tokens: 80,
    });
    const message = first.choices[0]!.message;
    const call = message.tool_calls![0]!;
    const before = finished.length;
    const second = await client.chat.completions.create({
      model: 'stories260k',
      messages: [user, message, { role: 'tool', tool_call_id: call.id, content: 'Sunny, 21 °C' }],
      tools,
      temperature: 0,
      max_tokens: 20,
    });
    expect(second.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(finished.length).toBe(before + 1);
    // The prompt now holds the call and its result: more tokens than the question alone.
    const alone = await client.chat.completions.create({ model: 'stories260k', messages: [user], tools, temperature: 0, max_tokens: 1 });
    expect(second.usage!.prompt_tokens).toBeGreaterThan(alone.usage!.prompt_tokens + 5);
  });

  it('holds integer ranges in the grammar: a forced call at temperature 1 stays inside them, seed after seed', async () => {
    const ranged: ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'pick',
          strict: true,
          parameters: {
            type: 'object',
            properties: {
              count: { type: 'integer', minimum: 1, maximum: 10 },
              offset: { type: 'integer', minimum: -300, exclusiveMaximum: -20 },
              page: { type: 'integer', exclusiveMinimum: 999 },
              floor: { type: 'integer', maximum: -5 },
            },
            required: ['count', 'offset', 'page', 'floor'],
            additionalProperties: false,
          },
        },
      },
    ];
    const seen: Array<Record<string, unknown>> = [];
    for (let seed = 1; seed <= 12; seed++) {
      const answer = await client.chat.completions.create({
        model: 'stories260k',
        messages: [user],
        tools: ranged,
        tool_choice: 'required',
        temperature: 1,
        seed,
        max_tokens: 200,
      });
      const call = answer.choices[0]!.message.tool_calls?.[0];
      if (!call || call.type !== 'function') throw new Error('no call');
      seen.push(argumentsOf(call));
    }
    for (const args of seen) {
      const { count, offset, page, floor } = args as { count: number; offset: number; page: number; floor: number };
      expect([count, offset, page, floor].every(Number.isInteger), JSON.stringify(args)).toBe(true);
      expect(count >= 1 && count <= 10, `count ${count}`).toBe(true);
      expect(offset >= -300 && offset < -20, `offset ${offset}`).toBe(true);
      expect(page > 999, `page ${page}`).toBe(true);
      expect(floor <= -5, `floor ${floor}`).toBe(true);
    }
    // Temperature 1 gave different calls, each inside the ranges.
    expect(new Set(seen.map((args) => JSON.stringify(args))).size).toBeGreaterThan(1);
  });

  it('without strict, pattern and format "uri" are accepted and relaxed; a call that does not match is returned as written, and the log says so', async () => {
    const loose: ChatCompletionFunctionTool[] = [
      {
        type: 'function',
        function: {
          name: 'fetch_page',
          parameters: {
            type: 'object',
            properties: {
              url: { type: 'string', format: 'uri', maxLength: 30 },
              code: { type: 'string', pattern: '^[0-9]{3}$', maxLength: 8 },
            },
            required: ['url', 'code'],
            additionalProperties: false,
          },
        },
      },
    ];
    const answer = await client.chat.completions.create({
      model: 'stories260k',
      messages: [user],
      tools: loose,
      tool_choice: 'required',
      temperature: 0,
      max_tokens: 200,
    });
    const call = answer.choices[0]!.message.tool_calls?.[0];
    if (!call || call.type !== 'function') throw new Error('no call');
    expect(answer.choices[0]!.finish_reason).toBe('tool_calls');
    const args = argumentsOf(call) as { url: string; code: string };
    expect(Object.keys(args)).toEqual(['url', 'code']);
    // stories260K writes story words, never a URI and three digits: the call is returned as it is, and logged.
    expect(/^[0-9]{3}$/.test(args.code) && /^[a-z]+:/i.test(args.url)).toBe(false);
    await until('the check of the call to be logged', () =>
      hostLogs.find((line) => line.startsWith('api: a call of "fetch_page" does not match its schema (returned as written):')),
    );
    // The same with strict is refused, naming the keyword.
    const refused = await post({
      model: 'stories260k',
      messages: [user],
      tools: [{ ...loose[0], function: { ...loose[0]!.function, strict: true } }],
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'unsupported_schema', param: 'tools.0.function.parameters' });
    expect(refused.body.error!.message).toMatch(/format "uri" \(at schema.properties.url\) is not supported/);
  });

  it('answers malformed tools and tool messages with 400s in the OpenAI shape, naming the parameter', async () => {
    const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
      [
        'a schema keyword the grammar cannot enforce, with strict',
        {
          tools: [
            {
              type: 'function',
              function: { name: 'f', strict: true, parameters: { type: 'object', properties: { n: { type: 'number', multipleOf: 3 } } } },
            },
          ],
        },
        'tools.0.function.parameters',
        /multipleOf/,
      ],
      [
        'a bad function name',
        { tools: [{ type: 'function', function: { name: 'no spaces allowed' } }] },
        'tools.0.function.name',
        /letters, digits/,
      ],
      ['a tool type other than function', { tools: [{ type: 'retrieval' }] }, 'tools.0.type', /function/],
      ['a duplicate name', { tools: [tools[0], tools[0]] }, 'tools.1.function.name', /twice/],
      [
        'tool_choice naming a missing function',
        { tools, tool_choice: { type: 'function', function: { name: 'nope' } } },
        'tool_choice.function.name',
        /nope/,
      ],
      ['tool_choice without tools', { tool_choice: 'required' }, 'tool_choice', /only allowed when tools/],
      [
        'a tool message answering nothing',
        { messages: [user, { role: 'tool', tool_call_id: 'call_x', content: 'hi' }] },
        'messages.1.tool_call_id',
        /call_x/,
      ],
      [
        'a tool message without its id',
        {
          messages: [
            user,
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'add', arguments: '{}' } }],
            },
            { role: 'tool', content: 'hi' },
          ],
        },
        'messages.2.tool_call_id',
        /tool_call_id/,
      ],
      [
        'a call left unanswered',
        {
          messages: [
            user,
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'add', arguments: '{}' } }],
            },
            { role: 'user', content: 'and?' },
          ],
        },
        'messages.1',
        /call_1/,
      ],
      ['legacy function role', { messages: [user, { role: 'function', name: 'f', content: '1' }] }, 'messages.1.role', /legacy/],
      ['tools with a response_format', { tools, response_format: { type: 'json_object' } }, 'response_format', /cannot be combined/],
    ];
    for (const [what, extra, param, message] of cases) {
      const { status, body } = await post({ model: 'stories260k', messages: [user], ...extra });
      expect(status, what).toBe(400);
      expect(body.error?.param, what).toBe(param);
      expect(body.error?.message, what).toMatch(message);
    }
  });

  it('thinking controls reach the engine: reasoning_effort, enable_thinking and a budget', async () => {
    const cases: Array<[Record<string, unknown>, GenerateInput['thinking']]> = [
      [{ reasoning_effort: 'none' }, { enabled: false }],
      [{ chat_template_kwargs: { enable_thinking: false } }, { enabled: false }],
      [{ reasoning_effort: 'low' }, { enabled: true, budget: 1024 }],
      [{ thinking_budget: 64 }, { enabled: true, budget: 64 }],
      [{ thinking_budget: 0 }, { enabled: false }],
      [{ reasoning_effort: 'high' }, { enabled: true }],
      [{}, undefined],
    ];
    for (const [extra, expected] of cases) {
      const { status } = await post({ model: 'stories260k', messages: [user], max_tokens: 2, temperature: 0, ...extra });
      expect(status).toBe(200);
      expect(asked.at(-1)!.thinking, JSON.stringify(extra)).toEqual(expected);
    }
    const { status, body } = await post({ model: 'stories260k', messages: [user], reasoning_effort: 'extreme' });
    expect(status).toBe(400);
    expect(body.error?.param).toBe('reasoning_effort');
  });

  it('the engine receives the tools, the choice and the history with the call in place', async () => {
    await client.chat.completions.create({
      model: 'stories260k',
      messages: [
        user,
        {
          role: 'assistant',
          content: 'Let me look.',
          tool_calls: [
            { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
            { id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lyon"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_b', content: 'Rain' },
        { role: 'tool', tool_call_id: 'call_a', content: 'Sunny' },
      ],
      tools,
      tool_choice: 'auto',
      parallel_tool_calls: false,
      temperature: 0,
      max_tokens: 2,
    });
    const input = asked.at(-1)!;
    expect(input.tools?.map((t) => t.name)).toEqual(['get_weather', 'add']);
    expect(input.toolChoice).toBe('auto');
    expect(input.parallelToolCalls).toBe(false);
    expect(input.messages).toEqual([
      { role: 'user', text: user.content },
      {
        role: 'assistant',
        text: 'Let me look.',
        calls: [
          { name: 'get_weather', arguments: '{"city":"Paris"}', result: 'Sunny', at: 12 },
          { name: 'get_weather', arguments: '{"city":"Lyon"}', result: 'Rain', at: 12 },
        ],
      },
    ]);
  });
  it('counts the tools in the prompt: too long a definition is a 400 with the numbers, never a 500', async () => {
    const huge: ChatCompletionTool[] = [
      { type: 'function', function: { name: 'lookup', description: 'word '.repeat(6000), parameters: { type: 'object', properties: {} } } },
    ];
    const long = await post({ model: 'stories260k', messages: [user], tools: huge, max_tokens: 8, temperature: 0 });
    expect(long.status).toBe(400);
    expect(long.body.error?.code).toBe('context_length_exceeded');
    expect(long.body.error?.message).toMatch(/maximum context length is \d+ tokens\. However, your messages resulted in \d+ tokens/);

    // A forced call to a tool whose schema lists a thousand values: the same.
    const values = Array.from({ length: 1000 }, (_, i) => `value_${i}`);
    const forced = await post({
      model: 'stories260k',
      messages: [user],
      tools: [
        {
          type: 'function',
          function: { name: 'pick', parameters: { type: 'object', properties: { v: { enum: values } }, required: ['v'] } },
        },
      ],
      tool_choice: 'required',
      max_tokens: 20,
      temperature: 0,
    });
    expect(forced.status).toBe(400);
    expect(forced.body.error?.code).toBe('context_length_exceeded');
  });

  it('tools that leave little room and no max_tokens: the reply ends with finish_reason "length" inside the context', async () => {
    const withDescription = (words: number): ChatCompletionTool[] => [
      {
        type: 'function',
        function: { name: 'lookup', description: 'once upon a time '.repeat(words), parameters: { type: 'object', properties: {} } },
      },
    ];
    // Sized by what the server counts: the prompt with the tool comes to about four fifths of the context.
    const contextSize = async () => services.inference.status().model?.contextSize ?? 0;
    const promptOf = async (words: number) =>
      (
        await client.chat.completions.create({
          model: 'stories260k',
          messages: [user],
          tools: withDescription(words),
          max_tokens: 1,
          temperature: 0,
        })
      ).usage!.prompt_tokens;
    const [small, large] = [await promptOf(20), await promptOf(120)];
    const size = await contextSize();
    const words = Math.floor(20 + ((size * 0.8 - small) * 100) / (large - small));
    const completion = await client.chat.completions.create({
      model: 'stories260k',
      messages: [user],
      tools: withDescription(words),
      temperature: 0,
    });
    expect(['length', 'stop']).toContain(completion.choices[0]!.finish_reason);
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(size * 0.7);
    expect(completion.usage!.total_tokens).toBeLessThanOrEqual(size);
  });
});

describe('the seed families through the API (scripted Qwen3, DeepSeek-R1 distill, Llama 3 with their real templates)', () => {
  const ids: Record<string, string> = {};
  const weatherTool: ChatCompletionTool = {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };

  beforeAll(async () => {
    const files = {
      qwen3: await scriptedModel('qwen3', 'tool'),
      llama3: await scriptedModel('llama3', 'tool'),
      'qwen3-think': await scriptedModel('qwen3', 'think'),
      'deepseek-think': await scriptedModel('deepseek-r1', 'think'),
    };
    await services.handlers['models.import']({ paths: Object.values(files), mode: 'reference' });
    const list = await client.models.list();
    for (const [key, file] of Object.entries(files)) ids[key] = list.data.find((m) => file.toLowerCase().includes(m.id))!.id;
  }, 180_000);

  for (const family of ['qwen3', 'llama3'] as const) {
    it(`${family}: the model itself calls the tool (auto), and answers from the tool message`, async () => {
      const first = await client.chat.completions.create({
        model: ids[family]!,
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        tools: [weatherTool],
        temperature: 0,
        max_tokens: 100,
      });
      const choice = first.choices[0]!;
      expect(choice.finish_reason).toBe('tool_calls');
      expect(choice.message.content).toBeNull();
      const call = choice.message.tool_calls![0]! as { id: string; function: { name: string; arguments: string } };
      expect(call.function.name).toBe('get_weather');
      expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });

      const second = await client.chat.completions.create({
        model: ids[family]!,
        messages: [
          { role: 'user', content: 'What is the weather in Paris?' },
          choice.message,
          { role: 'tool', tool_call_id: call.id, content: 'Sunny, 21 °C' },
        ],
        tools: [weatherTool],
        temperature: 0,
        max_tokens: 100,
      });
      expect(second.choices[0]!.message.content).toBe(SCRIPT.tool.answer);
      expect(second.choices[0]!.finish_reason).toBe('stop');
    });

    it(`${family}: streamed, the call arrives in deltas and no call syntax in content`, async () => {
      const stream = await client.chat.completions.create({
        model: ids[family]!,
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        tools: [weatherTool],
        temperature: 0,
        max_tokens: 100,
        stream: true,
      });
      let content = '';
      let args = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        if (!choice) continue;
        content += choice.delta.content ?? '';
        for (const delta of choice.delta.tool_calls ?? []) args += delta.function?.arguments ?? '';
        finish = choice.finish_reason ?? finish;
      }
      expect(content).toBe('');
      expect(JSON.parse(args)).toEqual({ city: 'Paris' });
      expect(finish).toBe('tool_calls');
    });
  }

  it('qwen3: a forced call to a tool with an integer range gives arguments inside it every time, seed after seed', async () => {
    const ranged: ChatCompletionTool = {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather for a city over some days',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string', maxLength: 20 }, days: { type: 'integer', minimum: 1, maximum: 3 } },
          required: ['city', 'days'],
          additionalProperties: false,
        },
      },
    };
    const days = new Set<number>();
    for (let seed = 1; seed <= 8; seed++) {
      const completion = await client.chat.completions.create({
        model: ids.qwen3!,
        messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
        tools: [ranged],
        tool_choice: 'required',
        temperature: 1,
        seed,
        max_tokens: 100,
      });
      const call = completion.choices[0]!.message.tool_calls![0]! as { function: { arguments: string } };
      const args = JSON.parse(call.function.arguments) as { city: string; days: number };
      expect(Number.isInteger(args.days) && args.days >= 1 && args.days <= 3, call.function.arguments).toBe(true);
      days.add(args.days);
    }
    expect(days.size).toBeGreaterThan(0);
  });

  it('tool_choice "none" with the Qwen3 tool model: it answers in words', async () => {
    const completion = await client.chat.completions.create({
      model: ids.qwen3!,
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [weatherTool],
      tool_choice: 'none',
      temperature: 0,
      max_tokens: 60,
    });
    expect(completion.choices[0]!.message.tool_calls ?? []).toEqual([]);
    expect(completion.choices[0]!.message.content).toBe(SCRIPT.tool.noFunctionsAnswer);
  });

  for (const family of ['qwen3-think', 'deepseek-think'] as const) {
    it(`${family}: reasoning comes as reasoning_content, the answer as content; reasoning_effort "none" turns it off`, async () => {
      const completion = await client.chat.completions.create({
        model: ids[family]!,
        messages: [{ role: 'user', content: 'hello' }],
        temperature: 0,
        max_tokens: 60,
      });
      const message = completion.choices[0]!.message as { content: string; reasoning_content?: string };
      expect(message.reasoning_content?.trim()).toBe(SCRIPT.think.thought);
      expect(message.content).toBe(SCRIPT.think.answer);
      const off = await post({
        model: ids[family],
        messages: [{ role: 'user', content: 'hello' }],
        temperature: 0,
        max_tokens: 60,
        reasoning_effort: 'none',
      });
      const offMessage = (off.body as unknown as { choices: Array<{ message: { content: string; reasoning_content?: string } }> })
        .choices[0]!.message;
      expect(offMessage.reasoning_content ?? '').toBe('');
      expect(offMessage.content).not.toContain('<think>');
    });
  }
});
