import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../../electron/inference/fair-queue';
import { startApiServer } from '../../../electron/api/api-server';
import { scrubPaths } from '../../../electron/api/responses';
import { unsupportedSchemaFeature } from '../../../electron/formats/json-schema-support';
import { apiModelIds, resolveApiModel } from '../../../electron/api/model-ids';
import { ApiKeyStore } from '../../../electron/api/api-key';
import type { InferenceService } from '../../../electron/inference/inference-service';
import type { ModelLibrary } from '../../../electron/library/model-library';
import type { ModelEntry } from '../../../shared/library';
import { settingsPatchSchema } from '../../../shared/settings';
import { inferenceHost } from '../../helpers/inference-host';
import { tempDir } from '../../helpers/temp';
import { statSync } from 'node:fs';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('fair queue', () => {
  it('runs shareable jobs side by side up to the capacity; other work waits until they are done, and nothing overtakes it', async () => {
    const running = new Set<string>();
    let most = 0;
    const gates = new Map<string, () => void>();
    const job = (id: string) => async () => {
      running.add(id);
      most = Math.max(most, running.size);
      await new Promise<void>((resolve) => gates.set(id, resolve));
      running.delete(id);
    };
    const release = async (id: string) => {
      while (!gates.has(id)) await new Promise((r) => setTimeout(r, 1));
      gates.get(id)!();
      gates.delete(id);
    };
    const queue = new FairQueue(undefined, () => 3);
    const yes = () => true;
    const done = [
      queue.run('api', 'a1', job('a1'), yes),
      queue.run('ui', 'u1', job('u1'), yes),
      queue.run('api', 'a2', job('a2'), yes),
      queue.run('ui', 'u2', job('u2'), yes),
      queue.run('api', 'load', job('load')), // not shareable: a load
    ];
    await new Promise((r) => setTimeout(r, 10));
    expect([...running].sort()).toEqual(['a1', 'a2', 'u1']);
    expect(queue.state()).toMatchObject({ active: 3, parallel: 3, waiting: 2 });
    await release('a1');
    await new Promise((r) => setTimeout(r, 10));
    // The UI's turn: u2 joins. The load (the API's next) then waits for all of them, and runs alone.
    expect([...running].sort()).toEqual(['a2', 'u1', 'u2']);
    await release('a2');
    await release('u1');
    await new Promise((r) => setTimeout(r, 10));
    expect([...running]).toEqual(['u2']);
    await release('u2');
    await new Promise((r) => setTimeout(r, 10));
    expect([...running]).toEqual(['load']);
    expect(queue.state()).toMatchObject({ active: 1, waiting: 0 });
    await release('load');
    await Promise.all(done);
    expect(most).toBe(3);
  });

  it('runs one job at a time and lets the UI and the API take turns', async () => {
    const order: string[] = [];
    const queue = new FairQueue();
    const gate = deferred();
    const first = queue.run('api', 'a0', async () => {
      order.push('a0');
      await gate.promise;
    });
    const jobs = [
      ...['a1', 'a2', 'a3'].map((id) => queue.run('api', id, async () => void order.push(id))),
      ...['u1', 'u2'].map((id) => queue.run('ui', id, async () => void order.push(id))),
    ];
    expect(queue.state()).toEqual({ running: 'api', waiting: 5, active: 1, parallel: 1 });
    gate.resolve();
    await Promise.all([first, ...jobs]);
    // The API sent four in a row, yet the UI's first goes next, then they alternate.
    expect(order).toEqual(['a0', 'u1', 'a1', 'u2', 'a2', 'a3']);
    expect(queue.state()).toMatchObject({ running: null, waiting: 0, active: 0 });
  });

  it('withdraws a waiting job (its caller gets "aborted") and survives a failing one', async () => {
    const queue = new FairQueue();
    const gate = deferred();
    const running = queue.run('ui', 'r', () => gate.promise);
    const waiting = queue.run('api', 'w', async () => 'never');
    const failing = queue.run('api', 'f', async () => {
      throw new Error('boom');
    });
    const after = queue.run('api', 'x', async () => 'ran');
    expect(queue.isWaiting('w')).toBe(true);
    expect(queue.withdraw('w')).toBe(true);
    expect(queue.withdraw('r')).toBe(false); // already running: the worker stops it instead
    await expect(waiting).rejects.toMatchObject({ code: 'aborted' });
    gate.resolve();
    await running;
    await expect(failing).rejects.toThrow('boom');
    await expect(after).resolves.toBe('ran');
  });
});

describe('API helpers', () => {
  it('scrubs absolute paths from error messages, keeping file names', () => {
    expect(scrubPaths('Model file not found: /home/ann/.local/share/Freehold/models/qwen.gguf')).toBe('Model file not found: qwen.gguf');
    expect(scrubPaths("Cannot read 'C:\\Users\\ann\\models\\llama.gguf' (EACCES)")).toBe("Cannot read 'llama.gguf' (EACCES)");
    expect(scrubPaths('see http://127.0.0.1:4849/v1/models')).toBe('see http://127.0.0.1:4849/v1/models');
    expect(scrubPaths('max_tokens is 10, more than 5/2 tokens')).toBe('max_tokens is 10, more than 5/2 tokens');
  });

  it('accepts the JSON Schema subset the grammar enforces and names what it cannot', () => {
    const pydantic = {
      title: 'Person',
      type: 'object',
      properties: {
        name: { type: 'string', description: 'Full name', maxLength: 40 },
        tags: { type: 'array', items: { $ref: '#/$defs/Tag' } },
      },
      required: ['name', 'tags'],
      additionalProperties: false,
      $defs: { Tag: { type: 'string', enum: ['a', 'b'] } },
    };
    expect(unsupportedSchemaFeature(pydantic)).toBeNull();
    expect(unsupportedSchemaFeature({ type: 'string', pattern: 'x' })).toMatch(/"pattern"/);
    expect(unsupportedSchemaFeature({ type: 'object', properties: { n: { type: 'number', minimum: 3 } } })).toMatch(
      /"minimum".*schema\.properties\.n/,
    );
    expect(unsupportedSchemaFeature({ type: 'frobnicate' })).toMatch(/not a JSON Schema type/);
    expect(unsupportedSchemaFeature({ $ref: 'https://example.com/schema.json' })).toMatch(/\$ref/);
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i += 1) deep = { type: 'array', items: deep };
    expect(unsupportedSchemaFeature(deep)).toMatch(/nested/);
  });

  it('names models after their files, keeps names unique, and accepts library ids', () => {
    const entry = (id: string, file: string, addedAt: string) => ({ id, files: [file], name: id, addedAt }) as unknown as ModelEntry;
    const models = [
      entry('b2', '/m/other/Qwen2.5-7B-Instruct-Q4_K_M.gguf', '2026-02-01'),
      entry('a1', '/m/Qwen2.5-7B-Instruct-Q4_K_M.gguf', '2026-01-01'),
      entry('c3', '/m/big-00001-of-00003.gguf', '2026-03-01'),
    ];
    expect([...apiModelIds(models).keys()]).toEqual(['qwen2.5-7b-instruct-q4_k_m', 'qwen2.5-7b-instruct-q4_k_m-b2', 'big']);
    expect(resolveApiModel(models, 'Qwen2.5-7B-Instruct-Q4_K_M')?.model.id).toBe('a1');
    expect(resolveApiModel(models, 'c3')?.id).toBe('big');
    expect(resolveApiModel(models, 'gpt-4o')).toBeUndefined();
  });

  it('keeps one key across restarts, readable by this user only, and replaces it on request', async () => {
    const dir = tempDir();
    const first = await new ApiKeyStore(dir).load();
    expect(first).toMatch(/^fh-[\w-]{43}$/);
    const store = new ApiKeyStore(dir);
    expect(await store.load()).toBe(first);
    if (process.platform !== 'win32') expect(statSync(store.file).mode & 0o777).toBe(0o600);
    expect(await store.regenerate()).not.toBe(first);
    expect(await new ApiKeyStore(dir).load()).toBe(store.get());
  });

  it('refuses CORS origins that are not plain origins, "*" above all', () => {
    expect(settingsPatchSchema.safeParse({ api: { corsOrigins: ['http://localhost:3000', 'https://app.example'] } }).success).toBe(true);
    for (const bad of ['*', 'http://localhost:3000/', 'localhost:3000', 'http://a.example/path', 'file://x', 'null']) {
      expect(settingsPatchSchema.safeParse({ api: { corsOrigins: [bad] } }).success, bad).toBe(false);
    }
  });

  it('always requires the key on an address other than loopback, even when the setting says not to', async () => {
    const fakeInference = { queue: new FairQueue() } as unknown as InferenceService;
    const fakeLibrary = { snapshot: () => ({ models: [] }) } as unknown as ModelLibrary;
    const get = (port: number, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/v1/models', headers }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          })
          .on('error', reject);
      });
    const open = await startApiServer({
      inference: fakeInference,
      library: fakeLibrary,
      host: '127.0.0.1',
      port: 0,
      key: () => 'k',
      requireKey: false,
      corsOrigins: [],
    });
    expect(await get(open.port)).toBe(200);
    await open.close();
    const exposed = await startApiServer({
      inference: fakeInference,
      library: fakeLibrary,
      host: '0.0.0.0',
      port: 0,
      key: () => 'k',
      requireKey: false,
      corsOrigins: [],
    });
    expect(await get(exposed.port)).toBe(401);
    expect(await get(exposed.port, { Authorization: 'Bearer k' })).toBe(200);
    await exposed.close();
  });
});

describe('API server lifecycle and sharing the worker', () => {
  it('is off by default in the desktop app, starts and stops with the setting, and reports a taken port', async () => {
    const { services } = await inferenceHost({ host: 'electron' });
    try {
      const statuses: unknown[] = [];
      services.events.subscribeAll((event, payload) => event === 'onApiStatus' && statuses.push(payload));
      expect(await services.handlers['api.status'](undefined)).toMatchObject({
        enabled: false,
        running: false,
        url: null,
        managedBy: 'settings',
        requireKey: true,
      });
      await services.handlers['settings.update']({ api: { enabled: true, port: 0 } });
      await services.api.apply();
      const on = await services.handlers['api.status'](undefined);
      expect(on).toMatchObject({
        enabled: true,
        running: true,
        url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1$/),
        error: null,
      });
      expect(statuses.at(-1)).toMatchObject({ running: true });
      const ok = await fetch(`${on.url}/models`, { headers: { Authorization: `Bearer ${on.key}` } });
      expect(ok.status).toBe(200);
      // A new key: the old one stops working at once.
      const renewed = await services.handlers['api.regenerateKey'](undefined);
      expect(renewed.key).not.toBe(on.key);
      expect((await fetch(`${on.url}/models`, { headers: { Authorization: `Bearer ${on.key}` } })).status).toBe(401);
      expect((await fetch(`${on.url}/models`, { headers: { Authorization: `Bearer ${renewed.key}` } })).status).toBe(200);

      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const taken = (blocker.address() as net.AddressInfo).port;
      await services.handlers['settings.update']({ api: { port: taken } });
      await services.api.apply();
      expect(await services.handlers['api.status'](undefined)).toMatchObject({
        running: false,
        error: expect.stringMatching(new RegExp(`Port ${taken} is in use`)),
      });
      blocker.close();

      await services.handlers['settings.update']({ api: { enabled: false } });
      await services.api.apply();
      expect(await services.handlers['api.status'](undefined)).toMatchObject({ enabled: false, running: false, error: null });
      await expect(fetch(`${on.url}/models`)).rejects.toThrow();
    } finally {
      await services.close();
    }
  });
});
