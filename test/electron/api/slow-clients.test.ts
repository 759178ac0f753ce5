/**
 * The local API against slow and refused clients, over raw sockets on
 * 127.0.0.1 with shortened timeouts: headers and bodies that never finish are
 * cut off (with or without the key), refusals close their connection, and a
 * streamed answer that runs far past every timeout is not cut.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../../electron/api/api-server';
import { FairQueue } from '../../../electron/inference/fair-queue';
import type { InferenceService } from '../../../electron/inference/inference-service';
import type { ModelLibrary } from '../../../electron/library/model-library';
import type { ChatDelta, GenerateResult } from '../../../shared/inference';
import * as raw from '../../helpers/raw-socket';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TIMEOUTS = { headersMs: 500, requestMs: 800, keepAliveMs: 500, checkEveryMs: 100 };
const KEY = 'fh-test-key';

/** An inference service whose model answers slowly: one delta every 300 ms, ten in all. */
function slowInference(): InferenceService {
  const queue = new FairQueue();
  const run = (
    source: 'ui' | 'api',
    requestId: string,
    _model: unknown,
    job: { input: unknown },
    options: { onDelta?: (delta: ChatDelta) => void } = {},
  ) =>
    queue.run(source, requestId, async (): Promise<GenerateResult> => {
      if (typeof job.input === 'function') (job.input as (model: { contextSize: number }) => unknown)({ contextSize: 4096 });
      for (let i = 0; i < 10; i += 1) {
        await sleep(300);
        options.onDelta?.({ requestId, parts: [{ kind: 'text', text: `w${i} ` }] });
      }
      return {
        requestId,
        text: Array.from({ length: 10 }, (_, i) => `w${i} `).join(''),
        reasoning: '',
        stats: { promptTokens: 3, generatedTokens: 10, timeToFirstTokenMs: 300, tokensPerSecond: 3, totalMs: 3000, stopReason: 'eos' },
      };
    });
  return {
    run,
    status: () => ({ queue: queue.state() }),
    abort: async () => true,
  } as unknown as InferenceService;
}

const library = {
  snapshot: () => ({ models: [{ id: 'm1', files: ['/models/tiny.gguf'], name: 'tiny', addedAt: '2026-01-01', publisher: null }] }),
} as unknown as ModelLibrary;

let server: ApiServer;

beforeAll(async () => {
  server = await startApiServer({
    inference: slowInference(),
    library,
    host: '127.0.0.1',
    port: 0,
    key: () => KEY,
    requireKey: true,
    corsOrigins: [],
    timeouts: TIMEOUTS,
  });
});

afterAll(async () => {
  await server?.close();
});

/** A raw connection (see raw-socket.ts): the request head now, the body chunks after their delays; what came back and when it closed. */
const rawRequest = (head: string, chunks: Array<{ data: string; delayMs?: number }> = []) =>
  raw.rawRequest(server.port, head, chunks, 'utf8');

const post = (headers: Record<string, string>, length: number) =>
  raw.requestHead('POST /v1/chat/completions', {
    Host: `127.0.0.1:${server.port}`,
    'Content-Type': 'application/json',
    'Content-Length': String(length),
    ...headers,
  });

describe('slow clients', () => {
  it('closes 20 connections whose bodies never finish, with the key or without it', async () => {
    const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }] });
    // A byte every 200 ms: never idle, never done.
    const trickle = Array.from({ length: 40 }, (_, i) => ({ data: body[i % body.length]!, delayMs: 200 }));
    const withKey = Array.from({ length: 10 }, () => rawRequest(post({ Authorization: `Bearer ${KEY}` }, body.length * 10), trickle));
    const withoutKey = Array.from({ length: 10 }, () => rawRequest(post({}, body.length * 10), trickle));
    const closedAfter = await Promise.all([...withKey, ...withoutKey].map((request) => request.closed));
    for (const ms of closedAfter) expect(ms).toBeLessThan(TIMEOUTS.requestMs + 1000);
    // Without the key: refused at once, on the headers, and closed.
    for (const request of withoutKey)
      expect({ status: request.status(), connection: request.header('Connection') }).toEqual({ status: 401, connection: 'close' });
    for (const request of withKey) expect(request.status()).toBe(408);
  });

  it('closes connections whose headers never finish', async () => {
    const slow = Array.from({ length: 20 }, () =>
      rawRequest(
        `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nX-Slow: `,
        Array.from({ length: 20 }, () => ({ data: 'a', delayMs: 150 })),
      ),
    );
    const closedAfter = await Promise.all(slow.map((request) => request.closed));
    for (const ms of closedAfter) expect(ms).toBeLessThan(TIMEOUTS.headersMs + 1000);
  });

  it('closes the connection of every refusal made before the body is read', async () => {
    const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }] });
    const cases: Array<[string, string, number]> = [
      ['no key', post({}, body.length), 401],
      [
        'a foreign Host',
        post({ Authorization: `Bearer ${KEY}` }, body.length).replace(`Host: 127.0.0.1:${server.port}`, 'Host: evil.example'),
        421,
      ],
      ['a foreign Origin', post({ Authorization: `Bearer ${KEY}`, Origin: 'http://evil.example' }, body.length), 403],
      ['a text/plain body', post({ Authorization: `Bearer ${KEY}` }, body.length).replace('application/json', 'text/plain'), 415],
      ['a body over the limit (33 MiB on this route, with images)', post({ Authorization: `Bearer ${KEY}` }, 34 * 1024 * 1024), 413],
    ];
    for (const [what, head, status] of cases) {
      // The body is announced but only begun: a kept-alive socket would wait for the rest.
      const request = rawRequest(head, [{ data: body.slice(0, 10) }]);
      const closedAfter = await request.closed;
      expect({ what, status: request.status(), connection: request.header('Connection') }).toEqual({ what, status, connection: 'close' });
      expect(closedAfter, what).toBeLessThan(TIMEOUTS.requestMs);
    }
  });

  it('does not cut a streamed answer that runs far past every timeout', async () => {
    const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    const request = rawRequest(post({ Authorization: `Bearer ${KEY}` }, Buffer.byteLength(body)), [{ data: body }]);
    const closedAfter = await Promise.race([request.closed, sleep(6000).then(() => -1)]);
    const text = request.text();
    expect(request.status()).toBe(200);
    expect(text).toContain('w9 ');
    expect(text).toContain('data: [DONE]');
    // Three seconds of answer against timeouts under one second; the client closes it, not the server.
    expect(closedAfter === -1 || closedAfter > 3 * TIMEOUTS.requestMs).toBe(true);
  });
});
