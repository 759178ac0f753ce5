/**
 * The headless host against slow, stalled, oversized and hostile clients:
 * uploads checked as they arrive (the GGUF magic on the first bytes, room on
 * disk as bytes come), timed on inactivity rather than total time, their names
 * made safe to show; refusals that close their connection; and RPC messages
 * over the limit refused with a clear error instead of a dropped connection.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHeadlessHost, type HeadlessHost } from '../../../electron/host/server';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { RpcError } from '../../../shared/errors';
import { createHostClient } from '../../../shared/rpc/client';
import * as raw from '../../helpers/raw-socket';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';
import { openSocket } from '../../helpers/ws-client';

let services: HostServices;
let host: HeadlessHost;

const IDLE_MS = 800;

beforeEach(async () => {
  const rendererDir = tempDir();
  writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Freehold</title>');
  services = await createHostServices({ dataDir: tempDir(), host: 'web' });
  host = await startHeadlessHost({
    services,
    rendererDir,
    port: 0,
    timeouts: { headersMs: 600, idleMs: IDLE_MS, checkEveryMs: 100 },
    uploadSpaceCheckBytes: 64 * 1024,
  });
});

afterEach(async () => {
  await host.close();
  await services.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Files left in the models folder (partials included). */
function modelsFolderFiles(): string[] {
  const root = services.library.modelsDirectory();
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name);
}

/** A raw connection to the host (see raw-socket.ts): what came back, when it came, and when the socket closed. */
const rawRequest = (head: string, chunks: Array<{ data: Buffer | string; delayMs?: number }> = []) =>
  raw.rawRequest(host.port, head, chunks);

const uploadHead = (name: string, headers: Record<string, string>) =>
  raw.requestHead(`POST /api/upload?name=${encodeURIComponent(name)}`, { Host: `127.0.0.1:${host.port}`, ...headers });

const chunked = (data: Buffer) => Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);

describe('uploads', () => {
  it('refuses a file without the GGUF magic on its first bytes, at once, keeping nothing', async () => {
    const zeros = Buffer.alloc(64 * 1024);
    // 300 MB announced; the client sends one chunk, then waits for the answer before sending more.
    const request = rawRequest(uploadHead('zeros.gguf', { 'X-Freehold-Token': host.secret, 'Content-Length': String(300 * 1024 * 1024) }), [
      { data: zeros },
      ...Array.from({ length: 50 }, () => ({ data: zeros, delayMs: 200 })),
    ]);
    await expect.poll(() => request.answer(), { timeout: 3000 }).not.toBeNull();
    const answer = request.answer()!;
    expect(answer.status).toBe(422);
    expect(JSON.parse(answer.body)).toMatchObject({ ok: false, error: expect.stringMatching(/not a GGUF model file/) });
    expect(answer.headers.connection).toBe('close');
    // Answered on the first chunk, and the connection closed: the rest is never read.
    expect(request.sentChunks()).toBeLessThan(5);
    await request.closed;
    expect(modelsFolderFiles()).toEqual([]);
    expect(services.library.snapshot().models).toHaveLength(0);
  });

  it('checks free space as a chunked upload (no Content-Length) arrives, and deletes the partial', async () => {
    const limit = 256 * 1024;
    const asked: number[] = [];
    let received = 0;
    const real = services.library.ensureSpace.bind(services.library);
    services.library.ensureSpace = async (dir: string, bytes: number) => {
      asked.push(bytes);
      // A disk with room for 256 KiB more than the upload has sent so far.
      if (received + bytes > limit)
        throw new RpcError('conflict', `Not enough disk space: ${bytes} bytes needed, ${limit - received} free.`);
      return real(dir, 0);
    };
    const model = readFileSync(testModelPath());
    const pieces = Array.from({ length: Math.ceil(model.length / (32 * 1024)) }, (_, i) =>
      model.subarray(i * 32 * 1024, (i + 1) * 32 * 1024),
    );
    const request = rawRequest(uploadHead('big.gguf', { 'X-Freehold-Token': host.secret, 'Transfer-Encoding': 'chunked' }), [
      ...pieces.map((piece) => ({ data: chunked(piece), delayMs: 20 })),
      { data: '0\r\n\r\n' },
    ]);
    // Count what the guard has passed on as it is written.
    services.events.subscribeAll((event, payload) => {
      if (event === 'onImportProgress') received = (payload as { bytes: number }).bytes;
    });
    await expect.poll(() => request.answer(), { timeout: 5000 }).not.toBeNull();
    const answer = request.answer()!;
    expect(answer.status).toBe(507);
    expect(JSON.parse(answer.body).error).toMatch(/Not enough disk space/);
    expect(asked.length).toBeGreaterThan(1);
    expect(request.sentChunks()).toBeLessThan(pieces.length);
    await request.closed;
    expect(modelsFolderFiles()).toEqual([]);
  });

  it('lets a steady upload run as long as it takes, but ends one that stalls and deletes its partial', async () => {
    const model = readFileSync(testModelPath());
    const pieces = 12;
    const size = Math.ceil(model.length / pieces);
    // Four times the idle limit in all, never idle for long.
    const steady = rawRequest(uploadHead('slow model.gguf', { 'X-Freehold-Token': host.secret, 'Content-Length': String(model.length) }), [
      ...Array.from({ length: pieces }, (_, i) => ({ data: model.subarray(i * size, (i + 1) * size), delayMs: (IDLE_MS * 4) / pieces })),
    ]);
    await expect.poll(() => steady.answer(), { timeout: 10_000 }).not.toBeNull();
    expect(steady.answer()!.status).toBe(200);
    expect(steady.answeredAt()!).toBeGreaterThan(IDLE_MS * 3);
    expect(services.library.snapshot().models).toHaveLength(1);
    steady.socket.destroy();

    const before = modelsFolderFiles().length;
    const stalled = rawRequest(uploadHead('stalled.gguf', { 'X-Freehold-Token': host.secret, 'Content-Length': String(model.length) }), [
      { data: model.subarray(0, 100_000) },
    ]);
    const closedAfter = await stalled.closed;
    expect(closedAfter).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(closedAfter).toBeLessThan(IDLE_MS + 2000);
    await expect.poll(() => modelsFolderFiles().length, { timeout: 3000 }).toBe(before);
    expect(services.library.snapshot().models).toHaveLength(1);
  });

  it('shows and stores an upload name without control or bidi characters or folders', async () => {
    const progress: string[] = [];
    services.events.subscribeAll((event, payload) => {
      if (event === 'onImportProgress') progress.push((payload as { path: string }).path);
    });
    const model = readFileSync(testModelPath());
    const name = '..\\..\\evil\u0000\u202Egnp.\u2066x/y\u0007.gguf';
    const request = rawRequest(uploadHead(name, { 'X-Freehold-Token': host.secret, 'Content-Length': String(model.length) }), [
      { data: model },
    ]);
    await expect.poll(() => request.answer(), { timeout: 5000 }).not.toBeNull();
    const answer = request.answer()!;
    expect(answer.status).toBe(200);
    const stored = services.library.snapshot().models[0]!;
    for (const shown of [stored.name, ...progress, JSON.parse(answer.body).model.name as string]) {
      expect(shown).not.toMatch(/[\p{Cc}\p{Bidi_Control}\\/]/u);
    }
    expect(progress[0]).toBe(`.._.._evilgnp.x_y.gguf`);
    request.socket.destroy();
  });
});

describe('slow and refused clients', () => {
  it('closes connections whose headers never finish, and refusals close their sockets', async () => {
    const slow = Array.from({ length: 20 }, () =>
      rawRequest(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nX-Slow: `, [{ data: 'a', delayMs: 300 }]),
    );
    const closedAfter = await Promise.all(slow.map((request) => request.closed));
    for (const ms of closedAfter) expect(ms).toBeLessThan(3000);

    const refusals: Array<[string, number]> = [
      [`POST /api/upload?name=x.gguf HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nContent-Length: 1000000\r\n\r\nGGUF`, 401],
      [
        `POST /api/upload?name=x.gguf HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nOrigin: http://evil.example\r\nX-Freehold-Token: ${host.secret}\r\nContent-Length: 1000000\r\n\r\nGGUF`,
        403,
      ],
      [`GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n`, 421],
      [`POST / HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nContent-Length: 1000000\r\n\r\nabc`, 405],
    ];
    for (const [head, status] of refusals) {
      const request = rawRequest(head);
      const closedAfter = await request.closed;
      expect({ status: request.answer()?.status, connection: request.answer()?.headers.connection }).toEqual({
        status,
        connection: 'close',
      });
      expect(closedAfter).toBeLessThan(IDLE_MS);
    }
  });
});

describe('RPC message limits over the WebSocket', () => {
  it('refuses a chat message over 1 MiB with a clear error and keeps the connection', async () => {
    const { transport, socket } = await openSocket(`ws://127.0.0.1:${host.port}/rpc?token=${encodeURIComponent(host.secret)}`);
    const client = createHostClient(transport);
    const chat = await client.api['chats.create']({});
    // 400,000 characters, 1.2 MB as UTF-8: under the contract's character count, over the frame limit.
    const text = '漢'.repeat(400_000);
    await expect(client.api['chats.send']({ conversationId: chat.id, parentId: null, text })).rejects.toMatchObject({
      code: 'payload_too_large',
      message: expect.stringMatching(/Too large to send \(1\.14 MiB\).*at most 1 MiB/),
    });
    expect(socket.readyState).toBe(socket.OPEN);
    expect((await client.api['app.info']()).name).toBe('Freehold');
    client.close();
  });

  it('brings a conversation larger than 1 MiB to the UI', async () => {
    const big = 'x'.repeat(600_000);
    const imported = await services.handlers['chats.import']({
      data: {
        format: 'freehold-conversation',
        version: 1,
        conversation: {
          title: 'Long',
          systemPrompt: '',
          settings: {},
          modelId: null,
          pinned: false,
          createdAt: new Date().toISOString(),
          activeLeafId: 'b',
        },
        messages: [
          {
            id: 'a',
            parentId: null,
            role: 'user',
            content: big,
            reasoning: '',
            status: 'complete',
            error: null,
            createdAt: new Date().toISOString(),
          },
          {
            id: 'b',
            parentId: 'a',
            role: 'assistant',
            content: big,
            reasoning: '',
            status: 'complete',
            error: null,
            createdAt: new Date().toISOString(),
          },
        ],
      },
    });
    const { transport } = await openSocket(`ws://127.0.0.1:${host.port}/rpc?token=${encodeURIComponent(host.secret)}`);
    const client = createHostClient(transport);
    const detail = await Promise.race([client.api['chats.get']({ id: imported.id }), sleep(5000).then(() => 'no answer' as const)]);
    expect(detail).not.toBe('no answer');
    expect((detail as { messages: unknown[] }).messages).toHaveLength(2);
    client.close();
  });
});
