import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import type { DownloadJob } from '../../../shared/hub';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

const model = testModelPath();
let open: HostServices[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function host(dataDir: string) {
  const services = await createHostServices({ dataDir, host: 'cli', log: () => undefined, watchFolders: false });
  open.push(services);
  return services;
}

async function restart(services: HostServices) {
  await services.close();
  open = open.filter((s) => s !== services);
}

/** The id of a process that has exited: what a crashed Freehold leaves in its file names. */
const deadPid = () => spawnSync(process.execPath, ['-e', '']).pid!;
/** A process that is running now: another Freehold host sharing the data folder, as far as the cleanup can tell. */
const livePid = process.ppid;
const dayAgo = new Date(Date.now() - 24 * 3600_000);

/** Writes a file (or makes a folder) and, if asked, makes it look a day old. */
function put(file: string, content: string | Buffer | null, old = false): string {
  mkdirSync(path.dirname(file), { recursive: true });
  if (content === null) mkdirSync(file, { recursive: true });
  else writeFileSync(file, content);
  if (old) utimesSync(file, dayAgo, dayAgo);
  return file;
}

function job(id: string, state: DownloadJob['state']): DownloadJob {
  return {
    id,
    repo: 'ggml-org/models',
    revision: 'main',
    quantization: 'F32',
    files: [{ name: 'tinyllamas/stories260K.gguf', sizeBytes: 1_185_376, sha256: null }],
    state,
    bytesDone: 1000,
    totalBytes: 1_185_376,
    bytesPerSecond: 0,
    etaSeconds: null,
    error: null,
    attempts: 0,
    lastRetry: null,
    modelId: null,
    createdAt: new Date().toISOString(),
  };
}

describe('leftovers of a crash', () => {
  it('removes what is provably stale, recovers a finished copy, keeps what a live job or another process holds, and says so', async () => {
    const dataDir = tempDir();
    const outside = tempDir();
    const models = path.join(dataDir, 'models');
    const bytes = readFileSync(model);

    // A model copied into the library before the crash: registered, kept.
    const first = await host(dataDir);
    const [copied] = await first.handlers['models.import']({ paths: [model], mode: 'copy' });
    await restart(first);

    const dead = deadPid();
    const hex = 'a1b2c3d4e5f6';
    // Temporary files of atomic writes (settings, the library index).
    const staleTemps = [
      put(path.join(dataDir, `.settings.json.${dead}.${hex}.tmp`), '{"ver'),
      put(path.join(dataDir, `.library.json.${dead}.${hex}.tmp`), '{'),
    ];
    const oldTemp = put(path.join(dataDir, `.downloads.json.${livePid}.${hex}.tmp`), '{', true); // pid reused long after
    const liveTemp = put(path.join(dataDir, `.settings.json.${livePid}.${hex}.tmp`), '{"ver');
    const notOurs = put(path.join(dataDir, 'notes.tmp'), 'mine');

    const gone = [
      // An import copy cut off by the crash (the partial names its writer), an older-style partial, an empty folder.
      put(path.join(models, 'aaaaaaaaaaaa', `model.gguf.${dead}.partial`), bytes.subarray(0, 5000)),
      put(path.join(models, 'bbbbbbbbbbbb', 'model.gguf.partial'), bytes.subarray(0, 5000), true),
      put(path.join(models, 'cccccccccccc'), null, true),
      // A complete copy that fails the header check, and a split copy with one shard done.
      put(path.join(models, 'eeeeeeeeeeee', 'model.gguf'), bytes.subarray(0, 9000), true),
      put(path.join(models, 'llllllllllll', 'model-00001-of-00002.gguf'), bytes, true),
    ];
    put(path.join(models, 'llllllllllll', `model-00002-of-00002.gguf.${dead}.partial`), bytes.subarray(0, 100));
    // A complete, verified copy that never reached the index: recovered into the library.
    const recovered = put(path.join(models, 'dddddddddddd', 'model.gguf'), bytes, true);

    const kept = [
      // A paused and a failed download: resumable from their partials.
      put(path.join(models, 'ffffffffffff', 'model.gguf.partial'), bytes.subarray(0, 1000), true),
      put(path.join(models, 'ffffffffffgg', 'model.gguf.partial'), bytes.subarray(0, 1000), true),
      // Another Freehold process is copying this one right now.
      put(path.join(models, 'gggggggggggg', `model.gguf.${livePid}.partial`), bytes.subarray(0, 1000)),
      // Written a moment ago by a writer that cannot be told: not provably stale yet.
      put(path.join(models, 'kkkkkkkkkkkk', 'model.gguf.partial'), bytes.subarray(0, 1000)),
      // Not Freehold's layout: a file it never writes, a name that is not an id.
      put(path.join(models, 'hhhhhhhhhhhh', 'notes.txt'), 'mine', true),
      put(path.join(models, 'hhhhhhhhhhhh', 'model.gguf.partial'), 'x', true),
      put(path.join(models, 'not-an-id', 'model.gguf.partial'), 'x', true),
      // A link out of the models folder: never followed.
      put(path.join(outside, 'model.gguf.partial'), 'x', true),
      copied!.model!.files[0]!,
      liveTemp,
      notOurs,
    ];
    symlinkSync(outside, path.join(models, 'jjjjjjjjjjjj'));
    for (const dir of [
      'bbbbbbbbbbbb',
      'cccccccccccc',
      'dddddddddddd',
      'eeeeeeeeeeee',
      'ffffffffffff',
      'ffffffffffgg',
      'hhhhhhhhhhhh',
      'llllllllllll',
      'not-an-id',
    ])
      utimesSync(path.join(models, dir), dayAgo, dayAgo);
    writeFileSync(
      path.join(dataDir, 'downloads.json'),
      JSON.stringify({ version: 1, jobs: [job('ffffffffffff', 'paused'), job('ffffffffffgg', 'failed')] }),
    );

    const services = await host(dataDir);

    for (const file of [...staleTemps, oldTemp, ...gone]) expect(existsSync(file), file).toBe(false);
    for (const file of kept) expect(existsSync(file), file).toBe(true);
    expect(existsSync(path.join(models, 'aaaaaaaaaaaa'))).toBe(false);
    expect(existsSync(path.join(models, 'llllllllllll'))).toBe(false);
    expect(existsSync(path.join(models, 'eeeeeeeeeeee'))).toBe(false);
    expect(readdirSync(models).sort()).toEqual(
      [
        copied!.model!.id,
        'dddddddddddd',
        'ffffffffffff',
        'ffffffffffgg',
        'gggggggggggg',
        'hhhhhhhhhhhh',
        'jjjjjjjjjjjj',
        'kkkkkkkkkkkk',
        'not-an-id',
      ].sort(),
    );

    const library = await services.handlers['models.list'](undefined);
    expect(library.models.map((m) => m.id).sort()).toEqual([copied!.model!.id, 'dddddddddddd'].sort());
    expect(services.library.get('dddddddddddd')).toMatchObject({
      origin: 'copied',
      owned: true,
      files: [recovered],
      name: expect.stringMatching(/^Recovered/),
    });
    expect((await services.handlers['downloads.list'](undefined)).map((j) => j.state).sort()).toEqual(['failed', 'paused']);

    const notices = services.notices.list().map((n) => n.message);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/^Freehold cleaned up after an interrupted session: /);
    expect(notices[0]).toMatch(/removed 3 unfinished copies, 1 empty model folder, 1 copy that failed its check and 3 temporary files/);
    expect(notices[0]).toMatch(/added 1 finished copy to the library \(Recovered /);

    // Nothing more to do on the next start.
    await restart(services);
    const again = await host(dataDir);
    expect(again.notices.list()).toEqual([]);
    expect(again.library.get('dddddddddddd')).toBeDefined();
  });
});
