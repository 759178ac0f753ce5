import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { groupByQuantization, isSafeRepoPath, quantizationOf, recommendQuantization } from '../../../electron/hub/hub-client';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import type { DownloadJob } from '../../../shared/hub';
import { startFakeHub, type FakeHub, type FakeRepo } from '../../helpers/fake-hub';
import { tempDir } from '../../helpers/temp';
import { WORKER_SCRIPT } from '../../helpers/inference-host';
import { testModelPath } from '../../helpers/test-model';

const modelBytes = readFileSync(testModelPath());
let hubs: FakeHub[] = [];
let hosts: HostServices[] = [];

afterEach(async () => {
  for (const h of hosts.splice(0)) await h.close();
  for (const h of hubs.splice(0)) await h.close();
});

function repos(): FakeRepo[] {
  return [
    {
      id: 'ggml-org/tiny-llamas',
      author: 'ggml-org',
      downloads: 500,
      likes: 3,
      lastModified: '2026-01-01T00:00:00.000Z',
      sha: 'c0ffee1234567890',
      files: [
        { path: 'stories260K-Q8_0.gguf', data: modelBytes },
        { path: 'stories260K-F32.gguf', data: Buffer.concat([modelBytes, Buffer.alloc(32)]) },
        { path: 'README.md', data: Buffer.from('# tiny') },
      ],
    },
    {
      id: 'someone/llama-gguf',
      author: 'someone',
      downloads: 900,
      likes: 1,
      lastModified: '2026-03-01T00:00:00.000Z',
      sha: 'abc',
      files: [{ path: 'x-Q4_K_M.gguf', data: modelBytes }],
    },
    {
      id: 'other/qwen-gguf',
      author: 'other',
      downloads: 10,
      likes: 40,
      lastModified: '2026-02-01T00:00:00.000Z',
      sha: 'def',
      files: [{ path: 'q-Q5_K_M.gguf', data: modelBytes }],
    },
    {
      id: 'no/gguf-here',
      author: 'no',
      downloads: 9999,
      likes: 9,
      lastModified: '2026-02-01T00:00:00.000Z',
      sha: 'fff',
      files: [{ path: 'model.safetensors', data: Buffer.from('x') }],
    },
  ];
}

async function setup(repoList = repos(), downloads: { retryDelaysMs?: number[]; stallTimeoutMs?: number } = {}, dataDir = tempDir()) {
  const hub = await startFakeHub(repoList);
  hubs.push(hub);
  const services = await createHostServices({
    dataDir,
    host: 'cli',
    log: () => undefined,
    env: { HF_ENDPOINT: hub.url },
    workerScript: WORKER_SCRIPT,
    downloads: { retryDelaysMs: [20, 40, 80, 160, 320], stallTimeoutMs: 2000, ...downloads },
  });
  hosts.push(services);
  await services.settings.update({ inference: { threads: 1 } });
  return { hub, services, dataDir };
}

function waitFor(services: HostServices, id: string, states: DownloadJob['state'][], timeout = 20_000): Promise<DownloadJob> {
  return new Promise((resolve, reject) => {
    const current = services.downloads.list().find((j) => j.id === id);
    if (current && states.includes(current.state)) return resolve(current);
    const timer = setTimeout(() => reject(new Error(`download ${id} did not reach ${states.join('/')}`)), timeout);
    const off = services.events.subscribeAll((event, payload) => {
      const job = payload as DownloadJob;
      if (event === 'onDownloadProgress' && job.id === id && states.includes(job.state)) {
        clearTimeout(timer);
        off();
        resolve(job);
      }
    });
  });
}

describe('hub helpers', () => {
  it('reads the quantization from a file name and refuses unsafe repo paths', () => {
    expect(quantizationOf('Llama-3.2-3B-Instruct-Q4_K_M.gguf')).toBe('Q4_K_M');
    expect(quantizationOf('qwen2.5-7b-instruct-q5_k_m-00001-of-00002.gguf')).toBe('Q5_K_M');
    expect(quantizationOf('model-IQ3_XXS.gguf')).toBe('IQ3_XXS');
    expect(quantizationOf('gemma-2-9b-it-f16.gguf')).toBe('F16');
    for (const bad of ['../../etc/passwd', '/abs.gguf', 'C:\\x.gguf', 'a/../../b.gguf', 'dir\\x.gguf', 'a//b.gguf', 'x\u0000.gguf'])
      expect(isSafeRepoPath(bad), bad).toBe(false);
    expect(isSafeRepoPath('Q4_K_M/model-Q4_K_M-00001-of-00002.gguf')).toBe(true);
  });

  it('groups split files of one quantization together and leaves out incomplete sets', () => {
    const files = [
      { name: 'm-Q8_0-00001-of-00002.gguf', sizeBytes: 10, sha256: null },
      { name: 'm-Q8_0-00002-of-00002.gguf', sizeBytes: 12, sha256: null },
      { name: 'm-Q4_K_M.gguf', sizeBytes: 5, sha256: null },
      { name: 'm-Q6_K-00001-of-00003.gguf', sizeBytes: 9, sha256: null },
      { name: 'mmproj-F16.gguf', sizeBytes: 1, sha256: null },
      { name: '../evil-Q4_0.gguf', sizeBytes: 1, sha256: null },
    ];
    expect(groupByQuantization(files).map((q) => [q.quantization, q.files.length, q.totalBytes])).toEqual([
      ['Q4_K_M', 1, 5],
      ['Q8_0', 2, 22],
    ]);
  });
});

describe('recommendation', () => {
  const option = (quantization: string, verdict: 'gpu' | 'ram' | 'no') => ({
    quantization,
    files: [],
    totalBytes: 1,
    recommended: false,
    fit: { verdict, neededBytes: 1, contextSize: 4096, freeVramBytes: 0, freeRamBytes: 0, explanation: '' },
  });
  it('prefers a good quality that fits on the GPU, and a small one in RAM', () => {
    expect(
      recommendQuantization([option('Q4_K_M', 'gpu'), option('Q5_K_M', 'gpu'), option('Q8_0', 'gpu'), option('F16', 'ram')])?.quantization,
    ).toBe('Q5_K_M');
    expect(recommendQuantization([option('Q4_K_M', 'ram'), option('Q6_K', 'ram'), option('Q8_0', 'no')])?.quantization).toBe('Q4_K_M');
    expect(recommendQuantization([option('Q2_K', 'gpu'), option('Q4_K_M', 'no')])).toBeUndefined();
  });
});

describe('Hugging Face search (fake hub on 127.0.0.1)', () => {
  it('searches GGUF repos across pages, sorted as asked', async () => {
    const { services } = await setup();
    const byDownloads = await services.handlers['hub.search']({ query: '', sort: 'downloads', limit: 30 });
    expect(byDownloads.map((m) => m.repo)).toEqual(['someone/llama-gguf', 'ggml-org/tiny-llamas', 'other/qwen-gguf']);
    const byLikes = await services.handlers['hub.search']({ query: '', sort: 'likes', limit: 30 });
    expect(byLikes[0]!.repo).toBe('other/qwen-gguf');
    const recent = await services.handlers['hub.search']({ query: 'gguf', sort: 'recent', limit: 30 });
    expect(recent[0]!.repo).toBe('someone/llama-gguf');
    expect(await services.handlers['hub.search']({ query: 'tiny', sort: 'downloads', limit: 30 })).toHaveLength(1);
  });

  it('lists a repo by quantization with sizes and a fit badge from a ranged read of one header', async () => {
    const { services, hub } = await setup();
    // The CPU backend, so that the verdict is the same on any machine (GPU verdicts: fit.test.ts, on recorded reports).
    await services.settings.update({ inference: { backend: 'cpu' } });
    const details = await services.handlers['hub.repo']({ repo: 'ggml-org/tiny-llamas' });
    expect(details).toMatchObject({ architecture: 'llama', contextLength: 2048, license: 'apache-2.0', fitProblem: null });
    expect(details.quants.map((q) => q.quantization)).toEqual(['Q8_0', 'F32']);
    expect(details.quants[0]!.fit).toMatchObject({ verdict: 'ram', contextSize: 2048 });
    expect(details.quants[0]!.fit!.explanation).toMatch(/no GPU is in use, so it runs from RAM/);
    // In RAM the smaller quantization is the better pick.
    expect(details.quants.filter((q) => q.recommended).map((q) => q.quantization)).toEqual(['Q8_0']);
    // The header came from range requests, not a whole-file download.
    const reads = hub.requests.filter((r) => r.url.includes('/resolve/'));
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((r) => /^bytes=\d+-\d+$/.test(r.range ?? ''))).toBe(true);
    expect(reads[0]!.range).toBe('bytes=0-1048575');
  });

  it('explains an unreachable hub and an unknown repo', async () => {
    const { services, hub } = await setup();
    await expect(services.handlers['hub.repo']({ repo: 'nobody/nothing' })).rejects.toMatchObject({ code: 'not_found' });
    await hub.close();
    hubs = [];
    await expect(services.handlers['hub.search']({ query: 'x', sort: 'downloads', limit: 5 })).rejects.toThrow(/could not be reached/);
  });
});

describe('downloads', () => {
  it('downloads the chosen quantization, verifies it and adds it to the library', async () => {
    const { services, dataDir } = await setup();
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-llamas', quantization: 'Q8_0' });
    const done = await waitFor(services, job.id, ['done', 'failed']);
    expect(done).toMatchObject({ state: 'done', bytesDone: modelBytes.length, modelId: job.id });
    const model = (await services.handlers['models.list'](undefined)).models.find((m) => m.id === job.id)!;
    expect(model).toMatchObject({
      origin: 'downloaded',
      owned: true,
      source: { repo: 'ggml-org/tiny-llamas', revision: 'c0ffee1234567890', file: 'stories260K-Q8_0.gguf' },
    });
    // On disk under the app's own id, never the repo's name.
    expect(model.files).toEqual([path.join(dataDir, 'models', job.id, 'model.gguf')]);
    expect(readFileSync(model.files[0]!).equals(modelBytes)).toBe(true);
  });

  it('resumes with Range after a dropped connection, appending only the missing bytes', async () => {
    const { services, hub } = await setup();
    hub.faults.dropAfterBytes = { bytes: 300_000, times: 2 };
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-llamas', quantization: 'Q8_0' });
    const done = await waitFor(services, job.id, ['done', 'failed']);
    expect(done.state).toBe('done');
    expect(done.attempts).toBe(2);
    const ranges = hub.requests.filter((r) => r.url.includes('stories260K-Q8_0') && /^bytes=\d+-$/.test(r.range ?? '')).map((r) => r.range);
    // Each retry asks only for what is missing: two open-ended ranges, each further on.
    const starts = ranges.map((r) => Number(/^bytes=(\d+)-$/.exec(r!)![1]));
    expect(starts).toHaveLength(2);
    expect(starts[0]).toBeGreaterThan(0);
    expect(starts[0]).toBeLessThanOrEqual(300_000);
    expect(starts[1]).toBeGreaterThan(starts[0]!);
    const file = (await services.handlers['models.list'](undefined)).models.find((m) => m.id === job.id)!.files[0]!;
    expect(readFileSync(file).equals(modelBytes)).toBe(true);
  });

  it('starts the file over when the server ignores Range (200), never appending a whole body', async () => {
    const { services, hub } = await setup();
    hub.faults.dropAfterBytes = { bytes: 400_000, times: 1 };
    hub.faults.ignoreRange = 1;
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-llamas', quantization: 'Q8_0' });
    const done = await waitFor(services, job.id, ['done', 'failed']);
    expect(done.state).toBe('done');
    const file = (await services.handlers['models.list'](undefined)).models.find((m) => m.id === job.id)!.files[0]!;
    expect(readFileSync(file).equals(modelBytes)).toBe(true);
  });

  it('waits as long as Retry-After says on 429, and retries 5xx', async () => {
    const { services, hub } = await setup();
    hub.faults.tooManyRequests = { times: 1, retryAfterSeconds: 1 };
    hub.faults.serverError = 1;
    const started = Date.now();
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-llamas', quantization: 'Q8_0' });
    const done = await waitFor(services, job.id, ['done', 'failed']);
    expect(done.state).toBe('done');
    expect(done.attempts).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('deletes a download that does not verify and says so', async () => {
    const list = repos();
    list[0]!.files[0]!.corruptWith = Buffer.from(modelBytes).fill(7, 5000, 6000);
    const { services, dataDir } = await setup(list);
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-llamas', quantization: 'Q8_0' });
    const failed = await waitFor(services, job.id, ['done', 'failed']);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/did not verify \(sha256 .*\); the partial file was deleted/);
    expect(readdirSync(path.join(dataDir, 'models', job.id))).toEqual([]);
    expect((await services.handlers['models.list'](undefined)).models).toEqual([]);
    expect(services.notices.list().some((n) => /did not verify/.test(n.message))).toBe(true);
  });

  it('pauses, resumes and cancels a slow transfer', async () => {
    const { services, hub, dataDir } = await setup();
    hub.faults.chunkDelayMs = 20;
    hub.faults.chunkBytes = 16 * 1024;
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-llamas', quantization: 'Q8_0' });
    await expect.poll(() => services.downloads.list()[0]!.bytesDone, { timeout: 10_000 }).toBeGreaterThan(100_000);
    const paused = await services.handlers['downloads.pause']({ id: job.id });
    expect(paused.state).toBe('paused');
    const partial = path.join(dataDir, 'models', job.id, 'model.gguf.partial');
    const kept = readFileSync(partial).length;
    expect(kept).toBeGreaterThan(0);
    hub.faults.chunkDelayMs = 0;
    await services.handlers['downloads.resume']({ id: job.id });
    expect((await waitFor(services, job.id, ['done', 'failed'])).state).toBe('done');
    expect(hub.requests.some((r) => r.range === `bytes=${kept}-`)).toBe(true);

    hub.faults.chunkDelayMs = 20;
    const second = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-llamas', quantization: 'F32' });
    await expect.poll(() => services.downloads.list().find((j) => j.id === second.id)!.bytesDone, { timeout: 10_000 }).toBeGreaterThan(0);
    const canceled = await services.handlers['downloads.cancel']({ id: second.id });
    expect(canceled.state).toBe('canceled');
    expect(existsSync(path.join(dataDir, 'models', second.id))).toBe(false);
  });

  it('picks up after a restart mid-download from the partial file', async () => {
    const dataDir = tempDir();
    const { services, hub } = await setup(repos(), {}, dataDir);
    hub.faults.chunkDelayMs = 20;
    hub.faults.chunkBytes = 16 * 1024;
    const job = await services.handlers['downloads.start']({ repo: 'ggml-org/tiny-llamas', quantization: 'Q8_0' });
    await expect.poll(() => services.downloads.list()[0]!.bytesDone, { timeout: 10_000 }).toBeGreaterThan(200_000);
    await services.close();
    hosts = [];
    const kept = readFileSync(path.join(dataDir, 'models', job.id, 'model.gguf.partial')).length;
    hub.faults.chunkDelayMs = 0;
    const again = await createHostServices({
      dataDir,
      host: 'cli',
      log: () => undefined,
      env: { HF_ENDPOINT: hub.url },
      workerScript: WORKER_SCRIPT,
      downloads: { retryDelaysMs: [20] },
    });
    hosts.push(again);
    const done = await waitFor(again, job.id, ['done', 'failed']);
    expect(done.state).toBe('done');
    expect(hub.requests.some((r) => r.range === `bytes=${kept}-`)).toBe(true);
    const model = (await again.handlers['models.list'](undefined)).models.find((m) => m.id === job.id)!;
    expect(readFileSync(model.files[0]!).equals(modelBytes)).toBe(true);
  });

  it('needs a token for a gated repo, and keeps it out of plain sight', async () => {
    const list = repos();
    list[1]!.gated = true;
    const { services, hub, dataDir } = await setup(list);
    hub.faults.token = 'hf_testtoken123';
    const job = await services.handlers['downloads.start']({ repo: 'someone/llama-gguf' });
    const failed = await waitFor(services, job.id, ['done', 'failed']);
    expect(failed.error).toMatch(/access denied \(401\)/);
    expect(await services.handlers['hub.setToken']({ token: 'hf_testtoken123' })).toMatchObject({ set: true, storage: 'file' });
    expect(readdirSync(dataDir)).toContain('hub-token');
    await services.handlers['downloads.resume']({ id: job.id });
    expect((await waitFor(services, job.id, ['done', 'failed'])).state).toBe('done');
  });

  it('sends the token only to the endpoint it was saved for, whoever changes the setting', async () => {
    const [mine, theirs] = [await startFakeHub(repos()), await startFakeHub(repos())];
    hubs.push(mine, theirs);
    const dataDir = tempDir();
    const services = await createHostServices({ dataDir, host: 'cli', log: () => undefined, env: {}, workerScript: WORKER_SCRIPT });
    hosts.push(services);
    await services.settings.update({ hub: { endpoint: mine.url } });
    expect(await services.handlers['hub.setToken']({ token: 'hf_secret_token' })).toMatchObject({ set: true, endpoint: mine.url });
    await services.handlers['hub.search']({ query: 'llama', sort: 'downloads', limit: 10 });
    expect(mine.requests.at(-1)!.authorization).toBe('Bearer hf_secret_token');
    // The endpoint changed (say, by a browser that should not have): searches go there, the token does not.
    await services.settings.update({ hub: { endpoint: theirs.url } });
    await services.handlers['hub.search']({ query: 'llama', sort: 'downloads', limit: 10 });
    expect(theirs.requests.length).toBeGreaterThan(0);
    expect(theirs.requests.every((r) => r.authorization === undefined)).toBe(true);
    // And the user is told: saved, but not sent to this endpoint.
    expect(await services.handlers['hub.tokenStatus'](undefined)).toMatchObject({ set: true, active: false, endpoint: mine.url });
    // Nor after a restart; and back on its own endpoint it is sent again.
    await services.close();
    hosts.splice(hosts.indexOf(services), 1);
    const again = await createHostServices({ dataDir, host: 'cli', log: () => undefined, env: {}, workerScript: WORKER_SCRIPT });
    hosts.push(again);
    await again.handlers['hub.search']({ query: 'llama', sort: 'downloads', limit: 10 });
    expect(theirs.requests.every((r) => r.authorization === undefined)).toBe(true);
    await again.settings.update({ hub: { endpoint: `${mine.url}/` } });
    await again.handlers['hub.search']({ query: 'llama', sort: 'downloads', limit: 10 });
    expect(mine.requests.at(-1)!.authorization).toBe('Bearer hf_secret_token');
  });

  it('a token saved before tokens were bound to an endpoint is bound to the one in use', async () => {
    const hub = await startFakeHub(repos());
    const other = await startFakeHub(repos());
    hubs.push(hub, other);
    const dataDir = tempDir();
    writeFileSync(path.join(dataDir, 'hub-token'), 'hf_old_token');
    const services = await createHostServices({
      dataDir,
      host: 'cli',
      log: () => undefined,
      env: { HF_ENDPOINT: hub.url },
      workerScript: WORKER_SCRIPT,
    });
    hosts.push(services);
    await services.handlers['hub.search']({ query: 'llama', sort: 'downloads', limit: 10 });
    expect(hub.requests.at(-1)!.authorization).toBe('Bearer hf_old_token');
    expect(JSON.parse(readFileSync(path.join(dataDir, 'hub-token'), 'utf8'))).toEqual({ token: 'hf_old_token', endpoint: hub.url });
  });

  it('refuses a download when the disk cannot hold it, before fetching anything', async () => {
    const list = repos();
    list[1]!.files[0]!.listedSize = 1024 ** 5; // a 1 PiB file: no disk here holds it
    const { services, hub, dataDir } = await setup(list);
    await expect(services.handlers['downloads.start']({ repo: 'someone/llama-gguf', quantization: 'Q4_K_M' })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/^Not enough disk space in .+: 1048576.00 GB needed, [\d,.]+ GB free\.$/),
    });
    expect(services.downloads.list()).toEqual([]);
    // Only the header's ranged reads for the fit badge; no download began, and nothing was written.
    expect(hub.requests.filter((r) => r.url.includes('/resolve/') && !/^bytes=\d+-\d+$/.test(r.range ?? ''))).toEqual([]);
    expect(existsSync(path.join(dataDir, 'models')) ? readdirSync(path.join(dataDir, 'models')) : []).toEqual([]);
  });
});
