import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { suiteTempDirs } from '../../helpers/temp';
import { TINY_VISION, TINY_VISION_IMAGE_TOKENS, tinyProjectorGguf, tinyVisionModel } from '../../helpers/vision-model';

const tempDir = suiteTempDirs('freehold-projectors-');
let vision: { model: string; mmproj: string };
const open: HostServices[] = [];

beforeAll(async () => {
  vision = await tinyVisionModel();
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function host(watchFolders = false) {
  const services = await createHostServices({ dataDir: tempDir(), host: 'cli', log: () => undefined, watchFolders });
  open.push(services);
  return services;
}

/** The model and its projector copied into a fresh folder, as a download from a hub would leave them. */
function pairIn(dir: string, projectorName = 'mmproj-stories-F32.gguf') {
  const model = path.join(dir, 'stories260K.gguf');
  const mmproj = path.join(dir, projectorName);
  copyFileSync(vision.model, model);
  copyFileSync(vision.mmproj, mmproj);
  return { model, mmproj };
}

describe('projectors in the library', () => {
  it('imports a model and its projector together: one entry, which sees images', async () => {
    const services = await host();
    const { model, mmproj } = pairIn(tempDir());
    const results = await services.handlers['models.import']({ paths: [mmproj, model], mode: 'reference' });
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    const attached = results.find((r) => r.path === mmproj)!;
    expect(attached.attachedTo).toBe(attached.model!.id);
    const { models } = await services.handlers['models.list'](undefined);
    expect(models).toHaveLength(1);
    expect(models[0]!.projector).toEqual({
      file: mmproj,
      sizeBytes: tinyProjectorGguf().length,
      projectorType: 'mlp',
      vision: true,
      audio: false,
      imageTokens: TINY_VISION_IMAGE_TOKENS,
    });
  });

  it('a projector imported alone finds the library model it belongs to; a copy goes beside the model and with it', async () => {
    const services = await host();
    const { model, mmproj } = pairIn(tempDir());
    const [imported] = await services.handlers['models.import']({ paths: [model], mode: 'copy' });
    const [attached] = await services.handlers['models.import']({ paths: [mmproj], mode: 'copy' });
    expect(attached).toMatchObject({ ok: true, attachedTo: imported!.model!.id });
    const entry = (await services.handlers['models.list'](undefined)).models[0]!;
    expect(path.dirname(entry.projector!.file)).toBe(path.dirname(entry.files[0]!));
    expect(entry.projector!.file).not.toBe(mmproj);
    const { deletedFiles } = await services.handlers['models.remove']({ id: entry.id });
    expect(deletedFiles).toContain(entry.projector!.file);
    expect(existsSync(entry.projector!.file)).toBe(false);
    expect(existsSync(mmproj)).toBe(true);
  });

  it('refuses a projector that belongs to no model here, saying why', async () => {
    const services = await host();
    const dir = tempDir();
    const wide = path.join(dir, 'mmproj-other.gguf');
    writeFileSync(wide, tinyProjectorGguf({ ...TINY_VISION, projection: 96 }));
    const [alone] = await services.handlers['models.import']({ paths: [wide], mode: 'reference' });
    expect(alone).toMatchObject({ ok: false });
    expect(alone!.error).toMatch(
      /mmproj-other\.gguf is a projector for a model whose embeddings are 96 wide, and no such model is in your library/,
    );
    const { model } = pairIn(dir);
    const results = await services.handlers['models.import']({ paths: [model, wide], mode: 'reference' });
    expect(results[0]!.ok).toBe(true);
    expect(results[1]!.error).toMatch(/96 wide.*stories260K takes other widths/);
    expect((await services.handlers['models.list'](undefined)).models[0]!.projector ?? null).toBeNull();
  });

  it('refuses a projector of a type llama.cpp does not know', async () => {
    const services = await host();
    const { model } = pairIn(tempDir());
    const odd = tinyProjectorGguf();
    const at = odd.indexOf(Buffer.from('clip.projector_type')) + 'clip.projector_type'.length + 4 + 8;
    const strange = Buffer.concat([odd.subarray(0, at), Buffer.from('zzz'), odd.subarray(at + 3)]);
    const file = path.join(path.dirname(model), 'mmproj-strange.gguf');
    writeFileSync(file, strange);
    const results = await services.handlers['models.import']({ paths: [model, file], mode: 'reference' });
    expect(results[1]).toMatchObject({ ok: false });
    expect(results[1]!.error).toMatch(/projector type “zzz” is not one this llama\.cpp knows/);
  });

  it('a folder lists a model with its projector beside it as one model that sees; a projector deleted by hand leaves it text-only', async () => {
    const services = await host();
    const dir = tempDir();
    const { mmproj } = pairIn(dir);
    await services.handlers['folders.add']({ path: dir });
    const { models } = await services.handlers['models.list'](undefined);
    expect(models).toHaveLength(1);
    expect(models[0]!.projector?.vision).toBe(true);
    const { rmSync } = await import('node:fs');
    rmSync(mmproj);
    await services.library.checkBeforeLoad(models[0]!.id);
    expect(services.library.get(models[0]!.id)!.projector).toBeNull();
  });
});
