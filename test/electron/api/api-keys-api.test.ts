/**
 * Named API keys against the real API server, a real worker and stories260K,
 * with the official `openai` package: each key works, each request's log line
 * names its key, its counters grow, and a revoked key is refused at once, its
 * stream already open ended with an error event.
 */
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import type { GenerateResult } from '../../../shared/inference';
import { apiHostWithModel, recordResults, type ApiHost } from '../../helpers/inference-host';
import { runCli } from '../../../electron/cli/cli';

let host: ApiHost | undefined;
let services: HostServices;
let logs: string[];
let baseUrl: string;
let dataDir: string;
const finished: GenerateResult[] = [];

const clientFor = (apiKey: string) => new OpenAI({ baseURL: baseUrl, apiKey, maxRetries: 0, timeout: 60_000 });
const keyNamed = (name: string) => services.api.listKeys().find((k) => k.name === name);

beforeAll(async () => {
  host = await apiHostWithModel(
    'api-keys',
    { watchFolders: false, engine: recordResults(finished) },
    { prepare: (s) => s.handlers['settings.update']({ inference: { parallel: 1 } }) },
  );
  ({ services, logs, baseUrl, dir: dataDir } = host);
});

afterAll(async () => {
  await host?.close();
});

describe('named API keys', () => {
  it('serves each key, logs the key that served each request (never the key), and counts requests and tokens', async () => {
    const alice = await services.handlers['api.keys.create']({ name: 'alice' });
    const bob = await services.handlers['api.keys.create']({ name: 'bob' });
    const ask = { model: 'stories260k', messages: [{ role: 'user' as const, content: 'Once' }], max_tokens: 12, temperature: 0 };

    const fromAlice = await clientFor(alice.secret).chat.completions.create(ask);
    const fromBob = await clientFor(bob.secret).chat.completions.create(ask);
    const bobCompletion = await clientFor(bob.secret).completions.create({ model: 'stories260k', prompt: 'Once upon', max_tokens: 5 });
    expect(fromAlice.choices[0]!.message.content).toBeTruthy();
    // The default key (the one from before) works as it did.
    expect((await clientFor(services.api.status().key).models.list()).data.map((m) => m.id)).toContain('stories260k');

    expect(keyNamed('alice')).toMatchObject({ requests: 1, tokens: fromAlice.usage!.total_tokens, lastUsedAt: expect.any(String) });
    expect(keyNamed('bob')).toMatchObject({ requests: 2, tokens: fromBob.usage!.total_tokens + bobCompletion.usage!.total_tokens });
    expect(keyNamed('default')).toMatchObject({ requests: 1, tokens: 0 });

    const lines = logs.filter((l) => /^api: (GET|POST) \/v1\//.test(l));
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^api: POST /v1/chat/completions 200 key=alice \\d+ms tokens=${fromAlice.usage!.total_tokens}$`)),
    );
    expect(lines.filter((l) => / key=bob /.test(l))).toHaveLength(2);
    expect(lines).toContainEqual(expect.stringMatching(/^api: GET \/v1\/models 200 key=default \d+ms$/));
    const all = logs.join('\n');
    for (const secret of [alice.secret, bob.secret, services.api.status().key]) expect(all).not.toContain(secret);

    // A wrong key: 401, logged without a key.
    await expect(clientFor('fh-nope').models.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
    await expect.poll(() => logs.some((l) => /^api: GET \/v1\/models 401 key=none /.test(l))).toBe(true);

    // The counters reach the disk in a batch (and on close).
    await services.api.keys.flush();
    const { keys } = JSON.parse((await import('node:fs')).readFileSync(path.join(dataDir, 'data', 'api-keys.json'), 'utf8')) as {
      keys: Array<{ name: string; requests: number; tokens: number }>;
    };
    expect(keys.find((k) => k.name === 'bob')).toMatchObject({ requests: 2 });
  });

  it('refuses a revoked key at once', async () => {
    const carol = await services.handlers['api.keys.create']({ name: 'carol' });
    const client = clientFor(carol.secret);
    expect((await client.models.list()).data.length).toBeGreaterThan(0);
    await services.handlers['api.keys.revoke']({ id: carol.key.id });
    await expect(client.models.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect(keyNamed('carol')).toBeUndefined();
  });

  it('ends a stream open with a key being revoked with an error event, and stops its generation', async () => {
    const dave = await services.handlers['api.keys.create']({ name: 'dave' });
    finished.length = 0;
    const response = await fetch(`${baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${dave.secret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        model: 'stories260k',
        messages: [{ role: 'user', content: 'Once' }],
        max_tokens: 1800,
        temperature: 0,
        stream: true,
      }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let revokedAfter = -1;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
      if (revokedAfter < 0 && events.length >= 3) {
        revokedAfter = events.length;
        await services.handlers['api.keys.revoke']({ id: dave.key.id });
      }
    }
    const events = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => e.slice('data: '.length));
    expect(revokedAfter).toBeGreaterThanOrEqual(3);
    // The last event is OpenAI's error object; no [DONE], no finish_reason: the reply did not complete.
    expect(JSON.parse(events.at(-1)!)).toEqual({
      error: {
        message: expect.stringMatching(/The API key "dave" was revoked while this request ran/),
        type: 'authentication_error',
        param: null,
        code: 'invalid_api_key',
      },
    });
    expect(events).not.toContain('[DONE]');
    await expect.poll(() => finished.length, { timeout: 10_000 }).toBe(1);
    expect(finished[0]!.stats.stopReason).toBe('abort');
    expect(finished[0]!.stats.generatedTokens).toBeLessThan(1800);
    await expect
      .poll(() => logs.some((l) => /^api: POST \/v1\/chat\/completions 200 key=dave .*\(ended: key revoked\)$/.test(l)))
      .toBe(true);
  });

  it('ends a stream for the openai client with an error it raises, when the key is revoked from the CLI', async () => {
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
    expect(await runCli(['api', 'keys', 'add', 'erin', '--json', '--data-dir', path.join(dataDir, 'data')], io)).toBe(0);
    const { secret } = JSON.parse(out.join('\n')) as { secret: string };
    const stream = await clientFor(secret).chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Once' }],
      max_tokens: 1800,
      temperature: 0,
      stream: true,
    });
    let chunks = 0;
    const ended = (async () => {
      for await (const _chunk of stream) {
        chunks += 1;
        if (chunks === 3) void runCli(['api', 'keys', 'revoke', 'erin', '--data-dir', path.join(dataDir, 'data')], io);
      }
    })();
    await expect(ended).rejects.toThrow(/The API key "erin" was revoked/);
    expect(chunks).toBeGreaterThanOrEqual(3);
    await expect(clientFor(secret).models.list()).rejects.toMatchObject({ status: 401 });
  });
});
