import { execFileSync } from 'node:child_process';
import { closeSync, constants, copyFileSync, mkdirSync, openSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkModelFile } from '../../../electron/inference/model-file';
import { openFileSource } from '../../../electron/formats/file-source';
import { sha256File } from '../../../electron/library/model-library';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

// Opening a FIFO for reading blocks until a writer comes, on one of libuv's four
// file threads; these tests prove that no path Freehold accepts ever gets there.

const model = testModelPath();
const fifos: string[] = [];
const open: HostServices[] = [];

function mkfifo(file: string): string {
  execFileSync('mkfifo', [file]);
  fifos.push(file);
  return file;
}

/** Resolves to the value, or to 'hung' when it takes longer than `ms`. */
function within<T>(work: T | Promise<T>, ms = 3000): Promise<T | 'hung'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([Promise.resolve(work), new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)))]).finally(
    () => clearTimeout(timer),
  );
}

afterEach(async () => {
  // A reader stuck in open() (only without the fix) is released when a writer opens the FIFO.
  for (let round = 0; round < 5 && fifos.length > 0; round += 1) {
    for (const fifo of fifos) {
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: nobody is reading it (any more).
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  fifos.length = 0;
  for (const s of open.splice(0)) await within(s.close(), 5000);
});

async function host(watchFolders = false) {
  const services = await createHostServices({ dataDir: tempDir(), host: 'cli', log: () => undefined, watchFolders });
  open.push(services);
  return services;
}

describe.skipIf(process.platform === 'win32')('only regular files are opened', () => {
  it('refuses a FIFO named *.gguf at once, by reference and by copy', async () => {
    const services = await host();
    const fifo = mkfifo(path.join(tempDir(), 'pipe.gguf'));
    for (const mode of ['reference', 'copy'] as const) {
      const results = await within(services.handlers['models.import']({ paths: [fifo], mode }));
      expect(results).toEqual([
        { path: fifo, ok: false, error: expect.stringMatching(/pipe\.gguf is a named pipe \(FIFO\), not a regular file/) },
      ]);
    }
    expect((await services.handlers['models.list'](undefined)).models).toEqual([]);
  });

  it('keeps settings and other file work going while FIFOs are imported', async () => {
    const services = await host();
    const dir = tempDir();
    const imports = [1, 2, 3, 4].map((n) =>
      services.handlers['models.import']({ paths: [mkfifo(path.join(dir, `pipe${n}.gguf`))], mode: 'reference' }),
    );
    // Four blocked opens would take every libuv file thread; the settings write needs one.
    expect(await within(services.handlers['settings.update']({ library: { modelsDir: null } }))).not.toBe('hung');
    for (const result of await within(Promise.all(imports))) expect(result).toMatchObject([{ ok: false }]);
  });

  it('refuses a FIFO behind a symlink or as the shard of a split model', async () => {
    const services = await host();
    const dir = tempDir();
    symlinkSync(mkfifo(path.join(dir, 'target')), path.join(dir, 'linked.gguf'));
    copyFileSync(model, path.join(dir, 'split-00001-of-00002.gguf'));
    mkfifo(path.join(dir, 'split-00002-of-00002.gguf'));
    const results = await within(
      services.handlers['models.import']({
        paths: [path.join(dir, 'linked.gguf'), path.join(dir, 'split-00001-of-00002.gguf')],
        mode: 'reference',
      }),
    );
    expect(results).toEqual([
      { path: path.join(dir, 'linked.gguf'), ok: false, error: expect.stringMatching(/named pipe \(FIFO\), not a regular file/) },
      {
        path: path.join(dir, 'split-00001-of-00002.gguf'),
        ok: false,
        error: expect.stringMatching(/split-00002-of-00002\.gguf is a named pipe/),
      },
    ]);
    // The check before every load, too.
    expect(await within(checkModelFile(path.join(dir, 'linked.gguf')).catch((error: Error) => error.message))).toMatch(
      /linked\.gguf is a named pipe \(FIFO\), not a regular file/,
    );
  });

  it('skips FIFOs in a watched folder, and the low-level readers refuse them', async () => {
    const services = await host(true);
    const dir = tempDir();
    mkdirSync(path.join(dir, 'sub'));
    copyFileSync(model, path.join(dir, 'sub', 'real.gguf'));
    const fifo = mkfifo(path.join(dir, 'pipe.gguf'));
    symlinkSync(fifo, path.join(dir, 'sub', 'linked.gguf'));
    const folder = await within(services.handlers['folders.add']({ path: dir }));
    expect(folder).toMatchObject({ modelCount: 1 });
    expect(
      await within(
        openFileSource(fifo).then(
          () => 'opened',
          (error: Error) => error.message,
        ),
      ),
    ).toMatch(/not a regular file/);
    expect(await within(sha256File(fifo).catch((error: Error) => error.message))).toMatch(/not a regular file/);
    expect(
      await within(
        openFileSource(dir).then(
          () => 'opened',
          (error: Error) => error.message,
        ),
      ),
    ).toMatch(/is a folder/);
  });
});
