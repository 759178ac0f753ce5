import { appendFileSync, copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { setString, writeEditedGguf } from '../../helpers/gguf-edit';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

const model = testModelPath();
const SIZE = 1_185_376;
const open: HostServices[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function host(watchFolders: boolean, dataDir = tempDir()) {
  const services = await createHostServices({ dataDir, host: 'cli', log: () => undefined, watchFolders });
  open.push(services);
  return services;
}

/** Counts onLibraryChanged events from now on. */
function libraryEvents(services: HostServices): () => number {
  let count = 0;
  services.events.subscribeAll((event) => {
    if (event === 'onLibraryChanged') count += 1;
  });
  return () => count;
}

const LONG_NAME = `A rather longer model name${'!'.repeat(100)}`;

/** The same model under a longer name: a bigger file with a different header. */
function writeRenamed(target: string, name = LONG_NAME): void {
  const temp = `${target}.writing`;
  writeEditedGguf(model, temp, (gguf) => setString(gguf, 'general.name', name));
  renameSync(temp, target);
}

const list = async (services: HostServices) => (await services.handlers['models.list'](undefined)).models;

describe('library entries follow their files without a restart', () => {
  it('re-reads a referenced file that changed, and drops one that was deleted (watched)', async () => {
    const services = await host(true);
    const dir = tempDir();
    const [a, b] = [path.join(dir, 'a.gguf'), path.join(dir, 'b.gguf')];
    copyFileSync(model, a);
    copyFileSync(model, b);
    const results = await services.handlers['models.import']({ paths: [a, b], mode: 'reference' });
    await services.library.idle();
    await expect.poll(async () => (await list(services)).every((m) => m.sha256), { timeout: 10_000 }).toBe(true);
    const events = libraryEvents(services);

    writeRenamed(a);
    await expect.poll(() => services.library.get(results[0]!.model!.id)?.name, { timeout: 10_000 }).toBe(LONG_NAME);
    const changed = services.library.get(results[0]!.model!.id)!;
    expect(changed.sizeBytes).toBeGreaterThan(SIZE);
    expect(changed.sha256).toBeNull(); // its old hash no longer says anything
    expect(changed.duplicateOf).toBeNull();
    expect(services.library.get(results[1]!.model!.id)!.duplicateOf).toBeNull();
    // The entry is re-read in place, then the change is announced: the event follows.
    await expect.poll(() => events(), { timeout: 10_000 }).toBeGreaterThan(0);

    // Grown in place (same inode): the new size is read.
    appendFileSync(a, Buffer.alloc(4096));
    await expect.poll(() => services.library.get(results[0]!.model!.id)?.sizeBytes, { timeout: 10_000 }).toBe(changed.sizeBytes + 4096);

    const before = events();
    rmSync(b);
    await expect.poll(async () => (await list(services)).map((m) => m.id), { timeout: 10_000 }).toEqual([results[0]!.model!.id]);
    expect(events()).toBeGreaterThan(before);
  });

  it('re-reads a changed file in a watched folder', async () => {
    const services = await host(true);
    const root = tempDir();
    mkdirSync(path.join(root, 'sub'));
    const file = path.join(root, 'sub', 'stories.gguf');
    copyFileSync(model, file);
    await services.handlers['folders.add']({ path: root });
    const [entry] = await list(services);
    expect(entry!.sizeBytes).toBe(SIZE);
    const events = libraryEvents(services);
    writeRenamed(file);
    await expect.poll(async () => (await list(services))[0]?.name, { timeout: 10_000 }).toBe(LONG_NAME);
    const [updated] = await list(services);
    expect(updated).toMatchObject({ id: entry!.id, folderId: entry!.folderId });
    expect(updated!.sizeBytes).toBeGreaterThan(SIZE);
    // The entry is re-read in place, then the change is announced: the event follows.
    await expect.poll(() => events(), { timeout: 10_000 }).toBeGreaterThan(0);
  });

  it('checks the file before a load: a deleted one is said to be gone and leaves the library, a changed one is re-read', async () => {
    const services = await host(false);
    const dir = tempDir();
    const [a, b] = [path.join(dir, 'a.gguf'), path.join(dir, 'b.gguf')];
    copyFileSync(model, a);
    copyFileSync(model, b);
    const results = await services.handlers['models.import']({ paths: [a, b], mode: 'reference' });
    await services.library.idle();
    const events = libraryEvents(services);

    rmSync(a);
    await expect(services.handlers['models.load']({ id: results[0]!.model!.id })).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/a\.gguf is gone .*removed from the library/),
    });
    expect((await list(services)).map((m) => m.id)).toEqual([results[1]!.model!.id]);
    expect(events()).toBe(1);

    writeRenamed(b);
    const checked = await services.library.checkBeforeLoad(results[1]!.model!.id);
    expect(checked).toMatchObject({ id: results[1]!.model!.id, name: LONG_NAME });
    expect(services.library.get(results[1]!.model!.id)!.sizeBytes).toBeGreaterThan(SIZE);
    expect(events()).toBe(2);
    // Unchanged since: no event, nothing re-read.
    await services.library.checkBeforeLoad(results[1]!.model!.id);
    expect(events()).toBe(2);
  });

  it('re-reads at start a file that changed while Freehold was not running', async () => {
    const dataDir = tempDir();
    const file = path.join(tempDir(), 'a.gguf');
    copyFileSync(model, file);
    const first = await host(false, dataDir);
    const [result] = await first.handlers['models.import']({ paths: [file], mode: 'reference' });
    await first.close();
    open.splice(open.indexOf(first), 1);
    writeRenamed(file);
    const second = await host(false, dataDir);
    expect(second.library.get(result!.model!.id)).toMatchObject({ name: LONG_NAME, files: [file] });
    expect(second.library.get(result!.model!.id)!.sizeBytes).toBeGreaterThan(SIZE);
  });
});
