import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serveStatic } from '../../../electron/host/static-files';
import { handleAppRequest } from '../../../electron/main/protocol';
import { tempDir } from '../../helpers/temp';

let rendererDir: string;
let server: http.Server;

beforeEach(async () => {
  // The UI folder, and beside it a secret it must never serve.
  const outside = tempDir();
  writeFileSync(path.join(outside, 'secret.js'), 'the secret');
  mkdirSync(path.join(outside, 'private'));
  writeFileSync(path.join(outside, 'private', 'key.js'), 'the key');
  rendererDir = tempDir();
  writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Freehold</title>');
  mkdirSync(path.join(rendererDir, 'assets'));
  writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  // Links that stay inside are fine; links that lead out are not.
  symlinkSync(path.join(rendererDir, 'assets', 'app.js'), path.join(rendererDir, 'assets', 'alias.js'));
  symlinkSync(path.join(outside, 'secret.js'), path.join(rendererDir, 'assets', 'leak.js'));
  symlinkSync(path.join(outside, 'private'), path.join(rendererDir, 'linked'), 'dir');
  server = http.createServer((req, res) => void serveStatic(rendererDir, new URL(req.url ?? '/', 'http://x').pathname, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function get(pathname: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const { port } = server.address() as AddressInfo;
    http
      .get({ host: '127.0.0.1', port, path: pathname }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe.skipIf(process.platform === 'win32')('the UI folder is served from its real path only', () => {
  it('headless host: a symlink inside the UI folder that points outside is a 404', async () => {
    expect(await get('/assets/app.js')).toEqual({ status: 200, body: 'console.log(1)' });
    expect(await get('/assets/alias.js')).toEqual({ status: 200, body: 'console.log(1)' });
    expect((await get('/assets/leak.js')).status).toBe(404);
    expect((await get('/linked/key.js')).status).toBe(404);
    for (const attempt of ['/assets/leak.js', '/linked/key.js', '/linked/key'])
      expect((await get(attempt)).body).not.toMatch(/the (secret|key)/);
  });

  it('desktop app:// protocol: the same', async () => {
    const fetchApp = async (pathname: string) => {
      const res = await handleAppRequest(rendererDir, { url: `app://freehold${pathname}` });
      return { status: res.status, body: await res.text() };
    };
    expect(await fetchApp('/assets/app.js')).toEqual({ status: 200, body: 'console.log(1)' });
    expect(await fetchApp('/assets/alias.js')).toEqual({ status: 200, body: 'console.log(1)' });
    expect((await fetchApp('/assets/leak.js')).status).toBe(404);
    expect((await fetchApp('/linked/key.js')).status).toBe(404);
    for (const attempt of ['/assets/leak.js', '/linked/key.js', '/linked/key'])
      expect((await fetchApp(attempt)).body).not.toMatch(/the (secret|key)/);
  });

  it('serves a UI folder that is itself reached through a symlink', async () => {
    const link = path.join(tempDir(), 'renderer');
    symlinkSync(rendererDir, link, 'dir');
    rendererDir = link;
    expect(await get('/assets/app.js')).toEqual({ status: 200, body: 'console.log(1)' });
    expect((await get('/')).body).toContain('<title>Freehold</title>');
    expect((await get('/assets/leak.js')).status).toBe(404);
  });
});
