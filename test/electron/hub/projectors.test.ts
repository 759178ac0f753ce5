/**
 * Vision models from the hub and in the library: a repo's projector files
 * (mmproj*.gguf) are offered with its model files and counted in its size and
 * fit, downloaded with the model and attached to it; a projector that fails
 * leaves the model text-only and says why; uploads and the CLI attach too.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../electron/cli/cli';
import { groupByQuantization } from '../../../electron/hub/hub-client';
import { chooseProjector, isProjectorName, projectorOptions, projectorPrecision } from '../../../electron/hub/hub-projectors';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import type { DownloadJob, FitVerdict } from '../../../shared/hub';
import { startFakeHub, type FakeHub, type FakeRepo } from '../../helpers/fake-hub';
import { WORKER_SCRIPT } from '../../helpers/inference-host';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';
import { TINY_VISION, tinyProjectorGguf } from '../../helpers/vision-model';

const modelBytes = readFileSync(testModelPath());
/** Two precisions of the tiny projector (both F32 inside; the names say what a real repo's would). */
const projectorF16 = tinyProjectorGguf();
const projectorQ8 = tinyProjectorGguf({ ...TINY_VISION, feedForward: 32, seed: 7 });
/** A projector for a model 32 wide: it fits no model here. */
const narrowProjector = tinyProjectorGguf({ ...TINY_VISION, projection: 32 });

const hubs: FakeHub[] = [];
const hosts: HostServices[] = [];

afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
  for (const h of hubs.splice(0)) await h.close();
});

function repos(): FakeRepo[] {
  return [
    {
      id: 'ggml-org/tiny-vision',
      author: 'ggml-org',
      downloads: 700,
      likes: 7,
      lastModified: '2026-11-01T00:00:00.000Z',
      sha: 'feed0123456789ab',
      files: [
        { path: 'stories260K-vision-Q8_0.gguf', data: modelBytes },
        { path: 'mmproj-stories260K-F16.gguf', data: projectorF16 },
        { path: 'mmproj-stories260K-Q8_0.gguf', data: projectorQ8 },
        { path: 'README.md', data: Buffer.from('# tiny vision') },
      ],
    },
    {
      id: 'ggml-org/tiny-text',
      author: 'ggml-org',
      downloads: 500,
      likes: 3,
      lastModified: '2026-10-01T00:00:00.000Z',
      sha: 'c0ffee1234567890',
      files: [{ path: 'stories260K-Q8_0.gguf', data: modelBytes }],
    },
  ];
}

async function setup(repoList = repos()) {
  const hub = await startFakeHub(repoList);
  hubs.push(hub);
  const dataDir = tempDir();
  const services = await createHostServices({
    dataDir,
    host: 'cli',
    log: () => undefined,
    env: { HF_ENDPOINT: hub.url },
    workerScript: WORKER_SCRIPT,
    downloads: { retryDelaysMs: [20, 40], stallTimeoutMs: 2000 },
  });
  hosts.push(services);
  // The CPU backend, so that the verdicts are the same on any machine.
  await services.settings.update({ inference: { threads: 1, backend: 'cpu' } });
  return { hub, services, dataDir };
}

function waitFor(services: HostServices, id: string, test: (job: DownloadJob) => boolean, timeout = 20_000): Promise<DownloadJob> {
  return new Promise((resolve, reject) => {
    const current = services.downloads.list().find((j) => j.id === id);
    if (current && test(current)) return resolve(current);
    const timer = setTimeout(() => reject(new Error(`download ${id} did not get there`)), timeout);
    const off = services.events.subscribeAll((event, payload) => {
      const job = payload as DownloadJob;
      if (event === 'onDownloadProgress' && job.id === id && test(job)) {
        clearTimeout(timer);
        off();
        resolve(job);
      }
    });
  });
}

const finished = (job: DownloadJob) => ['done', 'failed', 'canceled'].includes(job.state);

describe('projector files in a repo', () => {
  it('are told apart from models by name, whatever the case, and read their precision', () => {
    for (const name of ['mmproj-F16.gguf', 'mmproj-model-f16.gguf', 'mmproj-Qwen2.5-VL-7B-Instruct-Q8_0.gguf', 'sub/MMPROJ-BF16.GGUF'])
      expect(isProjectorName(name), name).toBe(true);
    expect(isProjectorName('Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf')).toBe(false);
    expect(isProjectorName('mmproj-F16.safetensors')).toBe(false);
    expect(
      ['mmproj-F16.gguf', 'mmproj-model-f16.gguf', 'mmproj-Qwen2.5-VL-7B-Instruct-Q8_0.gguf', 'mmproj-bf16.gguf', 'mmproj.gguf'].map(
        projectorPrecision,
      ),
    ).toEqual(['F16', 'F16', 'Q8_0', 'BF16', 'other']);
    const files = [
      { name: 'm-Q4_K_M.gguf', sizeBytes: 5, sha256: null },
      { name: 'mmproj-F16.gguf', sizeBytes: 3, sha256: null },
      { name: 'mmproj-model-f32.gguf', sizeBytes: 6, sha256: null },
    ];
    expect(groupByQuantization(files).map((q) => q.quantization)).toEqual(['Q4_K_M']);
    expect(projectorOptions(files, () => true).map((p) => [p.file.name, p.precision])).toEqual([
      ['mmproj-F16.gguf', 'F16'],
      ['mmproj-model-f32.gguf', 'F32'],
    ]);
  });

  it('chooses F16 or BF16, else Q8_0, else F32, and the smallest where memory is tight', () => {
    const options = (...precisions: Array<[string, number]>) =>
      projectorOptions(
        precisions.map(([p, size]) => ({ name: `mmproj-${p}.gguf`, sizeBytes: size, sha256: null })),
        () => true,
      );
    const chosen = (list: ReturnType<typeof options>, verdict: ((bytes: number) => FitVerdict) | null) => {
      const note = chooseProjector(list, verdict);
      return { precision: list.find((p) => p.chosen)?.precision, note };
    };
    expect(chosen(options(['F32', 400], ['Q8_0', 110], ['F16', 200]), null).precision).toBe('F16');
    expect(chosen(options(['F32', 400], ['Q8_0', 110], ['BF16', 200]), null).precision).toBe('BF16');
    expect(chosen(options(['F32', 400], ['Q8_0', 110]), null).precision).toBe('Q8_0');
    expect(chosen(options(['F32', 400]), null).precision).toBe('F32');
    expect(chooseProjector([], null)).toBeNull();
    // Plenty of memory: the preferred one.
    const roomy = chosen(options(['F32', 400], ['Q8_0', 110], ['F16', 200]), () => 'gpu');
    expect(roomy.precision).toBe('F16');
    expect(roomy.note).toMatch(
      /^Downloaded with F16 projector mmproj-F16\.gguf \(200 B\): the preferred precision, and it fits on the GPU/,
    );
    // Tight: with F16 the model would leave the GPU; Q8_0 keeps it there.
    const tight = chosen(options(['F32', 400], ['Q8_0', 110], ['F16', 200]), (bytes) => (bytes <= 150 ? 'gpu' : 'ram'));
    expect(tight.precision).toBe('Q8_0');
    expect(tight.note).toMatch(/the smallest: memory is tight, and with F16 projector mmproj-F16\.gguf the model would fit less well/);
    // Nothing fits: the smallest.
    expect(chosen(options(['F32', 400], ['Q8_0', 110], ['F16', 200]), () => 'no').precision).toBe('Q8_0');
  });
});

describe('Discover: search and repo details', () => {
  it('says which repos see images, offers the projector with the model, and counts it in the size and the fit', async () => {
    const { services, hub } = await setup();
    const results = await services.handlers['hub.search']({ query: 'tiny', sort: 'downloads', limit: 30 });
    expect(results.map((r) => [r.repo, r.vision])).toEqual([
      ['ggml-org/tiny-vision', true],
      ['ggml-org/tiny-text', false],
    ]);

    const details = await services.handlers['hub.repo']({ repo: 'ggml-org/tiny-vision' });
    // The projectors are not offered as models.
    expect(details.quants.map((q) => q.quantization)).toEqual(['Q8_0']);
    expect(details).toMatchObject({ vision: true, audio: false, projectorType: 'mlp' });
    expect(details.projectors!.map((p) => [p.file.name, p.precision, p.file.sizeBytes, p.chosen])).toEqual([
      ['mmproj-stories260K-Q8_0.gguf', 'Q8_0', projectorQ8.length, false],
      ['mmproj-stories260K-F16.gguf', 'F16', projectorF16.length, true],
    ]);
    expect(details.projectorNote).toMatch(/^Downloaded with F16 projector mmproj-stories260K-F16\.gguf .*: the preferred precision/);
    // The fit counts the projector: more than the same model's without one.
    const text = await services.handlers['hub.repo']({ repo: 'ggml-org/tiny-text' });
    expect(text).toMatchObject({ vision: false, audio: false, projectors: [], projectorNote: null, projectorType: null });
    const withProjector = details.quants[0]!.fit!;
    // Same model, same KV cache: the difference is the projector's bytes (and their tenth of overhead).
    const more = withProjector.neededBytes - text.quants[0]!.fit!.neededBytes;
    expect(Math.abs(more - projectorF16.length * 1.1)).toBeLessThanOrEqual(1);
    expect(withProjector.explanation).toMatch(/projector included/);
    // The projector's header came by range requests too.
    const reads = hub.requests.filter((r) => r.url.includes('mmproj-stories260K-F16.gguf'));
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((r) => /^bytes=\d+-\d+$/.test(r.range ?? ''))).toBe(true);
  });
});

describe('downloads with a projector', () => {
  it('fetches the model and its projector, verified, keeps them together and attaches the projector', async () => {
    const { services, dataDir } = await setup();
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-vision' });
    expect(job.totalBytes).toBe(modelBytes.length + projectorF16.length);
    expect(job.projector).toMatchObject({ file: { name: 'mmproj-stories260K-F16.gguf' }, precision: 'F16', state: 'pending' });
    const done = await waitFor(services, job.id, finished);
    expect(done).toMatchObject({ state: 'done', modelId: job.id, bytesDone: modelBytes.length + projectorF16.length, error: null });
    expect(done.projector).toMatchObject({ state: 'attached', error: null, vision: true, audio: false });
    const model = services.library.get(job.id)!;
    const folder = path.join(dataDir, 'models', job.id);
    expect(model.files).toEqual([path.join(folder, 'model.gguf')]);
    expect(model.projector).toEqual({
      file: path.join(folder, 'mmproj.gguf'),
      sizeBytes: projectorF16.length,
      projectorType: 'mlp',
      vision: true,
      audio: false,
      imageTokens: 16,
    });
    expect(readFileSync(model.projector!.file).equals(projectorF16)).toBe(true);
    expect(readdirSync(folder).sort()).toEqual(['mmproj.gguf', 'model.gguf']);
  });

  it('takes the projector named, or none', async () => {
    const { services } = await setup();
    const q8 = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-vision', projector: 'mmproj-stories260K-Q8_0.gguf' });
    expect(q8.totalBytes).toBe(modelBytes.length + projectorQ8.length);
    await waitFor(services, q8.id, finished);
    expect(services.library.get(q8.id)!.projector?.sizeBytes).toBe(projectorQ8.length);
    const none = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-vision', projector: false });
    expect(none).toMatchObject({ projector: null, totalBytes: modelBytes.length });
    await waitFor(services, none.id, finished);
    expect(services.library.get(none.id)!.projector ?? null).toBeNull();
    await expect(services.handlers['downloads.start']({ repo: 'ggml-org/tiny-vision', projector: 'mmproj-nope.gguf' })).rejects.toThrow(
      /has no projector named mmproj-nope\.gguf \(available: mmproj-stories260K-Q8_0\.gguf, mmproj-stories260K-F16\.gguf\)/,
    );
  });

  it('keeps the model text-only and says why when the projector does not verify', async () => {
    const list = repos();
    const f16 = list[0]!.files[1]!;
    // Served with one byte of its tensors changed: its header reads well, its sha256 does not match.
    const corrupt = Buffer.from(f16.data);
    corrupt.writeUInt8(corrupt.readUInt8(corrupt.length - 1) ^ 0xff, corrupt.length - 1);
    f16.corruptWith = corrupt;
    const { services, dataDir } = await setup(list);
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-vision' });
    const done = await waitFor(services, job.id, finished);
    expect(done.state).toBe('done');
    expect(done.projector).toMatchObject({ state: 'failed' });
    expect(done.projector!.error).toMatch(/^mmproj-stories260K-F16\.gguf could not be downloaded: .*did not verify/);
    expect(done.totalBytes).toBe(modelBytes.length);
    const model = services.library.get(job.id)!;
    expect(model.projector ?? null).toBeNull();
    expect(readdirSync(path.join(dataDir, 'models', job.id))).toEqual(['model.gguf']);
    expect(services.notices.list().map((n) => [n.level, n.message])).toContainEqual([
      'warning',
      expect.stringMatching(
        /^ggml-org\/tiny-vision \(Q8_0\) was downloaded without its projector, so it runs text-only and cannot see images: /,
      ),
    ]);
  });

  it('keeps the model text-only when the projector belongs to another model', async () => {
    const list = repos();
    list[0]!.files = [list[0]!.files[0]!, { path: 'mmproj-other-F16.gguf', data: narrowProjector }];
    const { services } = await setup(list);
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-vision' });
    const done = await waitFor(services, job.id, finished);
    expect(done.state).toBe('done');
    expect(done.projector!.error).toMatch(/^mmproj-other-F16\.gguf was not attached: .*32-wide embeddings, but .* takes 64/);
    expect(services.library.get(job.id)!.projector ?? null).toBeNull();
    expect(existsSync(path.join(path.dirname(services.library.get(job.id)!.files[0]!), 'mmproj.gguf'))).toBe(false);
  });

  it('a download paused while its projector comes resumes it, and attaches it', async () => {
    const { services, hub } = await setup();
    hub.faults.chunkBytes = 8 * 1024;
    hub.faults.chunkDelayMs = 15;
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-vision' });
    await waitFor(services, job.id, (j) => j.bytesDone > modelBytes.length || finished(j), 60_000);
    expect((await services.handlers['downloads.pause']({ id: job.id })).state).toBe('paused');
    hub.faults.chunkDelayMs = 0;
    await services.handlers['downloads.resume']({ id: job.id });
    const done = await waitFor(services, job.id, finished);
    expect(done).toMatchObject({ state: 'done', projector: { state: 'attached' } });
    expect(readFileSync(services.library.get(job.id)!.projector!.file).equals(projectorF16)).toBe(true);
    // The projector resumed where it stopped: its last request asked for the rest only.
    const gets = hub.requests.filter((r) => r.url.endsWith('/mmproj-stories260K-F16.gguf') && !/^bytes=\d+-\d+$/.test(r.range ?? ''));
    expect(gets.at(-1)!.range).toMatch(/^bytes=[1-9]\d*-$/);
  }, 90_000);

  it('a download canceled while its projector comes removes the model and the projector', async () => {
    const { services, hub, dataDir } = await setup();
    hub.faults.chunkBytes = 8 * 1024;
    hub.faults.chunkDelayMs = 15;
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-vision' });
    await waitFor(services, job.id, (j) => j.bytesDone > modelBytes.length || finished(j), 60_000);
    expect(existsSync(path.join(dataDir, 'models', job.id, 'model.gguf'))).toBe(true);
    const canceled = await services.handlers['downloads.cancel']({ id: job.id });
    expect(canceled.state).toBe('canceled');
    expect(existsSync(path.join(dataDir, 'models', job.id))).toBe(false);
    expect(services.library.get(job.id)).toBeUndefined();
  }, 90_000);
});

describe('a projector uploaded (the browser; not from a paired machine)', () => {
  it('is attached to the model uploaded before it, or refused with the reason and nothing left', async () => {
    const { services, dataDir } = await setup();
    const model = await services.library.importStream('my-stories.gguf', Readable.from([modelBytes]));
    const attached = await services.library.importStream('mmproj-my-stories-F16.gguf', Readable.from([projectorF16]));
    expect(attached.id).toBe(model.id);
    expect(attached.projector).toMatchObject({ file: path.join(dataDir, 'models', model.id, 'mmproj.gguf'), vision: true });
    expect(services.library.snapshot().models).toHaveLength(1);
    await expect(services.library.importStream('mmproj-narrow.gguf', Readable.from([narrowProjector]))).rejects.toThrow(
      /^mmproj-narrow\.gguf is a projector for a model whose embeddings are 32 wide, and no such model is in your library/,
    );
    // Only the model's folder: the upload's own folders are gone.
    expect(readdirSync(path.join(dataDir, 'models'))).toEqual([model.id]);
    // From another machine (uploads.*), a projector is refused: it could replace one of this machine's own.
    const { uploadId } = await services.handlers['uploads.begin']({ name: 'mmproj-my-stories-F16.gguf', sizeBytes: projectorF16.length });
    await services.handlers['uploads.chunk']({ uploadId, offset: 0, data: projectorF16.toString('base64') });
    await expect(services.handlers['uploads.finish']({ uploadId })).rejects.toThrow(
      /is a projector; another machine cannot attach one here/,
    );
    expect(services.library.get(model.id)!.projector!.file).toBe(path.join(dataDir, 'models', model.id, 'mmproj.gguf'));
    expect(readdirSync(path.join(dataDir, 'models'))).toEqual([model.id]);
  });
});

describe('CLI', () => {
  async function cli(...args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('models import model.gguf mmproj.gguf attaches it; models list says which models see', async () => {
    const dir = tempDir();
    const files = tempDir();
    const modelFile = path.join(files, 'stories260K.gguf');
    const mmproj = path.join(files, 'mmproj.gguf');
    const narrow = path.join(files, 'mmproj-narrow.gguf');
    writeFileSync(modelFile, modelBytes);
    writeFileSync(mmproj, projectorF16);
    writeFileSync(narrow, narrowProjector);
    const imported = await cli('models', 'import', modelFile, mmproj, '--data-dir', dir);
    expect(imported.code).toBe(0);
    const [first, second] = imported.out.split('\n');
    expect(first).toMatch(/^imported \S+ {2}stories260K {2}\(referenced\)$/);
    const id = /^imported (\S+)/.exec(first!)![1]!;
    expect(second).toBe(`mmproj.gguf: attached to stories260K (${id}); it sees images`);

    const listed = await cli('models', 'list', '--data-dir', dir);
    expect(listed.out).toMatch(/stories260K .* sees images\n/);
    expect(listed.out).toContain(`projector: ${mmproj} (mlp, `);
    const json = JSON.parse((await cli('models', 'list', '--json', '--data-dir', dir)).out) as {
      media: Record<string, unknown>;
      models: Array<{ projector: { file: string } }>;
    };
    expect(json.media[id]).toEqual({ images: true, audio: false });
    expect(json.models[0]!.projector.file).toBe(mmproj);

    const refused = await cli('models', 'import', narrow, '--data-dir', dir);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(
      /^refused .*mmproj-narrow\.gguf: mmproj-narrow\.gguf is a projector for a model whose embeddings are 32 wide/,
    );
  });
});
