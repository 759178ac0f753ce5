import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PEER_DEFAULT_REPLY_TOKENS } from '../../../electron/services/handlers/library';
import { towerAndLaptop, type InferenceHost, type TowerAndLaptop } from '../../helpers/inference-host';
import { startFakeHub, type FakeHub } from '../../helpers/fake-hub';
import { setString, writeEditedGguf } from '../../helpers/gguf-edit';
import { suiteTempDirs } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';
import { until } from '../../helpers/until';

/**
 * What a paired machine may ask of this one, and no more: a reply on the model
 * as this machine's user loaded it (the peer's context size is a most, used
 * only when the model must be loaded), of bounded length; never another model
 * in place of the user's; only its own downloads.
 */

// Hosts live for the whole file: their folders go at the end, not after each test.
const fileDir = suiteTempDirs('freehold-peer-');

describe('a paired machine asks too much', () => {
  let hosts: TowerAndLaptop | undefined;
  let tower: InferenceHost;
  let laptop: InferenceHost;
  let hub: FakeHub;
  let storyId: string;
  let otherId: string;
  let remote: ReturnType<InferenceHost['services']['machines']['remote']>;

  beforeAll(async () => {
    // Two models: stories260K, and a copy under another name (another file, another hash).
    const dir = fileDir();
    mkdirSync(dir, { recursive: true });
    const other = path.join(dir, 'other-story.gguf');
    writeEditedGguf(testModelPath(), other, (gguf) => setString(gguf, 'general.name', 'other story'));
    const third = path.join(dir, 'third-story.gguf');
    writeEditedGguf(testModelPath(), third, (gguf) => setString(gguf, 'general.name', 'third story'));
    hub = await startFakeHub([
      {
        id: 'acme/third-GGUF',
        author: 'acme',
        downloads: 1,
        likes: 1,
        lastModified: '2026-01-01T00:00:00.000Z',
        sha: 'c'.repeat(40),
        files: [{ path: 'third-Q8_0.gguf', data: readFileSync(third) }],
      },
      {
        id: 'acme/tiny-GGUF',
        author: 'acme',
        downloads: 1,
        likes: 1,
        lastModified: '2026-01-01T00:00:00.000Z',
        sha: 'b'.repeat(40),
        files: [{ path: 'tiny-Q8_0.gguf', data: readFileSync(testModelPath()) }],
      },
    ]);
    hosts = await towerAndLaptop(fileDir, hub.url);
    ({ tower, laptop } = hosts);
    const imported = await tower.services.handlers['models.import']({ paths: [testModelPath(), other], mode: 'copy' });
    [storyId, otherId] = imported.map((r) => r.model!.id) as [string, string];
    await laptop.services.handlers['machines.add']({ code: tower.services.sharing.status().code! });
    const machine = await until('the tower online', () =>
      laptop.services.machines.list().find((m) => m.name === 'tower' && m.state === 'online'),
    );
    remote = laptop.services.machines.remote(machine!.id);
  }, 60_000);

  afterAll(async () => {
    await hosts?.close();
    await hub?.close();
  });

  const messages = [{ role: 'user' as const, text: 'Once upon a time' }];

  it("runs on the user's loaded model as it is: a peer's context size reloads nothing, and its reply has a length limit", async () => {
    const loaded = await tower.services.handlers['models.load']({ id: storyId });
    const result = await remote['models.generate']({
      modelId: storyId,
      requestId: 'r1',
      messages,
      contextSize: 1_048_576,
      sampling: { temperature: 0 },
    });
    expect(result.stats.generatedTokens).toBeGreaterThan(0);
    expect(result.stats.generatedTokens).toBeLessThanOrEqual(PEER_DEFAULT_REPLY_TOKENS);
    // The same model, the same context, still the user's (not unloaded when idle like an API load).
    const now = tower.services.inference.status().model!;
    expect(now.contextSize).toBe(loaded.contextSize);
    expect(tower.logs.filter((l) => /loaded .* just in time/.test(l))).toEqual([]);
    // Asking for more than the limit gets the limit.
    const long = await remote['models.generate']({
      modelId: storyId,
      requestId: 'r2',
      messages,
      sampling: { temperature: 1, maxTokens: 100_000, seed: 7 },
    });
    expect(long.stats.generatedTokens).toBeLessThanOrEqual(8192);
  }, 120_000);

  it('holds at most four replies for a paired machine at once; the rest are refused, not queued', async () => {
    const sent = Array.from({ length: 6 }, (_, i) =>
      remote['models.generate']({ modelId: storyId, requestId: `many-${i}`, messages, sampling: { maxTokens: 8 } }).then(
        () => 'done',
        (error: { code: string; message: string }) => `${error.code}: ${error.message}`,
      ),
    );
    const outcomes = await Promise.all(sent);
    expect(outcomes.filter((o) => o === 'done')).toHaveLength(4);
    expect(outcomes.filter((o) => /^busy: .*already running or holding 4 replies/.test(o))).toHaveLength(2);
    // Once they finish, there is room again.
    expect(
      (await remote['models.generate']({ modelId: storyId, requestId: 'after', messages, sampling: { maxTokens: 4 } })).stats
        .generatedTokens,
    ).toBeGreaterThan(0);
  }, 60_000);

  it("never replaces the user's model with another: refused, with the reason", async () => {
    await expect(
      remote['models.generate']({ modelId: otherId, requestId: 'r3', messages, sampling: { maxTokens: 4 } }),
    ).rejects.toMatchObject({
      code: 'busy',
      message: expect.stringMatching(/This machine's user has .* loaded/),
    });
    expect(tower.services.inference.status().model!.name).not.toMatch(/other/);
  }, 60_000);

  it('loads a model for itself only when none is loaded, with the context held to the trained size and the memory free', async () => {
    await tower.services.handlers['inference.unload'](undefined);
    const result = await remote['models.generate']({
      modelId: otherId,
      requestId: 'r4',
      messages,
      contextSize: 1_048_576,
      sampling: { maxTokens: 4, temperature: 0 },
    });
    expect(result.stats.generatedTokens).toBeGreaterThan(0);
    const model = tower.services.inference.status().model!;
    expect(model.path).toBe(tower.services.library.get(otherId)!.files[0]);
    const trained = tower.services.library.get(otherId)!.contextLength!;
    expect(model.contextSize).toBeLessThanOrEqual(trained);
    // Loaded for a peer: another peer request for a different model may replace it, but not at once (no reload per request).
    await expect(
      remote['models.generate']({ modelId: storyId, requestId: 'r5', messages, sampling: { maxTokens: 4 } }),
    ).rejects.toMatchObject({
      code: 'busy',
      message: expect.stringMatching(/was loaded for a paired machine \d+ s ago; another model can be loaded for one in \d+ s/),
    });
    expect(tower.services.inference.status().model!.path).toBe(tower.services.library.get(otherId)!.files[0]);
    // The same model goes on at once.
    const same = await remote['models.generate']({ modelId: otherId, requestId: 'r6', messages, sampling: { maxTokens: 4 } });
    expect(same.stats.generatedTokens).toBeGreaterThan(0);
  }, 120_000);

  it("sees and controls only its own downloads, never this machine's", async () => {
    const mine = await tower.services.handlers['downloads.start']({ repo: 'acme/tiny-GGUF', file: 'tiny-Q8_0.gguf' });
    expect((await remote['downloads.list']()).map((j) => j.id)).not.toContain(mine.id);
    for (const action of ['downloads.pause', 'downloads.resume', 'downloads.cancel'] as const) {
      await expect(remote[action]({ id: mine.id })).rejects.toMatchObject({ code: 'not_found' });
    }
    // Its own: listed and followed.
    const theirs = await remote['downloads.start']({ repo: 'acme/third-GGUF', file: 'third-Q8_0.gguf' });
    expect((await remote['downloads.list']()).map((j) => j.id)).toEqual([theirs.id]);
    await until('the peer download finished', async () =>
      (await remote['downloads.list']()).find((j) => j.id === theirs.id && j.state === 'done'),
    );
    await until('the tower download finished', () => tower.services.downloads.list().find((j) => j.id === mine.id && j.state === 'done'));
  }, 60_000);
});
