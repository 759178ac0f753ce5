import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHostClient } from '../../../shared/rpc/client';
import { tempDir } from '../../helpers/temp';
import { startServeProcess } from '../../helpers/serve-process';
import { openSocket } from '../../helpers/ws-client';
import { parseServeArgs } from '../../../electron/host/serve';

describe('npm run serve', () => {
  it('parses its options and refuses bad ones', () => {
    expect(parseServeArgs([])).toEqual({
      port: 4848,
      host: '127.0.0.1',
      dataDir: undefined,
      api: true,
      apiPort: undefined,
      apiHost: undefined,
      share: false,
      shareHost: undefined,
      sharePort: undefined,
      name: undefined,
    });
    expect(parseServeArgs(['--no-api'])).toMatchObject({ api: false });
    expect(parseServeArgs(['--share', '--share-host', '127.0.0.1', '--share-port', '0', '--name', ' tower '])).toMatchObject({
      share: true,
      shareHost: '127.0.0.1',
      sharePort: 0,
      name: 'tower',
    });
    expect(() => parseServeArgs(['--share-port', '-1'])).toThrow(/--share-port/);
    expect(parseServeArgs(['--api-port', '9000', '--api-host', '0.0.0.0'])).toMatchObject({ apiPort: 9000, apiHost: '0.0.0.0' });
    expect(() => parseServeArgs(['--api-port', '70000'])).toThrow(/--api-port/);
    expect(parseServeArgs(['--port', '0', '--data-dir', '/d'])).toMatchObject({ port: 0, dataDir: '/d' });
    expect(() => parseServeArgs(['--port', 'abc'])).toThrow(/--port/);
    expect(() => parseServeArgs(['--bogus'])).toThrow();
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`shuts down cleanly on ${signal}, keeping what was saved`, async () => {
      const dataDir = tempDir();
      const serve = await startServeProcess(['--port', '0', '--data-dir', dataDir]);
      expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{40,}$/);
      const url = new URL(serve.url);
      const { transport } = await openSocket(`ws://${url.host}/rpc?token=${url.searchParams.get('token')}`);
      const client = createHostClient(transport);
      await client.api['settings.update']({ inference: { threads: 3 } });
      serve.child.kill(signal);
      expect(await serve.exited).toEqual({ code: 0, signal: null });
      expect(serve.output()).toMatch(/Stopped\./);
      const saved = JSON.parse(readFileSync(path.join(dataDir, 'settings.json'), 'utf8'));
      expect(saved.inference.threads).toBe(3);
    });
  }

  it('serves the OpenAI-compatible API with its key by default, and not with --no-api', async () => {
    const serve = await startServeProcess(['--port', '0', '--data-dir', tempDir()]);
    try {
      await expect.poll(() => /OpenAI-compatible API: (http:\/\/127\.0\.0\.1:\d+\/v1) +\(key: (fh-[\w-]+)/.test(serve.output())).toBe(true);
      const [, url, key] = /OpenAI-compatible API: (\S+) +\(key: (fh-[\w-]+)/.exec(serve.output())!;
      expect((await fetch(`${url}/models`)).status).toBe(401);
      const listed = await fetch(`${url}/models`, { headers: { Authorization: `Bearer ${key}` } });
      expect(listed.status).toBe(200);
      expect(await listed.json()).toEqual({ object: 'list', data: [] });
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
    const quiet = await startServeProcess(['--port', '0', '--data-dir', tempDir(), '--no-api']);
    quiet.child.kill('SIGTERM');
    await quiet.exited;
    expect(quiet.output()).not.toMatch(/OpenAI-compatible API/);
  });

  it('says clearly when the port is taken', async () => {
    const first = await startServeProcess(['--port', '0', '--data-dir', tempDir()]);
    const port = new URL(first.url).port;
    await expect(startServeProcess(['--port', port, '--data-dir', tempDir()])).rejects.toThrow(/port \d+ is in use/);
    first.child.kill('SIGTERM');
    await first.exited;
  });
});
