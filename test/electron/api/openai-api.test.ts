/**
 * The local OpenAI-compatible API, driven by the official `openai` package
 * against the real server, a real worker process and stories260K.
 */
import http from 'node:http';
import { copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import type { GenerateResult } from '../../../shared/inference';
import { writeGgufWithAddedKey } from '../../helpers/gguf';
import { apiHostWithModel, recordResults, type ApiHost } from '../../helpers/inference-host';
import { testModelPath } from '../../helpers/test-model';

let host: ApiHost | undefined;
let services: HostServices;
let client: OpenAI;
let baseUrl: string;
let key: string;
let port: number;
let dataDir: string;
/** Every generation the engine finished. */
const finished: GenerateResult[] = [];
const ALLOWED_ORIGIN = 'http://localhost:5173';

beforeAll(async () => {
  // No folder watching: 'vanishing' stands for a file that disappears between the listing and the request.
  host = await apiHostWithModel(
    'api',
    { watchFolders: false, engine: recordResults(finished) },
    {
      // One reply at a time: these tests are about the queue's turns (test/electron/inference/parallel.test.ts runs several at once).
      prepare: (s) => s.handlers['settings.update']({ api: { corsOrigins: [ALLOWED_ORIGIN] }, inference: { parallel: 1 } }),
      moreModels: (models) => {
        writeGgufWithAddedKey(testModelPath(), path.join(models, 'tiny-embed.gguf'), 'llama.pooling_type', 1);
        copyFileSync(testModelPath(), path.join(models, 'vanishing.gguf'));
        return ['tiny-embed.gguf', 'vanishing.gguf'];
      },
    },
  );
  ({ services, baseUrl, key, port, dir: dataDir } = host);
  expect(host.status).toMatchObject({ running: true, requireKey: true, corsOrigins: [ALLOWED_ORIGIN] });
  client = new OpenAI({ baseURL: baseUrl, apiKey: key, maxRetries: 0, timeout: 60_000 });
  rmSync(path.join(host.models, 'vanishing.gguf'));
});

afterAll(async () => {
  await host?.close();
});

/** A raw HTTP request, so that Host and Origin can be anything. */
function raw(
  method: string,
  pathname: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, method, path: pathname, headers, setHost: !('Host' in headers) },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function expectOpenAiError(body: string, fields: { type?: string; code?: string | null; param?: string | null } = {}) {
  const parsed = JSON.parse(body) as { error: { message: string; type: string; param: string | null; code: string | null } };
  expect(Object.keys(parsed)).toEqual(['error']);
  expect(parsed.error).toEqual({
    message: expect.any(String),
    type: expect.any(String),
    param: expect.toSatisfy((p) => p === null || typeof p === 'string'),
    code: expect.toSatisfy((c) => c === null || typeof c === 'string'),
  });
  expect(parsed.error).toMatchObject(fields);
  expect(parsed.error.message).not.toContain(dataDir);
  expect(parsed.error.message).not.toMatch(/\/tmp\/|\/home\/|[A-Z]:\\/);
  return parsed.error;
}

describe('OpenAI-compatible API (official openai client, real worker, stories260K)', () => {
  it('lists the library as models', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id).sort()).toEqual(['stories260k', 'tiny-embed', 'vanishing']);
    expect(page.data[0]).toMatchObject({ object: 'model', owned_by: expect.any(String), created: expect.any(Number) });
    expect((await client.models.retrieve('stories260k')).id).toBe('stories260k');
  });

  it('answers a chat non-streaming, loading the model just in time, with usage and finish_reason', async () => {
    await services.handlers['inference.unload'](undefined);
    expect(services.inference.status().model).toBeNull();
    const completion = await client.chat.completions.create({
      model: 'stories260k',
      messages: [
        { role: 'system', content: 'You tell stories.' },
        { role: 'user', content: 'Once upon a time' },
      ],
      max_tokens: 24,
      temperature: 0,
    });
    expect(services.inference.status().model?.name).toBeTruthy();
    expect(completion).toMatchObject({ object: 'chat.completion', model: 'stories260k', id: expect.stringMatching(/^chatcmpl-/) });
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]).toMatchObject({ index: 0, finish_reason: 'length', message: { role: 'assistant' } });
    expect(completion.choices[0]!.message.content!.length).toBeGreaterThan(10);
    expect(completion.usage).toMatchObject({ completion_tokens: 24 });
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(3);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + 24);
  });

  it('stops at a stop sequence (finish_reason "stop", the sequence left out) and repeats itself given the same seed', async () => {
    const stopped = await client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 200,
      temperature: 0,
      stop: ['.'],
    });
    expect(stopped.choices[0]!.finish_reason).toBe('stop');
    expect(stopped.choices[0]!.message.content).not.toContain('.');
    expect(stopped.usage!.completion_tokens).toBeLessThan(200);

    const sample = () =>
      client.chat.completions.create({
        model: 'stories260k',
        messages: [{ role: 'user', content: 'Tell me a story' }],
        max_tokens: 30,
        temperature: 1.2,
        top_p: 0.95,
        seed: 1234,
      });
    const [a, b] = [await sample(), await sample()];
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
    const other = await client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Tell me a story' }],
      max_tokens: 30,
      temperature: 1.2,
      top_p: 0.95,
      seed: 99,
    });
    expect(other.choices[0]!.message.content).not.toBe(a.choices[0]!.message.content);
  });

  it('streams the same text in chunks, then finish_reason, usage and [DONE]', async () => {
    const request = {
      model: 'stories260k',
      messages: [{ role: 'user' as const, content: 'Once upon a time' }],
      max_tokens: 40,
      temperature: 0,
    };
    const whole = await client.chat.completions.create(request);
    const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]!.id)).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBeGreaterThan(1);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: 40, prompt_tokens: whole.usage!.prompt_tokens } });

    const wire = await raw(
      'POST',
      '/v1/chat/completions',
      { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      JSON.stringify({ ...request, max_tokens: 5, stream: true }),
    );
    expect(wire.status).toBe(200);
    expect(wire.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(wire.body.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(
      wire.body
        .split('\n\n')
        .filter(Boolean)
        .every((event) => event.startsWith('data: ')),
    ).toBe(true);
  });

  it('holds the output to JSON with response_format json_object and json_schema', async () => {
    const schema = await client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'How does the girl feel?' }],
      max_tokens: 60,
      temperature: 0,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'mood',
          strict: true,
          schema: {
            type: 'object',
            properties: { mood: { type: 'string', enum: ['happy', 'sad'] }, age: { type: 'integer' } },
            required: ['mood', 'age'],
            additionalProperties: false,
          },
        },
      },
    });
    expect(schema.choices[0]!.finish_reason).toBe('stop');
    const parsed = JSON.parse(schema.choices[0]!.message.content!) as { mood: string; age: number };
    expect(['happy', 'sad']).toContain(parsed.mood);
    expect(Number.isInteger(parsed.age)).toBe(true);

    const object = await client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 400,
      temperature: 0,
      response_format: { type: 'json_object' },
    });
    const content = object.choices[0]!.message.content!;
    expect(content.trimStart().startsWith('{')).toBe(true);
    if (object.choices[0]!.finish_reason === 'stop') expect(() => JSON.parse(content)).not.toThrow();

    await expect(
      client.chat.completions.create({
        model: 'stories260k',
        messages: [{ role: 'user', content: 'Hi' }],
        response_format: { type: 'json_schema', json_schema: { name: 'x', strict: true, schema: { type: 'string', pattern: '^a+$' } } },
      }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'unsupported_schema',
      param: 'response_format.json_schema.schema',
      message: expect.stringMatching(/pattern/),
    });
    // Without strict the pattern is relaxed (the grammar holds a string) and the answer comes as the model wrote it.
    const relaxed = await client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 12,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a+$' } } },
    });
    expect(relaxed.choices[0]!.message.content!.startsWith('"')).toBe(true);
  });

  it('completes plain text on /v1/completions, streaming too', async () => {
    const completion = await client.completions.create({
      model: 'stories260k',
      prompt: 'Once upon a time',
      max_tokens: 12,
      temperature: 0,
    });
    expect(completion).toMatchObject({
      object: 'text_completion',
      choices: [{ index: 0, finish_reason: 'length' }],
      usage: { completion_tokens: 12 },
    });
    expect(completion.choices[0]!.text.length).toBeGreaterThan(5);
    const stream = await client.completions.create({
      model: 'stories260k',
      prompt: 'Once upon a time',
      max_tokens: 12,
      temperature: 0,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe(completion.choices[0]!.text);
  });

  it('embeds with an embedding model (float and base64) and refuses a chat model', async () => {
    await client.completions.create({ model: 'stories260k', prompt: 'Once', max_tokens: 1 });
    const floats = await client.embeddings.create({ model: 'tiny-embed', input: ['a cat', 'a dog', 'a cat'], encoding_format: 'float' });
    expect(floats.data).toHaveLength(3);
    expect(floats.data[0]!.embedding).toHaveLength(64);
    expect(floats.data[0]!.embedding).toEqual(floats.data[2]!.embedding);
    expect(floats.data[0]!.embedding).not.toEqual(floats.data[1]!.embedding);
    expect(floats.usage.prompt_tokens).toBeGreaterThan(3);
    // The SDK asks for base64 by default and decodes it.
    const decoded = await client.embeddings.create({ model: 'tiny-embed', input: 'a cat' });
    decoded.data[0]!.embedding.forEach((value, i) => expect(value).toBeCloseTo(floats.data[0]!.embedding[i]!, 5));
    // The chat model stayed loaded beside the embedding model.
    expect(services.inference.status().model?.path).toMatch(/stories260K\.gguf$/);
    await expect(client.embeddings.create({ model: 'stories260k', input: 'x' })).rejects.toMatchObject({
      status: 400,
      code: 'model_not_embedding',
    });
  });

  it('stops generating when a streaming client hangs up, and withdraws a waiting request whose client left', async () => {
    finished.length = 0;
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'stories260k', messages: [{ role: 'user', content: 'Once' }], max_tokens: 1800, temperature: 0, stream: true },
      { signal: controller.signal },
    );
    let chunks = 0;
    try {
      for await (const _chunk of stream) {
        chunks += 1;
        if (chunks === 3) controller.abort();
      }
    } catch {
      // The SDK may end an aborted stream quietly or with an abort error.
    }
    expect(chunks).toBe(3);
    await expect.poll(() => finished.length, { timeout: 10_000 }).toBe(1);
    expect(finished[0]!.stats.stopReason).toBe('abort');
    expect(finished[0]!.stats.generatedTokens).toBeLessThan(1800);

    // A long request runs; a second waits behind it; the second's client leaves.
    finished.length = 0;
    const long = client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Once' }],
      max_tokens: 1500,
      temperature: 0,
    });
    await expect.poll(() => services.inference.status().queue.running, { timeout: 10_000, interval: 5 }).toBe('api');
    const waiting = new AbortController();
    const second = client.chat.completions.create(
      { model: 'stories260k', messages: [{ role: 'user', content: 'Twice' }], max_tokens: 5 },
      { signal: waiting.signal },
    );
    await expect.poll(() => services.inference.status().queue.waiting, { timeout: 10_000, interval: 5 }).toBe(1);
    waiting.abort();
    await expect(second).rejects.toThrow();
    await expect.poll(() => services.inference.status().queue.waiting, { timeout: 10_000, interval: 5 }).toBe(0);
    await long;
    expect(finished).toHaveLength(1);
  });

  it('answers bad requests with 4xx in the OpenAI error shape', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      raw('POST', '/v1/chat/completions', { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...headers }, body);
    const cases: Array<[string, string, number, { code?: string | null; param?: string | null; type?: string }, Record<string, string>?]> =
      [
        ['malformed JSON', '{"model": "stories260k", "messages": [', 400, { type: 'invalid_request_error' }],
        ['not an object', '[1, 2]', 400, { type: 'invalid_request_error' }],
        ['messages of the wrong type', JSON.stringify({ model: 'stories260k', messages: 'hello' }), 400, { param: 'messages' }],
        [
          'temperature of the wrong type',
          JSON.stringify({ model: 'stories260k', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }),
          400,
          { param: 'temperature' },
        ],
        [
          'an unknown model',
          JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
          404,
          { code: 'model_not_found', param: 'model' },
        ],
        [
          'a huge max_tokens',
          JSON.stringify({ model: 'stories260k', messages: [{ role: 'user', content: 'x' }], max_tokens: 1e12 }),
          400,
          { param: 'max_tokens' },
        ],
        [
          'max_tokens beyond the context',
          JSON.stringify({ model: 'stories260k', messages: [{ role: 'user', content: 'x' }], max_tokens: 100_000 }),
          400,
          { param: 'max_tokens' },
        ],
        [
          'legacy functions',
          JSON.stringify({
            model: 'stories260k',
            messages: [{ role: 'user', content: 'x' }],
            functions: [{ name: 'f' }],
          }),
          400,
          { param: 'functions' },
        ],
        ['n > 1', JSON.stringify({ model: 'stories260k', messages: [{ role: 'user', content: 'x' }], n: 3 }), 400, { param: 'n' }],
        [
          'an image',
          JSON.stringify({
            model: 'stories260k',
            messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }],
          }),
          400,
          { code: 'unsupported_content' },
        ],
        ['a text/plain body', JSON.stringify({ model: 'stories260k', messages: [] }), 415, {}, { 'Content-Type': 'text/plain' }],
        [
          'a body over 8 MiB',
          JSON.stringify({ model: 'stories260k', messages: [{ role: 'user', content: 'x'.repeat(9 * 1024 * 1024) }] }),
          413,
          {},
        ],
        [
          'a model whose file is gone',
          JSON.stringify({ model: 'vanishing', messages: [{ role: 'user', content: 'x' }] }),
          422,
          { code: 'invalid_model' },
        ],
      ];
    for (const [what, body, status, fields, headers] of cases) {
      const response = await post(body, headers);
      expect({ what, status: response.status }).toEqual({ what, status });
      expectOpenAiError(response.body, fields);
    }
    const unknown = await raw('GET', '/v1/files', { Authorization: `Bearer ${key}` });
    expect(unknown.status).toBe(404);
    expectOpenAiError(unknown.body, { type: 'not_found_error' });
    // The official client raises typed errors from these.
    await expect(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    await expect(
      client.chat.completions.create({ model: 'stories260k', messages: [{ role: 'user', content: 'x' }], max_tokens: 1e9 }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    // After all that the server still serves.
    expect((await client.models.list()).data.length).toBe(3);
  });

  it('enforces Host, Origin and key: a matrix', async () => {
    const hosts: Array<[string | undefined, boolean]> = [
      [`127.0.0.1:${port}`, true],
      [`localhost:${port}`, true],
      [`evil.example:${port}`, false], // DNS rebinding
      [`127.0.0.1:${port + 1}`, false],
      ['', false],
    ];
    const origins: Array<[string | undefined, boolean]> = [
      [undefined, true], // not a browser
      [ALLOWED_ORIGIN, true],
      ['http://evil.example', false],
      ['http://localhost:5174', false],
      ['null', false],
    ];
    const keys: Array<[string | undefined, boolean]> = [
      [`Bearer ${key}`, true],
      [`bearer ${key}`, true],
      [`Bearer ${key}x`, false],
      [`Basic ${key}`, false],
      [undefined, false],
    ];
    let checked = 0;
    for (const [host, hostOk] of hosts) {
      for (const [origin, originOk] of origins) {
        for (const [authorization, keyOk] of keys) {
          const headers: Record<string, string> = { Host: host ?? '' };
          if (origin !== undefined) headers.Origin = origin;
          if (authorization !== undefined) headers.Authorization = authorization;
          const response = await raw('GET', '/v1/models', headers);
          const expected = !hostOk ? 421 : !originOk ? 403 : !keyOk ? 401 : 200;
          expect({ host, origin, authorization, status: response.status }).toEqual({ host, origin, authorization, status: expected });
          if (expected !== 200) expectOpenAiError(response.body);
          // CORS: only a listed origin gets an Allow-Origin, and it is that entry, never "*".
          if (response.headers['access-control-allow-origin'] !== undefined) {
            expect(response.headers['access-control-allow-origin']).toBe(ALLOWED_ORIGIN);
            expect(origin).toBe(ALLOWED_ORIGIN);
          }
          checked += 1;
        }
      }
    }
    expect(checked).toBe(125);

    const preflight = await raw('OPTIONS', '/v1/chat/completions', {
      Origin: ALLOWED_ORIGIN,
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'authorization, content-type, x-stainless-os',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': ALLOWED_ORIGIN,
      'access-control-allow-methods': 'GET, POST, OPTIONS',
    });
    expect(preflight.headers['access-control-allow-headers']).toContain('authorization');
    const hostile = await raw('OPTIONS', '/v1/chat/completions', {
      Origin: 'http://evil.example',
      'Access-Control-Request-Method': 'POST',
    });
    expect(hostile.status).toBe(403);
    expect(hostile.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('gives the UI its turn while an API client keeps sending', async () => {
    const library = await services.handlers['models.list'](undefined);
    const stories = library.models.find((m) => m.files[0]!.endsWith('stories260K.gguf'))!;
    const conversation = await services.handlers['chats.create']({ modelId: stories.id, settings: { temperature: 0, maxTokens: 50 } });
    const done: string[] = [];
    // The first runs long enough (1,500 tokens) for the rest to queue up behind it.
    const api = (n: number, max: number) =>
      client.chat.completions
        .create({ model: 'stories260k', messages: [{ role: 'user', content: `Story ${n}` }], max_tokens: max, temperature: 0 })
        .then(() => done.push(`api${n}`));
    const first = api(1, 1500);
    await expect.poll(() => services.inference.status().queue.running, { timeout: 10_000, interval: 5 }).toBe('api');
    const more = [api(2, 50), api(3, 50)];
    await expect.poll(() => services.inference.status().queue.waiting, { timeout: 10_000, interval: 5 }).toBe(2);
    const ui = Promise.resolve(
      services.handlers['chats.send']({ conversationId: conversation.id, parentId: null, text: 'Once upon a time' }),
    ).then((r) => {
      done.push('ui');
      return r;
    });
    const [{ reply }] = await Promise.all([ui, first, ...more]);
    expect(reply.status).toBe('complete');
    // The UI's turn comes before the API's queued requests; those two then run side by side (the model's
    // parallel sequences), so which of them ends first is not the point.
    expect(done.slice(0, 2)).toEqual(['api1', 'ui']);
    expect(done.slice(2).sort()).toEqual(['api2', 'api3']);
  });

  it('lets a running request finish before new inference settings restart the engine', async () => {
    const running = client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Once' }],
      max_tokens: 800,
      temperature: 0,
    });
    await expect.poll(() => services.inference.status().queue.running, { timeout: 10_000, interval: 5 }).toBe('api');
    await services.handlers['settings.update']({ inference: { backend: 'cpu' } });
    const result = await running;
    expect(result.choices[0]!.finish_reason).toBe('length');
    expect(result.usage!.completion_tokens).toBe(800);
    // The restart came after it, and the model is back.
    await expect.poll(() => services.inference.status().queue, { timeout: 20_000 }).toMatchObject({ running: null, waiting: 0 });
    expect((await services.handlers['inference.hardware'](undefined)).requested).toBe('cpu');
    expect(services.inference.status().model).not.toBeNull();
  });

  it('unloads a model it loaded just in time after the idle time, but never one the user loaded', async () => {
    const { idleUnloadMinutes } = (await services.handlers['settings.get'](undefined)).api;
    await services.handlers['settings.update']({ api: { idleUnloadMinutes: 0.01 } }); // 0.6 s
    try {
      await services.handlers['inference.unload'](undefined);
      await client.completions.create({ model: 'stories260k', prompt: 'Once', max_tokens: 3 });
      expect(services.inference.status().model).not.toBeNull();
      await client.embeddings.create({ model: 'tiny-embed', input: 'x' });
      expect(services.inference.status().embeddingModel).toMatch(/tiny-embed\.gguf$/);
      await expect.poll(() => services.inference.status().model, { timeout: 10_000, interval: 50 }).toBeNull();
      await expect.poll(() => services.inference.status().embeddingModel, { timeout: 10_000, interval: 50 }).toBeNull();
      expect((await services.handlers['inference.status'](undefined)).model).toBeNull();

      const library = await services.handlers['models.list'](undefined);
      await services.handlers['models.load']({ id: library.models.find((m) => m.files[0]!.endsWith('stories260K.gguf'))!.id });
      await client.completions.create({ model: 'stories260k', prompt: 'Once', max_tokens: 3 });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(services.inference.status().model).not.toBeNull();
    } finally {
      await services.handlers['settings.update']({ api: { idleUnloadMinutes } });
    }
  });
});
