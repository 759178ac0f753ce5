/**
 * The local API's named keys (electron/api/api-keys.ts): stored as hashes,
 * the old single key migrated as "default", names checked, changes shared
 * between processes through the file, usage written in batches; and who may
 * make or revoke keys (not paired machines, not browsers on other machines).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiKeyring, findKey } from '../../../electron/api/api-keys';
import { ApiKeyStore } from '../../../electron/api/api-key';
import { startApiServer } from '../../../electron/api/api-server';
import type { ApiInference } from '../../../electron/api/routes/context';
import type { ModelLibrary } from '../../../electron/library/model-library';
import { remoteBrowserHandlers } from '../../../electron/host/server';
import { peerSession } from '../../../electron/machines/peer-handlers';
import { apiHandlers } from '../../../electron/services/handlers/api';
import type { ApiController } from '../../../electron/api/api-controller';
import { apiKeyNameSchema } from '../../../shared/api';
import { methods, type HostHandlers, type MethodName } from '../../../shared/contract';
import { tempDir } from '../../helpers/temp';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const OLD_KEY = `fh-${'A1b2C3d4'.repeat(5)}xyz`;

async function opened(dir: string, options: ConstructorParameters<typeof ApiKeyring>[1] = {}) {
  const keyring = new ApiKeyring(dir, options);
  await keyring.open();
  return keyring;
}

describe('API keys on disk', () => {
  it('a data folder that goes away under a running host fails no request: the keys as last read still answer', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const keyring = await opened(dir, { log: (line) => lines.push(line) });
    const { key, secret } = await keyring.create('alice');
    await fs.rm(dir, { recursive: true, force: true });
    expect(await keyring.identify(secret)).toEqual({ id: key.id, name: 'alice' });
    expect(await keyring.identify('fh-wrong')).toBeNull();
    expect(lines.join('\n')).toMatch(/could not re-read the API keys/);
    await keyring.close();
  });

  it('keeps only a hash of each named key, readable by this user only, and shows the key once', async () => {
    const dir = tempDir();
    const keyring = await opened(dir);
    const { key, secret } = await keyring.create('alice');
    expect(secret).toMatch(/^fh-[\w-]{43}$/);
    expect(key).toMatchObject({ name: 'alice', prefix: secret.slice(3, 9), requests: 0, tokens: 0, lastUsedAt: null, isDefault: false });
    expect(Object.values(key)).not.toContain(secret);

    const text = readFileSync(keyring.file, 'utf8');
    expect(text).not.toContain(secret);
    expect(text).not.toContain(secret.slice(3));
    expect(text).toContain(sha256(secret));
    const stored = JSON.parse(text) as { keys: Array<Record<string, unknown>> };
    expect(Object.keys(stored.keys.find((k) => k.name === 'alice')!).sort()).toEqual(
      ['createdAt', 'hash', 'id', 'lastUsedAt', 'name', 'prefix', 'requests', 'tokens'].sort(),
    );
    if (process.platform !== 'win32') expect(statSync(keyring.file).mode & 0o777).toBe(0o600);
    // Nothing else in the data folder holds it either (no lock or temporary file left behind).
    for (const name of readdirSync(dir)) expect(readFileSync(path.join(dir, name), 'utf8'), name).not.toContain(secret);
    expect(readdirSync(dir).sort()).toEqual(['api-key', 'api-keys.json']);

    // The list never carries a key.
    expect(JSON.stringify(keyring.list())).not.toContain(secret);
    expect(await keyring.identify(secret)).toEqual({ id: key.id, name: 'alice' });
    expect(await keyring.identify(`${secret}x`)).toBeNull();
    expect(await keyring.identify('')).toBeNull();
    await keyring.close();
  });

  it('makes the key from before named keys the key named "default", dated as its file, and keeps it working', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'api-key'), `${OLD_KEY}\n`, { mode: 0o600 });
    const then = new Date('2025-06-01T12:00:00.000Z');
    utimesSync(path.join(dir, 'api-key'), then, then);
    const keyring = await opened(dir);
    const [only] = keyring.list();
    expect(keyring.list()).toHaveLength(1);
    expect(only).toMatchObject({ name: 'default', prefix: OLD_KEY.slice(3, 9), createdAt: then.toISOString(), isDefault: true });
    expect(keyring.defaultSecret()).toBe(OLD_KEY);
    expect(await keyring.identify(OLD_KEY)).toEqual({ id: only!.id, name: 'default' });
    // The stored list has its hash; the old file stays so that this computer's UI can still show and copy it.
    expect(readFileSync(path.join(dir, 'api-keys.json'), 'utf8')).toContain(sha256(OLD_KEY));
    expect(readFileSync(path.join(dir, 'api-keys.json'), 'utf8')).not.toContain(OLD_KEY);
    expect(readFileSync(path.join(dir, 'api-key'), 'utf8').trim()).toBe(OLD_KEY);
    await keyring.close();

    // Opened again: the same key, not migrated twice.
    const again = await opened(dir);
    expect(again.list()).toEqual([only]);
    await again.close();

    // The old store still reads the same key (what `api.status` shows).
    expect(await new ApiKeyStore(dir).load()).toBe(OLD_KEY);
  });

  it('makes a default key on a first start', async () => {
    const dir = tempDir();
    const keyring = await opened(dir);
    expect(keyring.list()).toMatchObject([{ name: 'default', isDefault: true }]);
    expect(await keyring.identify(keyring.defaultSecret())).toMatchObject({ name: 'default' });
    expect(readFileSync(path.join(dir, 'api-key'), 'utf8').trim()).toBe(keyring.defaultSecret());
    await keyring.close();
  });

  it('checks names: 1 to 60 characters, no control or direction characters, unique ignoring case', async () => {
    for (const good of ['alice', 'Alice Laptop', 'ci-runner_2', 'bob@tower', 'Zoë', '7', 'a'.repeat(60), '  padded  '])
      expect(apiKeyNameSchema.safeParse(good).success, good).toBe(true);
    for (const bad of [
      '',
      '   ',
      'a'.repeat(61),
      '-flag',
      '.hidden',
      'a/b',
      'tab\there',
      'new\nline',
      'rtl\u202eexe',
      'quote"d',
      'semi;colon',
    ])
      expect(apiKeyNameSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    expect(apiKeyNameSchema.parse('  padded  ')).toBe('padded');

    const keyring = await opened(tempDir());
    await expect(keyring.create('bad/name')).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/1 to 60 characters/),
    });
    await keyring.create('Alice');
    await expect(keyring.create('alice')).rejects.toMatchObject({
      code: 'conflict',
      message: 'There is already a key named "alice"; choose another name.',
    });
    await expect(keyring.create('DEFAULT')).rejects.toMatchObject({ code: 'conflict' });
    expect(keyring.list().map((k) => k.name)).toEqual(['default', 'Alice']);
    expect(findKey(keyring.list(), 'ALICE')?.name).toBe('Alice');
    expect(findKey(keyring.list(), keyring.list()[1]!.id)?.name).toBe('Alice');
    await keyring.close();
  });

  it('revokes a key at once (telling who listens) and replaces, never revokes, the default key', async () => {
    const keyring = await opened(tempDir());
    const revoked: string[][] = [];
    keyring.onRevoked((ids) => revoked.push(ids));
    const { key, secret } = await keyring.create('bob');
    await keyring.revoke(key.id);
    expect(revoked).toEqual([[key.id]]);
    expect(await keyring.identify(secret)).toBeNull();
    await expect(keyring.revoke(key.id)).rejects.toMatchObject({ code: 'not_found' });
    expect(readFileSync(keyring.file, 'utf8')).not.toContain(sha256(secret));

    const before = keyring.list()[0]!;
    await expect(keyring.revoke(before.id)).rejects.toMatchObject({ message: expect.stringMatching(/cannot be revoked, only replaced/) });
    const old = keyring.defaultSecret();
    const fresh = await keyring.regenerateDefault();
    expect(fresh).not.toBe(old);
    expect(revoked.at(-1)).toEqual([before.id]);
    expect(await keyring.identify(old)).toBeNull();
    expect(await keyring.identify(fresh)).toMatchObject({ name: 'default' });
    expect(keyring.list()).toMatchObject([{ name: 'default', prefix: fresh.slice(3, 9), requests: 0 }]);
    await keyring.close();
  });

  it('counts requests and tokens in memory and writes them in batches, not once per request', async () => {
    const dir = tempDir();
    const keyring = await opened(dir, { flushMs: 200 });
    const { key } = await keyring.create('carol');
    const written = readFileSync(keyring.file, 'utf8');
    for (let i = 0; i < 50; i++) keyring.recordUse(key.id, { requests: 1, tokens: 10 });
    keyring.recordUse(key.id, { tokens: 7 });
    expect(keyring.list().find((k) => k.id === key.id)).toMatchObject({ requests: 50, tokens: 507, lastUsedAt: expect.any(String) });
    // Not on disk yet…
    expect(readFileSync(keyring.file, 'utf8')).toBe(written);
    // …and in one write a moment later.
    await expect.poll(() => readFileSync(keyring.file, 'utf8'), { timeout: 5_000 }).not.toBe(written);
    const onDisk = (JSON.parse(readFileSync(keyring.file, 'utf8')) as { keys: Array<{ id: string; requests: number; tokens: number }> })
      .keys;
    expect(onDisk.find((k) => k.id === key.id)).toMatchObject({ requests: 50, tokens: 507 });
    // Use counted while a write is under way is neither lost nor counted twice.
    keyring.recordUse(key.id, { requests: 1, tokens: 1 });
    const writing = keyring.flush();
    keyring.recordUse(key.id, { requests: 1, tokens: 2 });
    expect(keyring.list().find((k) => k.id === key.id)).toMatchObject({ requests: 52, tokens: 510 });
    await writing;
    expect(keyring.list().find((k) => k.id === key.id)).toMatchObject({ requests: 52, tokens: 510 });
    // Closing writes what is left.
    keyring.recordUse(key.id, { requests: 1, tokens: 3 });
    await keyring.close();
    const reopened = await opened(dir);
    expect(reopened.list().find((k) => k.id === key.id)).toMatchObject({ requests: 53, tokens: 513 });
    await reopened.close();
  });

  it('shares the file between processes: a key made or revoked by one is known to the other before its next check', async () => {
    const dir = tempDir();
    const host = await opened(dir, { flushMs: 50 });
    const cli = await opened(dir);
    const revoked: string[][] = [];
    host.onRevoked((ids) => revoked.push(ids));

    const { key, secret } = await cli.create('dave');
    expect(await host.identify(secret)).toEqual({ id: key.id, name: 'dave' });
    host.recordUse(key.id, { requests: 1, tokens: 12 });
    await host.flush();
    // The host's usage and the CLI's changes do not overwrite each other.
    const { key: erin } = await cli.create('erin');
    host.recordUse(key.id, { requests: 1, tokens: 1 });
    await host.flush();
    await cli.refresh();
    expect(cli.list().map((k) => [k.name, k.requests, k.tokens])).toEqual([
      ['default', 0, 0],
      ['dave', 2, 13],
      ['erin', 0, 0],
    ]);

    await cli.revoke(key.id);
    expect(await host.identify(secret)).toBeNull();
    expect(revoked).toEqual([[key.id]]);
    expect(host.list().map((k) => k.id)).toEqual([host.list()[0]!.id, erin.id]);

    // Changes from both at once: none is lost (each is made under the lock, on a fresh read).
    await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? host : cli).create(`k${i}`)));
    await host.refresh();
    expect(
      host
        .list()
        .map((k) => k.name)
        .sort(),
    ).toEqual(['default', 'erin', ...Array.from({ length: 8 }, (_, i) => `k${i}`)].sort());
    await Promise.all([host.close(), cli.close()]);
  });

  it('follows a revoke from another process while serving, so that open streams end within a second', async () => {
    const dir = tempDir();
    const host = await opened(dir, { pollMs: 50 });
    const cli = await opened(dir);
    const revoked: string[][] = [];
    host.onRevoked((ids) => revoked.push(ids));
    const { key } = await cli.create('frank');
    await host.refresh();
    const stop = host.watch();
    await cli.revoke(key.id);
    await expect.poll(() => revoked, { timeout: 2_000 }).toEqual([[key.id]]);
    stop();
    await Promise.all([host.close(), cli.close()]);
  });

  it('takes a deleted file as every named key revoked, and writes the default key back', async () => {
    const dir = tempDir();
    const keyring = await opened(dir);
    const revoked: string[][] = [];
    keyring.onRevoked((ids) => revoked.push(ids));
    const { key, secret } = await keyring.create('heidi');
    const defaultKey = keyring.list()[0]!;
    await fs.rm(keyring.file);
    expect(await keyring.identify(secret)).toBeNull();
    // Only the named key went: the default key is the same key, with the same id.
    expect(revoked).toEqual([[key.id]]);
    expect(keyring.list()).toEqual([defaultKey]);
    expect(await keyring.identify(keyring.defaultSecret())).toMatchObject({ name: 'default' });
    expect(readFileSync(keyring.file, 'utf8')).toContain(sha256(keyring.defaultSecret()));
    await keyring.close();
  });

  it('takes over a lock left by a process that died, and keeps a corrupt file aside', async () => {
    const dir = tempDir();
    const keyring = await opened(dir);
    // A pid that is not running: the lock is stale.
    writeFileSync(`${keyring.file}.lock`, '999999999');
    await keyring.create('grace');
    expect(existsSync(`${keyring.file}.lock`)).toBe(false);
    await keyring.close();

    writeFileSync(keyring.file, '{"keys": [');
    const logs: string[] = [];
    const again = await opened(dir, { log: (line) => logs.push(line) });
    expect(again.list().map((k) => k.name)).toEqual(['default']);
    expect(logs.join('\n')).toMatch(/api-keys\.json is unreadable .*kept as api-keys\.json\.corrupt-\d+/);
    expect((await fs.readdir(dir)).some((name) => name.startsWith('api-keys.json.corrupt-'))).toBe(true);
    // The default key (in api-key) still works.
    expect(await again.identify(again.defaultSecret())).toMatchObject({ name: 'default' });
    await again.close();
  });
});

describe('who may make and revoke API keys', () => {
  const fakeApi = {
    listKeys: () => [],
    createKey: async (name: string) => ({ key: { name }, secret: 'fh-secret' }),
    revokeKey: async () => [],
    status: () => ({}),
    regenerateKey: async () => ({}),
  } as unknown as ApiController;
  const handlers = () => {
    const all = {} as Record<MethodName, unknown>;
    for (const name of Object.keys(methods) as MethodName[]) all[name] = () => ({});
    return { ...all, ...apiHandlers(fakeApi) } as unknown as HostHandlers;
  };

  it('is refused to paired machines: none of the api methods is on their allow-list', async () => {
    const session = peerSession(handlers(), { pairingId: 'p'.repeat(32), hiddenPaths: [] });
    for (const name of ['api.keys.create', 'api.keys.revoke', 'api.keys.list', 'api.regenerateKey', 'api.status'] as const) {
      await expect(
        Promise.resolve().then(() => (session.handlers[name] as (input: unknown) => unknown)({ name: 'x', id: 'y' })),
        name,
      ).rejects.toMatchObject({
        code: 'forbidden',
      });
    }
    expect(session.filterEvent('onApiKeys', [])).toBeUndefined();
  });

  it('is refused to a browser on another machine, which may still see the list', async () => {
    const remote = remoteBrowserHandlers(handlers());
    await expect(Promise.resolve().then(() => remote['api.keys.create']({ name: 'x' }))).rejects.toMatchObject({
      code: 'forbidden',
      message: expect.stringMatching(/only from this computer/),
    });
    await expect(Promise.resolve().then(() => remote['api.keys.revoke']({ id: 'y' }))).rejects.toMatchObject({ code: 'forbidden' });
    // Replacing the default key revokes it and hands the new one over: the same rule.
    await expect(Promise.resolve().then(() => remote['api.regenerateKey'](undefined))).rejects.toMatchObject({ code: 'forbidden' });
    expect(await remote['api.keys.list'](undefined)).toEqual([]);
  });
});

describe('a split model passed through to its llama-server', () => {
  it('ends the passed-through stream with an error event when its key is revoked, and stops asking upstream', async () => {
    // A stand-in for the split model's llama-server: a chunk every 20 ms until its client goes.
    let upstreamClosed = false;
    const upstream = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const timer = setInterval(() => res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: 'x' } }] })}\n\n`), 20);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed = true;
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const keyring = await opened(tempDir());
    const logs: string[] = [];
    const server = await startApiServer({
      inference: { status: () => ({ queue: { waiting: 0 } }) } as unknown as ApiInference,
      library: { snapshot: () => ({ models: [] }) } as unknown as ModelLibrary,
      split: () => ({ id: 'split:big', url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, apiKey: 'upstream-key' }),
      host: '127.0.0.1',
      port: 0,
      keys: keyring,
      requireKey: true,
      corsOrigins: [],
      log: (line) => logs.push(line),
    });
    try {
      const { key, secret } = await keyring.create('ivan');
      const response = await fetch(`${server.url}/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'split:big', messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      let revoked = false;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (!revoked && text.split('\n\n').length > 3) {
          revoked = true;
          await keyring.revoke(key.id);
        }
      }
      const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
      expect(events.length).toBeGreaterThan(2);
      expect(JSON.parse(events.at(-1)!.slice('data: '.length))).toMatchObject({
        error: { type: 'authentication_error', code: 'invalid_api_key', message: expect.stringMatching(/"ivan" was revoked/) },
      });
      await expect.poll(() => upstreamClosed).toBe(true);
      await expect
        .poll(() => logs.some((l) => /^api: POST \/v1\/chat\/completions 200 key=ivan \d+ms \(ended: key revoked\)$/.test(l)))
        .toBe(true);
    } finally {
      await server.close();
      upstream.close();
      await keyring.close();
    }
  });
});
