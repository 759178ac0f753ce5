import { copyFileSync, linkSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findGgufFiles } from '../../../electron/library/find-gguf-files';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

const model = testModelPath();
const open: HostServices[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function host(watchFolders = false) {
  const services = await createHostServices({ dataDir: tempDir(), host: 'cli', log: () => undefined, watchFolders });
  open.push(services);
  return services;
}

describe.skipIf(process.platform === 'win32')('a file is one library entry however many paths reach it', () => {
  it('does not follow links into loops: a folder with two links back to itself lists its file once', async () => {
    const services = await host(true);
    const root = tempDir();
    copyFileSync(model, path.join(root, 'stories.gguf'));
    symlinkSync('.', path.join(root, 'again'));
    symlinkSync(root, path.join(root, 'and-again'));
    expect(await findGgufFiles(root)).toEqual([path.join(root, 'stories.gguf')]);
    const folder = await services.handlers['folders.add']({ path: root });
    expect(folder.modelCount).toBe(1);
    await services.library.idle();
    const { models } = await services.handlers['models.list'](undefined);
    expect(models.map((m) => m.files)).toEqual([[path.join(root, 'stories.gguf')]]);
    expect(models[0]!.sha256).toBeNull(); // one file of its size: nothing to hash
  });

  it('gives one entry for ./, //, ../, symlinked and hard-linked spellings of one import', async () => {
    const services = await host();
    const dir = tempDir();
    mkdirSync(path.join(dir, 'sub'));
    const file = path.join(dir, 'stories.gguf');
    copyFileSync(model, file);
    symlinkSync(file, path.join(dir, 'link.gguf'));
    const linkedDir = path.join(tempDir(), 'via');
    symlinkSync(dir, linkedDir);
    linkSync(file, path.join(dir, 'hard.gguf'));
    const spellings = [
      file,
      `${dir}/./stories.gguf`,
      `${dir}//stories.gguf`,
      `${dir}/sub/../stories.gguf`,
      path.join(dir, 'link.gguf'),
      path.join(linkedDir, 'stories.gguf'),
      path.join(dir, 'hard.gguf'),
    ];
    const results = await services.handlers['models.import']({ paths: spellings, mode: 'reference' });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(new Set(results.map((r) => r.model!.id)).size).toBe(1);
    // One at a time, too.
    for (const spelling of spellings) await services.handlers['models.import']({ paths: [spelling], mode: 'reference' });
    const { models } = await services.handlers['models.list'](undefined);
    expect(models).toHaveLength(1);
    expect(models[0]!.files).toEqual([file]);
  });

  it('lists a file once when a watched folder holds it under two names or another entry has it already', async () => {
    const services = await host();
    const root = tempDir();
    mkdirSync(path.join(root, 'real'));
    copyFileSync(model, path.join(root, 'real', 'stories.gguf'));
    symlinkSync(path.join(root, 'real'), path.join(root, 'alias'));
    const [referenced] = await services.handlers['models.import']({ paths: [path.join(root, 'real', 'stories.gguf')], mode: 'reference' });
    const folder = await services.handlers['folders.add']({ path: root });
    expect(folder.modelCount).toBe(0); // the file is in the library already, by reference
    const { models } = await services.handlers['models.list'](undefined);
    expect(models.map((m) => m.id)).toEqual([referenced!.model!.id]);
    // Forgotten by reference: the folder lists it (once, by its own path rather than the link) from then on.
    await services.handlers['models.remove']({ id: referenced!.model!.id });
    await services.handlers['folders.rescan']({ id: folder.id });
    expect((await services.handlers['models.list'](undefined)).models.map((m) => m.files)).toEqual([
      [path.join(root, 'real', 'stories.gguf')],
    ]);
  });

  it('still names a Hugging Face cache model whose snapshot file is a link to a blob', async () => {
    const services = await host();
    const root = tempDir();
    const repo = path.join(root, 'models--ggml-org--models');
    mkdirSync(path.join(repo, 'blobs'), { recursive: true });
    mkdirSync(path.join(repo, 'snapshots', 'abc1234def'), { recursive: true });
    copyFileSync(model, path.join(repo, 'blobs', '270cba1bd5109f42'));
    symlinkSync('../../blobs/270cba1bd5109f42', path.join(repo, 'snapshots', 'abc1234def', 'stories260K.gguf'));
    await services.handlers['folders.add']({ path: root });
    const { models } = await services.handlers['models.list'](undefined);
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ source: { repo: 'ggml-org/models', revision: 'abc1234def', file: 'stories260K.gguf' } });
  });
});
