/**
 * OpenAI-compatible servers as machines: against a real one (another
 * Freehold's API with stories260K and a real worker), and against a small fake
 * SSE server for what real servers do only sometimes (reasoning deltas, errors,
 * dropped and stalled streams, going away and coming back). Only 127.0.0.1.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiMachine, type OpenAiMachineOptions } from '../../../electron/machines/openai-machine';
import { probeOpenAiServer } from '../../../electron/machines/openai-server';
import type { DeltaParts } from '../../../electron/machines/machine';
import { RpcError } from '../../../shared/errors';
import type { MachineInfo } from '../../../shared/machines';
import { apiHostWithModel, type ApiHost } from '../../helpers/inference-host';

const machines: OpenAiMachine[] = [];

function machine(url: string, apiKey: string | null = null, options: OpenAiMachineOptions = {}, name = 'Fake box'): OpenAiMachine {
  const m = new OpenAiMachine({ id: 'm1', name, url, apiKey, order: 3 }, { backoffMs: [50, 100], ...options });
  machines.push(m);
  return m;
}

afterEach(async () => {
  for (const m of machines.splice(0)) await m.close();
});

async function waitFor(m: OpenAiMachine, predicate: (info: MachineInfo) => boolean, what: string, ms = 10_000): Promise<MachineInfo> {
  const until = Date.now() + ms;
  for (;;) {
    const info = m.info();
    if (predicate(info)) return info;
    if (Date.now() > until) throw new Error(`Waited for ${what}; the machine is ${JSON.stringify(info)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function collect(): { parts: DeltaParts; onDelta: (parts: DeltaParts) => void; text: () => string; reasoning: () => string } {
  const parts: DeltaParts = [];
  return {
    parts,
    onDelta: (p) => parts.push(...p),
    text: () =>
      parts
        .filter((p) => p.kind === 'text')
        .map((p) => p.text)
        .join(''),
    reasoning: () =>
      parts
        .filter((p) => p.kind === 'reasoning')
        .map((p) => p.text)
        .join(''),
  };
}

async function rejection(promise: Promise<unknown>): Promise<RpcError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RpcError);
  return error as RpcError;
}

describe('another Freehold API as a machine (real server, real worker, stories260K)', () => {
  let host: ApiHost | undefined;
  let url: string;
  let key: string;

  beforeAll(async () => {
    host = await apiHostWithModel('openai-machine', { watchFolders: false });
    ({ key } = host);
    expect(host.status).toMatchObject({ running: true, requireKey: true });
    url = host.baseUrl.replace(/\/v1\/?$/, '');
  });

  afterAll(async () => {
    await host?.close();
  });

  it('probes it: the models it lists', async () => {
    const probe = await probeOpenAiServer(url, key);
    expect(probe.models).toEqual(['stories260k']);
    expect(probe.suggestedName).toBe('127.0.0.1:' + new URL(url).port);
    // A URL that already ends in /v1 works the same.
    expect((await probeOpenAiServer(`${url}/v1/`, key)).models).toEqual(['stories260k']);
  });

  it('comes online with its model, and streams a reply whose deltas make up the text', async () => {
    const m = machine(url, key, {}, 'Study PC');
    const seen: MachineInfo[] = [];
    m.onChange((info) => seen.push(info));
    expect(m.info().state).toBe('connecting');
    m.start();
    const info = await waitFor(m, (i) => i.state === 'online', 'online');
    expect(seen.map((i) => i.state)).toEqual(['online']);
    expect(info).toMatchObject({
      id: 'm1',
      name: 'Study PC',
      kind: 'openai',
      address: url,
      error: null,
      retryAt: null,
      busy: false,
      order: 3,
    });
    expect(info.hardware).toBeNull();
    expect(info.downloads).toEqual([]);
    expect(info.models).toEqual([
      {
        ref: '@m1/stories260k',
        machineId: 'm1',
        machineName: 'Study PC',
        modelId: 'stories260k',
        name: 'stories260k',
        sizeBytes: null,
        quantization: null,
        architecture: null,
        sha256: null,
        fit: null,
      },
    ]);

    const deltas = collect();
    const pending = m.generate(
      'stories260k',
      'r1',
      { system: 'You tell stories.', messages: [{ role: 'user', text: 'Once upon a time' }], sampling: { temperature: 0, maxTokens: 16 } },
      deltas.onDelta,
      new AbortController().signal,
    );
    expect(m.info().busy).toBe(true);
    const result = await pending;
    expect(m.info().busy).toBe(false);
    expect(seen.some((i) => i.busy)).toBe(true);
    expect(result.requestId).toBe('r1');
    expect(result.text.length).toBeGreaterThan(5);
    expect(deltas.text()).toBe(result.text);
    expect(result.stats).toMatchObject({ generatedTokens: 16, stopReason: 'max-tokens' });
    expect(result.stats.promptTokens).toBeGreaterThan(3);
    expect(result.stats.totalMs).toBeGreaterThanOrEqual(result.stats.timeToFirstTokenMs);
  });

  it("an unknown model is refused with the server's own message, and the machine stays online", async () => {
    const m = machine(url, key, {}, 'Study PC');
    m.start();
    await waitFor(m, (i) => i.state === 'online', 'online');
    const error = await rejection(
      m.generate('no-such-model', 'r2', { messages: [{ role: 'user', text: 'Hi' }] }, () => undefined, new AbortController().signal),
    );
    expect(error.message).toMatch(/^Study PC: .*no-such-model.* \(HTTP 404\)$/);
    expect(m.info().state).toBe('online');
  });

  it("a wrong key: the machine is refused with the server's message, and a probe names the URL and the status", async () => {
    const m = machine(url, 'fh-wrong-key-123', {}, 'Study PC');
    m.start();
    const info = await waitFor(m, (i) => i.state === 'refused', 'refused');
    expect(info.error).toMatch(/^Refused: Missing or wrong API key.* \(HTTP 401\)$/);
    expect(info.error).not.toContain('fh-wrong-key-123');
    expect(info.models).toEqual([]);
    expect(info.retryAt).toBeNull();

    const error = await rejection(probeOpenAiServer(url, 'fh-wrong-key-123'));
    expect(error.code).toBe('refused');
    expect(error.message).toMatch(new RegExp(`^${url.replace(/[.]/g, '\\.')} refused: Missing or wrong API key.*\\(HTTP 401\\)$`));
    expect(error.message).not.toContain('fh-wrong-key-123');
    // No key at all: the same refusal.
    expect((await rejection(probeOpenAiServer(url, null))).message).toMatch(/refused: Missing or wrong API key.*\(HTTP 401\)$/);
  });
});

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (request: http.IncomingMessage, response: http.ServerResponse, body: string) => void;

/** A small OpenAI-compatible server on 127.0.0.1 whose chat answers each test writes. */
class FakeServer {
  readonly seen: Seen[] = [];
  chat: Handler = (_request, response) => sse(response, [chunk({ content: 'ok' }, 'stop')]);
  models: Handler = (_request, response) =>
    json(response, 200, { object: 'list', data: [{ id: 'fake-model', object: 'model', owned_by: 'me' }] });
  private server: http.Server | null = null;
  port = 0;

  async listen(port = 0): Promise<void> {
    this.server = http.createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (c: string) => (body += c));
      request.on('end', () => {
        this.seen.push({ method: request.method!, url: request.url!, headers: request.headers, body });
        if (request.method === 'GET' && request.url === '/v1/models') this.models(request, response, body);
        else if (request.method === 'POST' && request.url === '/v1/chat/completions') this.chat(request, response, body);
        else json(response, 404, { error: { message: 'Not found' } });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  chatRequests(): Array<Record<string, unknown>> {
    return this.seen.filter((s) => s.url === '/v1/chat/completions').map((s) => JSON.parse(s.body) as Record<string, unknown>);
  }
}

function json(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function chunk(delta: Record<string, unknown>, finish: string | null = null) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'fake-model',
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

function sse(response: http.ServerResponse, chunks: unknown[], end = true): void {
  if (!response.headersSent) response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const c of chunks) response.write(`data: ${JSON.stringify(c)}\n\n`);
  if (end) response.end('data: [DONE]\n\n');
}

describe('an OpenAI-compatible server as a machine (fake server)', () => {
  let fake: FakeServer;

  beforeAll(async () => {
    fake = new FakeServer();
    await fake.listen();
  });
  afterAll(async () => {
    await fake.close();
  });
  afterEach(() => {
    fake.seen.length = 0;
    fake.chat = (_request, response) => sse(response, [chunk({ content: 'ok' }, 'stop')]);
  });

  it("sends the conversation and sampling in OpenAI's names, no Authorization without a key, and the key as Bearer with one", async () => {
    const m = machine(fake.url);
    await m.generate(
      'fake-model',
      'r1',
      {
        system: 'Be brief.',
        messages: [
          { role: 'user', text: 'Hi' },
          { role: 'assistant', text: 'Hello.' },
          { role: 'user', text: 'Again' },
        ],
        sampling: {
          temperature: 0.5,
          topP: 0.9,
          topK: 20,
          minP: 0.05,
          repeatPenalty: 1.1,
          maxTokens: 64,
          seed: 7,
          frequencyPenalty: 0.2,
          presencePenalty: 0.3,
        },
      },
      () => undefined,
      new AbortController().signal,
    );
    const [body] = fake.chatRequests();
    expect(body).toMatchObject({
      model: 'fake-model',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Again' },
      ],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 20,
      min_p: 0.05,
      repeat_penalty: 1.1,
      max_tokens: 64,
      seed: 7,
      frequency_penalty: 0.2,
      presence_penalty: 0.3,
    });
    expect(fake.seen[0]!.headers.authorization).toBeUndefined();

    const keyed = machine(fake.url, 'sk-local-1234');
    keyed.start();
    await waitFor(keyed, (i) => i.state === 'online', 'online');
    expect(fake.seen.at(-1)!.headers.authorization).toBe('Bearer sk-local-1234');
  });

  it('reasoning deltas (reasoning_content and reasoning) come back as reasoning; usage and finish_reason make the stats', async () => {
    fake.chat = (_request, response) =>
      sse(response, [
        chunk({ role: 'assistant', content: '' }),
        chunk({ reasoning_content: 'Let me ' }),
        chunk({ reasoning: 'think.' }),
        chunk({ content: 'The answer' }),
        chunk({ content: ' is 4.' }),
        chunk({}, 'length'),
        {
          id: 'chatcmpl-1',
          object: 'chat.completion.chunk',
          created: 1,
          model: 'fake-model',
          choices: [],
          usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
        },
      ]);
    const m = machine(fake.url);
    const deltas = collect();
    const result = await m.generate(
      'fake-model',
      'r1',
      { messages: [{ role: 'user', text: '2+2?' }] },
      deltas.onDelta,
      new AbortController().signal,
    );
    expect(deltas.parts).toEqual([
      { kind: 'reasoning', text: 'Let me ' },
      { kind: 'reasoning', text: 'think.' },
      { kind: 'text', text: 'The answer' },
      { kind: 'text', text: ' is 4.' },
    ]);
    expect(result).toMatchObject({ requestId: 'r1', text: 'The answer is 4.', reasoning: 'Let me think.' });
    expect(result.stats).toMatchObject({ promptTokens: 12, generatedTokens: 9, stopReason: 'max-tokens' });
    expect(result.stats.reasoningMs).toBeGreaterThanOrEqual(0);
  });

  it('without usage, the pieces of output are the token count, and "stop" is the end of the reply', async () => {
    fake.chat = (_request, response) => sse(response, [chunk({ content: 'a' }), chunk({ content: 'b' }), chunk({ content: 'c' }, 'stop')]);
    const result = await machine(fake.url).generate(
      'fake-model',
      'r1',
      { messages: [{ role: 'user', text: 'x' }] },
      () => undefined,
      new AbortController().signal,
    );
    expect(result.text).toBe('abc');
    expect(result.stats).toMatchObject({ generatedTokens: 3, stopReason: 'eos' });
  });

  it("the server's error is shown as its own, with the machine's name and the HTTP status", async () => {
    fake.chat = (_request, response) => json(response, 404, { error: { message: "model 'x' not found", type: 'not_found_error' } });
    const m = machine(fake.url);
    m.start();
    await waitFor(m, (i) => i.state === 'online', 'online');
    const error = await rejection(
      m.generate('x', 'r1', { messages: [{ role: 'user', text: 'Hi' }] }, () => undefined, new AbortController().signal),
    );
    expect(error.code).toBe('remote_error');
    expect(error.message).toBe("Fake box: model 'x' not found (HTTP 404)");
    expect(m.info().state).toBe('online');

    // Other shapes of error bodies: vLLM's older top-level message, and plain text.
    fake.chat = (_request, response) =>
      json(response, 400, { object: 'error', message: "This model's maximum context length is 2048 tokens", code: 400 });
    expect(
      (await rejection(m.generate('x', 'r2', { messages: [{ role: 'user', text: 'Hi' }] }, () => undefined, new AbortController().signal)))
        .message,
    ).toBe("Fake box: This model's maximum context length is 2048 tokens (HTTP 400)");
    fake.chat = (_request, response) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      response.end('CUDA error: out of memory');
    };
    expect(
      (await rejection(m.generate('x', 'r3', { messages: [{ role: 'user', text: 'Hi' }] }, () => undefined, new AbortController().signal)))
        .message,
    ).toBe('Fake box: CUDA error: out of memory (HTTP 500)');
  });

  it('an error sent inside the stream (after some output) rejects with that message', async () => {
    fake.chat = (_request, response) =>
      sse(response, [chunk({ content: 'Once' }), { error: { message: 'The model ran out of memory.', type: 'server_error' } }]);
    const deltas = collect();
    const error = await rejection(
      machine(fake.url).generate(
        'fake-model',
        'r1',
        { messages: [{ role: 'user', text: 'Hi' }] },
        deltas.onDelta,
        new AbortController().signal,
      ),
    );
    expect(error.message).toBe('Fake box: The model ran out of memory.');
    expect(deltas.text()).toBe('Once');
  });

  it('a dropped connection mid-reply rejects naming the machine, after the deltas already sent, and the machine goes offline', async () => {
    fake.chat = (request, response) => {
      sse(response, [chunk({ content: 'Once upon' }), chunk({ content: ' a time' })], false);
      setTimeout(() => request.socket.destroy(), 100);
    };
    const m = machine(fake.url, null, { pollMs: 60_000, backoffMs: [60_000] });
    m.start();
    await waitFor(m, (i) => i.state === 'online', 'online');
    const deltas = collect();
    // The default stall timeout is 10 s: the drop itself must be what ends the reply.
    const error = await rejection(
      m.generate('fake-model', 'r1', { messages: [{ role: 'user', text: 'Hi' }] }, deltas.onDelta, new AbortController().signal),
    );
    expect(error.code).toBe('disconnected');
    expect(error.message).toBe('Fake box closed the connection mid-reply');
    expect(deltas.text()).toBe('Once upon a time');
    const info = m.info();
    expect(info).toMatchObject({ state: 'offline', busy: false });
    expect(info.retryAt).not.toBeNull();
    m.reconnect();
    await waitFor(m, (i) => i.state === 'online', 'online again');
  });

  it('a stream that stalls rejects once no data has come for the stall timeout', async () => {
    fake.chat = (_request, response) => sse(response, [chunk({ content: 'Once' })], false);
    const m = machine(fake.url, null, { stallTimeoutMs: 300 });
    const deltas = collect();
    const error = await rejection(
      m.generate('fake-model', 'r1', { messages: [{ role: 'user', text: 'Hi' }] }, deltas.onDelta, new AbortController().signal),
    );
    expect(error.code).toBe('disconnected');
    expect(error.message).toBe('Fake box stopped answering mid-reply (no data for 0.3 s)');
    expect(deltas.text()).toBe('Once');
  });

  it('a server that never starts its reply is given up on after the first-data timeout', async () => {
    fake.chat = () => undefined;
    const m = machine(fake.url, null, { firstDataTimeoutMs: 300 });
    const error = await rejection(
      m.generate('fake-model', 'r1', { messages: [{ role: 'user', text: 'Hi' }] }, () => undefined, new AbortController().signal),
    );
    expect(error.message).toBe('Fake box did not start its reply within 0.3 s');
  });

  it('aborting mid-stream stops the request on the server and resolves with what was generated', async () => {
    let closedOnServer = false;
    fake.chat = (request, response) => {
      sse(response, [chunk({ content: 'Once upon' })], false);
      response.on('close', () => (closedOnServer = true));
    };
    const m = machine(fake.url);
    const controller = new AbortController();
    const result = await m.generate(
      'fake-model',
      'r1',
      { messages: [{ role: 'user', text: 'Hi' }] },
      () => setTimeout(() => controller.abort(), 50),
      controller.signal,
    );
    expect(result.text).toBe('Once upon');
    expect(result.stats.stopReason).toBe('abort');
    expect(m.info().busy).toBe(false);
    await expect.poll(() => closedOnServer).toBe(true);
  });

  it('close() ends a reply under way: it fails (it did not finish), naming the machine', async () => {
    fake.chat = (_request, response) => sse(response, [chunk({ content: 'Once' })], false);
    const m = machine(fake.url);
    const pending = m.generate(
      'fake-model',
      'r1',
      { messages: [{ role: 'user', text: 'Hi' }] },
      () => void m.close(),
      new AbortController().signal,
    );
    await expect(pending).rejects.toMatchObject({ code: 'disconnected', message: expect.stringMatching(/was closed mid-reply/) });
  });
});

describe('a server that goes away and comes back', () => {
  it('goes offline with the reason and the next retry, and back online when the server returns', async () => {
    const fake = new FakeServer();
    await fake.listen();
    const port = fake.port;
    try {
      const m = machine(fake.url, null, { pollMs: 100, backoffMs: [50, 100] });
      const states: string[] = [];
      m.onChange((info) => states.push(info.state));
      m.start();
      await waitFor(m, (i) => i.state === 'online', 'online');
      await fake.close();

      const offline = await waitFor(m, (i) => i.state === 'offline', 'offline');
      expect(offline.error).toMatch(/^Did not answer: .*ECONNREFUSED/);
      expect(offline.retryAt).not.toBeNull();
      expect(Date.parse(offline.retryAt!)).toBeGreaterThan(Date.parse(offline.since) - 1);
      // It keeps trying, and "offline since" stays the start of the outage.
      await new Promise((r) => setTimeout(r, 400));
      expect(m.info().since).toBe(offline.since);

      // A reply asked for meanwhile says the machine did not answer.
      const error = await rejection(
        m.generate('fake-model', 'r1', { messages: [{ role: 'user', text: 'Hi' }] }, () => undefined, new AbortController().signal),
      );
      expect(error.code).toBe('unavailable');
      expect(error.message).toMatch(/^Fake box did not answer: .*ECONNREFUSED/);

      await fake.listen(port);
      const online = await waitFor(m, (i) => i.state === 'online', 'online again');
      expect(online).toMatchObject({ error: null, retryAt: null });
      expect(online.models.map((x) => x.modelId)).toEqual(['fake-model']);
      expect(states).toEqual(expect.arrayContaining(['connecting', 'online', 'offline']));
    } finally {
      await fake.close();
    }
  });

  it('a probe of a port where nothing listens says so, naming the URL', async () => {
    const fake = new FakeServer();
    await fake.listen();
    const url = fake.url;
    await fake.close();
    const error = await rejection(probeOpenAiServer(url, null));
    expect(error.code).toBe('unavailable');
    expect(error.message).toMatch(new RegExp(`^${url.replace(/[.]/g, '\\.')} did not answer: .*ECONNREFUSED`));
  });

  it("a probe of a server that refuses the key carries the server's message and status; llama-server is named as such", async () => {
    const fake = new FakeServer();
    await fake.listen();
    try {
      fake.models = (request, response) =>
        request.headers.authorization === 'Bearer right-key'
          ? json(response, 200, { object: 'list', data: [{ id: 'qwen.gguf', object: 'model', owned_by: 'llamacpp' }] })
          : json(response, 401, { error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' } });
      const error = await rejection(probeOpenAiServer(fake.url, 'wrong-key'));
      expect(error.message).toBe(`${fake.url} refused: Invalid API Key (HTTP 401)`);
      expect(await probeOpenAiServer(fake.url, 'right-key')).toEqual({ models: ['qwen.gguf'], suggestedName: 'llama-server' });

      fake.models = (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html' });
        response.end('<html>hello</html>');
      };
      expect((await rejection(probeOpenAiServer(fake.url, null))).message).toBe(
        `${fake.url} is not an OpenAI-compatible server: GET /v1/models did not return a model list`,
      );
    } finally {
      await fake.close();
    }
  });
});
