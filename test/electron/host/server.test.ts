import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHeadlessHost, type HeadlessHost } from '../../../electron/host/server';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { createHostClient } from '../../../shared/rpc/client';
import { MAX_MESSAGE_BYTES } from '../../../shared/rpc/protocol';
import { tempDir } from '../../helpers/temp';
import { closeCode, openSocket } from '../../helpers/ws-client';

let services: HostServices;
let host: HeadlessHost;
let base: string;

/** A file beside the UI folder: what a path-traversal bug would serve. */
const SECRET = 'secret beside the UI folder';

beforeEach(async () => {
  const parent = tempDir();
  const rendererDir = path.join(parent, 'ui');
  mkdirSync(rendererDir);
  writeFileSync(path.join(parent, 'secret.txt'), SECRET);
  writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Freehold</title>');
  mkdirSync(path.join(rendererDir, 'assets'));
  writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  services = await createHostServices({ dataDir: tempDir(), host: 'web' });
  host = await startHeadlessHost({ services, rendererDir, port: 0 });
  base = `127.0.0.1:${host.port}`;
});

afterEach(async () => {
  await host.close();
  await services.close();
});

function get(pathname: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: host.port, path: pathname, method, headers }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const rpcUrl = (token: string | null, hostPart = () => base) =>
  `ws://${hostPart()}/rpc${token === null ? '' : `?token=${encodeURIComponent(token)}`}`;

describe('headless host: HTTP', () => {
  it('binds to 127.0.0.1 by default and prints a URL carrying the secret', () => {
    expect(host.url).toBe(`http://127.0.0.1:${host.port}/?token=${host.secret}`);
    expect(host.secret.length).toBeGreaterThanOrEqual(40);
  });

  it('serves the UI with a strict Content-Security-Policy', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.body).toContain('<title>Freehold</title>');
    expect(res.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect((await get('/assets/app.js')).headers['content-type']).toMatch(/javascript/);
    // Client-side routes fall back to the app; missing files do not.
    expect((await get('/models')).status).toBe(200);
    expect((await get('/assets/missing.js')).status).toBe(404);
  });

  it('never serves a file outside the UI folder', async () => {
    for (const attempt of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/%2e%2e%2fsecret.txt',
    ]) {
      const res = await get(attempt);
      expect(res.status, attempt).toBe(404);
      expect(res.body, attempt).not.toContain(SECRET);
    }
    // A NUL in the path neither breaks the server nor reaches the file system: it is a client route, answered with the app.
    const nul = await get('/..%2fsecret.txt%00');
    expect(nul.status).toBe(404);
    expect((await get('/%00')).body).toContain('<title>Freehold</title>');
  });

  it('answers only to its own Host names (DNS rebinding)', async () => {
    expect((await get('/', { Host: 'attacker.example:80' })).status).toBe(421);
    expect((await get('/', { Host: `localhost:${host.port}` })).status).toBe(200);
    expect((await get('/', { Host: `127.0.0.1:${host.port + 1}` })).status).toBe(421);
  });

  it('refuses methods other than GET and HEAD', async () => {
    expect((await get('/', {}, 'POST')).status).toBe(405);
  });
});

describe('headless host: WebSocket', () => {
  it('carries the contract to a client that has the secret', async () => {
    const { transport } = await openSocket(rpcUrl(host.secret));
    const client = createHostClient(transport);
    expect((await client.api['app.info']()).host).toBe('web');
    const updated = await client.api['settings.update']({ appearance: { theme: 'light' } });
    expect(updated.appearance.theme).toBe('light');
    client.close();
  });

  it('refuses a missing or wrong secret', async () => {
    await expect(openSocket(rpcUrl(null))).rejects.toMatchObject({ status: 401 });
    await expect(openSocket(rpcUrl('wrong'))).rejects.toMatchObject({ status: 401 });
    await expect(openSocket(rpcUrl(`${host.secret}x`))).rejects.toMatchObject({ status: 401 });
  });

  it('refuses a page from another origin (cross-site WebSocket hijacking)', async () => {
    await expect(openSocket(rpcUrl(host.secret), { Origin: 'https://evil.example' })).rejects.toMatchObject({ status: 403 });
    await expect(openSocket(rpcUrl(host.secret), { Origin: 'null' })).rejects.toMatchObject({ status: 403 });
    await expect(openSocket(rpcUrl(host.secret), { Origin: `http://127.0.0.1:${host.port + 1}` })).rejects.toMatchObject({ status: 403 });
    const ok = await openSocket(rpcUrl(host.secret), { Origin: `http://127.0.0.1:${host.port}` });
    ok.socket.close();
  });

  it('refuses a foreign Host header on the upgrade', async () => {
    await expect(openSocket(rpcUrl(host.secret), { Host: 'rebind.example' })).rejects.toMatchObject({ status: 421 });
  });

  it('closes a connection that sends invalid JSON, and keeps serving others', async () => {
    const { socket } = await openSocket(rpcUrl(host.secret));
    const closed = closeCode(socket);
    socket.send('{"t": "q", "m": ');
    expect(await closed).toBe(1007);
    const { transport } = await openSocket(rpcUrl(host.secret));
    expect((await createHostClient(transport).api['app.info']()).name).toBe('Freehold');
    transport.close();
  });

  it('closes a connection that sends an oversized frame', async () => {
    const { socket } = await openSocket(rpcUrl(host.secret));
    const closed = closeCode(socket);
    socket.send(JSON.stringify({ t: 'q', m: 'app.info', a: ['x'.repeat(MAX_MESSAGE_BYTES)], i: '1' }));
    expect(await closed).toBe(1009);
  });

  it('answers wrong types and unknown methods with typed errors', async () => {
    const { transport } = await openSocket(rpcUrl(host.secret));
    const client = createHostClient(transport);
    await expect(client.api['settings.update']({ inference: { threads: 'many' } } as never)).rejects.toMatchObject({
      code: 'invalid_input',
    });
    const replies: unknown[] = [];
    transport.onMessage((m) => replies.push(m));
    transport.send({ t: 'q', m: 'fs.readFile', a: ['/etc/passwd'], i: 'u1' });
    await expect.poll(() => replies.length, { timeout: 5000 }).toBeGreaterThan(0);
    expect(replies).toContainEqual({ t: 's', i: 'u1', e: expect.objectContaining({ code: 'unknown_method' }) });
    client.close();
  });

  it('drops a connection that keeps sending malformed messages', async () => {
    const { socket } = await openSocket(rpcUrl(host.secret));
    const closed = closeCode(socket);
    for (let i = 0; i < 25; i += 1) socket.send(JSON.stringify({ nonsense: i }));
    expect(await closed).toBe(1008);
  });

  it('broadcasts events to every browser tab', async () => {
    const a = createHostClient((await openSocket(rpcUrl(host.secret))).transport);
    const b = createHostClient((await openSocket(rpcUrl(host.secret))).transport);
    const seen = new Promise((resolve) => b.on('onSettingsChanged', (s) => resolve(s.inference.threads)));
    await a.api['settings.update']({ inference: { threads: 2 } });
    expect(await seen).toBe(2);
    a.close();
    b.close();
  });
});

describe('headless host: dropped-file upload', () => {
  const upload = (name: string, body: Buffer, headers: Record<string, string>) =>
    new Promise<{ status: number; body: { ok: boolean; error?: string; model?: { id: string; origin: string } } }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: host.port,
          path: `/api/upload?name=${encodeURIComponent(name)}`,
          method: 'POST',
          headers: { 'Content-Length': body.length, ...headers },
        },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('stores a dropped model as a verified copy, and refuses bad files and strangers', async () => {
    const { readFileSync } = await import('node:fs');
    const { testModelPath } = await import('../../helpers/test-model');
    const data = readFileSync(testModelPath());
    const ok = await upload('my model.gguf', data, { 'X-Freehold-Token': host.secret, Origin: `http://127.0.0.1:${host.port}` });
    expect(ok.status).toBe(200);
    expect(ok.body.model).toMatchObject({ origin: 'copied' });
    expect(services.library.snapshot().models).toHaveLength(1);

    const bad = await upload('notes.gguf', Buffer.from('GGUF nonsense, not a model at all.......'), { 'X-Freehold-Token': host.secret });
    expect(bad.status).toBe(422);
    expect(bad.body.error).toMatch(/^Not a usable GGUF model: /);
    expect((await upload('x.gguf', data, {})).status).toBe(401);
    expect((await upload('x.gguf', data, { 'X-Freehold-Token': host.secret, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await upload('x.exe', data, { 'X-Freehold-Token': host.secret })).status).toBe(400);
    expect(services.library.snapshot().models).toHaveLength(1);
  });
});
