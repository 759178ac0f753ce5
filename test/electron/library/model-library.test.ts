import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { writePatchedGguf } from '../../helpers/gguf';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

const model = testModelPath();
let open: HostServices[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function host(dataDir = tempDir(), watchFolders = false) {
  const services = await createHostServices({ dataDir, host: 'cli', log: () => undefined, watchFolders });
  open.push(services);
  return services;
}

describe('model library', () => {
  it('imports a file by reference, reading its facts from the header, and forgets it without deleting it', async () => {
    const services = await host();
    const dir = tempDir();
    const file = path.join(dir, 'stories.gguf');
    copyFileSync(model, file);
    const [result] = await services.handlers['models.import']({ paths: [file], mode: 'reference' });
    expect(result).toMatchObject({
      ok: true,
      model: {
        origin: 'referenced',
        owned: false,
        architecture: 'llama',
        contextLength: 2048,
        quantization: 'F32',
        sizeBytes: 1_185_376,
        files: [file],
      },
    });
    expect(result!.model!.name).toBe('stories');
    // Importing it again gives the same entry.
    const [again] = await services.handlers['models.import']({ paths: [file], mode: 'reference' });
    expect(again!.model!.id).toBe(result!.model!.id);
    const removed = await services.handlers['models.remove']({ id: result!.model!.id });
    expect(removed.deletedFiles).toEqual([]);
    expect(existsSync(file)).toBe(true);
    expect((await services.handlers['models.list'](undefined)).models).toEqual([]);
  });

  it('copies into the library when asked, verifying, and deletes its own copy on remove', async () => {
    const dataDir = tempDir();
    const services = await host(dataDir);
    const progress: number[] = [];
    services.events.subscribeAll((event, payload) => {
      if (event === 'onImportProgress') progress.push((payload as { bytes: number }).bytes);
    });
    const [result] = await services.handlers['models.import']({ paths: [model], mode: 'copy' });
    const entry = result!.model!;
    expect(entry).toMatchObject({
      origin: 'copied',
      owned: true,
      sha256: '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d',
    });
    expect(entry.files[0]).toBe(path.join(dataDir, 'models', entry.id, 'model.gguf'));
    expect(readFileSync(entry.files[0]!).equals(readFileSync(model))).toBe(true);
    expect(progress.at(-1)).toBe(1_185_376);
    const { deletedFiles } = await services.handlers['models.remove']({ id: entry.id });
    expect(deletedFiles).toEqual(entry.files);
    expect(existsSync(entry.files[0]!)).toBe(false);
    expect(existsSync(model)).toBe(true);
  });

  it('refuses bad files with a clear reason and registers nothing', async () => {
    const services = await host();
    const dir = tempDir();
    writeFileSync(path.join(dir, 'notes.gguf'), 'not a model');
    writePatchedGguf(model, path.join(dir, 'zero-heads.gguf'), 'llama.attention.head_count', 0);
    writeFileSync(path.join(dir, 'cut.gguf'), readFileSync(model).subarray(0, 9000));
    writeFileSync(path.join(dir, 'model.bin'), readFileSync(model));
    const results = await services.handlers['models.import']({
      paths: [
        'notes.gguf',
        path.join(dir, 'missing.gguf'),
        path.join(dir, 'notes.gguf'),
        path.join(dir, 'zero-heads.gguf'),
        path.join(dir, 'cut.gguf'),
        path.join(dir, 'model.bin'),
      ],
      mode: 'copy',
    });
    expect(results.map((r) => r.ok)).toEqual([false, false, false, false, false, false]);
    expect(results.map((r) => r.error)).toEqual([
      'The path must be absolute.',
      'Not found.',
      expect.stringMatching(/Not a usable GGUF model: This is not a GGUF file/),
      expect.stringMatching(/head_count is 0; llama\.cpp would abort/),
      expect.stringMatching(/Not a usable GGUF model: .*(ends inside the header|bytes left)/),
      'Only .gguf files can be imported.',
    ]);
    expect((await services.handlers['models.list'](undefined)).models).toEqual([]);
  });

  it('treats split files as one model and refuses an incomplete set', async () => {
    const services = await host();
    const dir = tempDir();
    copyFileSync(model, path.join(dir, 'big-00001-of-00002.gguf'));
    copyFileSync(model, path.join(dir, 'big-00002-of-00002.gguf'));
    const [result] = await services.handlers['models.import']({ paths: [path.join(dir, 'big-00002-of-00002.gguf')], mode: 'reference' });
    expect(result!.model!.files).toEqual([path.join(dir, 'big-00001-of-00002.gguf'), path.join(dir, 'big-00002-of-00002.gguf')]);
    expect(result!.model!.sizeBytes).toBe(2 * 1_185_376);
    rmSync(path.join(dir, 'big-00002-of-00002.gguf'));
    copyFileSync(model, path.join(dir, 'other-00001-of-00003.gguf'));
    const [incomplete] = await services.handlers['models.import']({
      paths: [path.join(dir, 'other-00001-of-00003.gguf')],
      mode: 'reference',
    });
    expect(incomplete).toMatchObject({ ok: false, error: expect.stringMatching(/other-00002-of-00003\.gguf is missing/) });
  });

  it('imports a multi-gigabyte file by reference without reading it (sparse file)', async () => {
    const services = await host();
    const file = path.join(tempDir(), 'huge.gguf');
    copyFileSync(model, file);
    truncateSync(file, 6 * 1024 ** 3);
    const [result] = await services.handlers['models.import']({ paths: [file], mode: 'reference' });
    expect(result!.model!.sizeBytes).toBe(6 * 1024 ** 3);
  });

  it('indexes a folder in place, skips bad files, follows changes, and names Hugging Face cache models', async () => {
    const services = await host(tempDir(), true);
    const root = tempDir();
    const snapshotDir = path.join(root, 'models--ggml-org--models', 'snapshots', 'abc1234def', 'tinyllamas');
    mkdirSync(snapshotDir, { recursive: true });
    copyFileSync(model, path.join(snapshotDir, 'stories260K.gguf'));
    mkdirSync(path.join(root, 'mine'));
    writeFileSync(path.join(root, 'mine', 'broken.gguf'), 'GGUF but not really');
    const folder = await services.handlers['folders.add']({ path: root });
    expect(folder.modelCount).toBe(1);
    let models = (await services.handlers['models.list'](undefined)).models;
    expect(models[0]).toMatchObject({
      origin: 'folder',
      owned: false,
      source: { repo: 'ggml-org/models', revision: 'abc1234def', file: 'tinyllamas/stories260K.gguf' },
    });

    // A new file appears: the watcher picks it up.
    copyFileSync(model, path.join(root, 'mine', 'copy.gguf'));
    await expect.poll(async () => (await services.handlers['models.list'](undefined)).models.length, { timeout: 10_000 }).toBe(2);
    // Same size → hashed in the background → marked as a duplicate, counted once.
    await services.library.idle();
    await expect
      .poll(async () => (await services.handlers['models.list'](undefined)).models.filter((m) => m.duplicateOf).length, { timeout: 10_000 })
      .toBe(1);
    expect((await services.handlers['models.list'](undefined)).totalBytes).toBe(1_185_376);

    // Removing a folder model forgets it (the file stays) and a rescan does not bring it back.
    models = (await services.handlers['models.list'](undefined)).models;
    const copy = models.find((m) => m.files[0]!.endsWith('copy.gguf'))!;
    await services.handlers['models.remove']({ id: copy.id });
    expect(existsSync(copy.files[0]!)).toBe(true);
    await services.handlers['folders.rescan']({ id: folder.id });
    expect((await services.handlers['models.list'](undefined)).models).toHaveLength(1);

    // A file deleted on disk leaves the library.
    rmSync(path.join(snapshotDir, 'stories260K.gguf'));
    await expect.poll(async () => (await services.handlers['models.list'](undefined)).models.length, { timeout: 10_000 }).toBe(0);
  });

  it('keeps the library across restarts and rebuilds a corrupt index without touching model files', async () => {
    const dataDir = tempDir();
    const first = await host(dataDir);
    const [result] = await first.handlers['models.import']({ paths: [model], mode: 'reference' });
    await first.close();
    open = open.filter((s) => s !== first);
    const second = await host(dataDir);
    expect((await second.handlers['models.list'](undefined)).models.map((m) => m.id)).toEqual([result!.model!.id]);
    await second.close();
    open = open.filter((s) => s !== second);
    writeFileSync(path.join(dataDir, 'library.json'), '{"version":1,"models":[{"id":');
    const third = await host(dataDir);
    expect((await third.handlers['models.list'](undefined)).models).toEqual([]);
    expect(third.notices.list()[0]?.message).toMatch(/library index was unreadable/);
    expect(existsSync(model)).toBe(true);
  });

  it('suggests well-known model folders that exist', async () => {
    const services = await host();
    const home = tempDir();
    mkdirSync(path.join(home, '.lmstudio', 'models'), { recursive: true });
    mkdirSync(path.join(home, '.cache', 'huggingface', 'hub'), { recursive: true });
    const suggestions = services.library.suggestions(home, {});
    expect(suggestions.map((s) => s.label)).toEqual(['LM Studio models', 'Hugging Face cache']);
  });
});
