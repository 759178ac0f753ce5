/**
 * Projectors (mmproj GGUF files) in the library: never listed as models of
 * their own, attached to the model they belong to — the one whose embedding
 * width is the projector's output width, among the models imported with it,
 * else those beside it, else the library's — or refused with the reason.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { ImportResult, ModelEntry, ProjectorInfo } from '../../shared/library';
import { openFileSource } from '../formats/file-source';
import { GgufError, readGgufHeader } from '../formats/gguf-header';
import { isProjectorHeader, modelEmbeddingWidth, projectorMismatch, readProjector } from '../formats/gguf-projector';
import { openRegularFile } from '../platform/regular-file';
import type { LibraryContext } from './library-state';

/** Whether a .gguf file is a projector (general.architecture "clip"); false for models and unreadable files. */
export async function isProjectorFile(file: string): Promise<boolean> {
  let source;
  try {
    source = await openFileSource(file);
  } catch {
    return false;
  }
  try {
    return isProjectorHeader(await readGgufHeader(source));
  } catch {
    return false;
  } finally {
    await source.close();
  }
}

const widths = new Map<string, number | null>();

async function widthOf(model: ModelEntry): Promise<number | null> {
  const key = `${model.files[0]}:${model.sizeBytes}`;
  if (!widths.has(key)) widths.set(key, await modelEmbeddingWidth(model.files[0]!).catch(() => null));
  return widths.get(key)!;
}

/** Words of a name, for telling apart models of one width ("mmproj-Qwen2.5-VL-7B-F16" ~ "Qwen2.5-VL-7B-Instruct-Q4_K_M"). */
function words(name: string): Set<string> {
  return new Set(
    path
      .basename(name)
      .replace(/\.gguf$/i, '')
      .toLowerCase()
      .split(/[^a-z0-9.]+/)
      .filter((w) => w && !['mmproj', 'model', 'gguf', 'f16', 'f32', 'bf16', 'q8_0'].includes(w)),
  );
}

function likeness(projectorName: string, model: ModelEntry): number {
  const a = words(projectorName);
  const b = new Set([...words(model.name), ...words(model.files[0]!), ...words(model.source?.repo ?? '')]);
  return [...a].filter((w) => b.has(w)).length;
}

/**
 * The model a projector belongs to among `candidates`: those whose width
 * matches, then those in its folder, then the most alike by name. Throws
 * RpcError with the reason when none or several equally fit.
 */
export async function modelForProjector(
  file: string,
  facts: { outputWidth: number | null },
  candidates: ModelEntry[],
): Promise<ModelEntry> {
  const name = path.basename(file);
  if (facts.outputWidth === null) {
    throw new RpcError(
      'invalid_model',
      `${name} does not say how wide its output is (clip.vision.projection_dim), so no model can be matched to it.`,
    );
  }
  const fitting: ModelEntry[] = [];
  for (const model of candidates) if ((await widthOf(model)) === facts.outputWidth) fitting.push(model);
  if (fitting.length === 0) {
    const seen =
      candidates.length > 0
        ? `; ${candidates.length === 1 ? candidates[0]!.name : `the ${candidates.length} models looked at`} take${candidates.length === 1 ? 's' : ''} other widths`
        : '';
    throw new RpcError(
      'invalid_model',
      `${name} is a projector for a model whose embeddings are ${facts.outputWidth} wide, and no such model is in your library${seen}. Import it together with its model.`,
    );
  }
  let best = fitting;
  const beside = best.filter((m) => path.dirname(m.files[0]!) === path.dirname(file));
  if (beside.length > 0) best = beside;
  if (best.length > 1) {
    const scores = best.map((m) => likeness(name, m));
    const top = Math.max(...scores);
    best = best.filter((_, i) => scores[i] === top);
  }
  if (best.length > 1) {
    const names = best.slice(0, 4).map((m) => m.name);
    throw new RpcError('invalid_model', `${name} fits ${best.length} models (${names.join(', ')}): import it together with its model.`);
  }
  return best[0]!;
}

/**
 * Attaches a projector to a model (the caller holds the library's turn): the
 * file is checked (a projector llama.cpp knows, the model's width), copied
 * beside the model when the model's files are the app's and `copy` is asked,
 * else referenced where it is.
 */
export async function attachProjectorFile(library: LibraryContext, model: ModelEntry, file: string, copy: boolean): Promise<ModelEntry> {
  let facts;
  try {
    facts = await readProjector(file);
  } catch (error) {
    if (error instanceof GgufError) throw new RpcError('invalid_model', `${path.basename(file)}: ${error.message}`);
    throw error;
  }
  const mismatch = projectorMismatch(facts, { name: model.name, embeddingWidth: await widthOf(model) });
  if (mismatch) throw new RpcError('invalid_model', `${path.basename(file)} cannot go with ${model.name}: ${mismatch}.`);
  let target = file;
  const root = path.resolve(library.options.modelsDir());
  const modelDir = path.dirname(model.files[0]!);
  if (copy && model.owned && path.resolve(modelDir).startsWith(root + path.sep) && path.dirname(file) !== modelDir) {
    target = path.join(modelDir, 'mmproj.gguf');
    await library.ensureSpace(modelDir, facts.sizeBytes);
    await library.writeVerified((await openRegularFile(file)).createReadStream(), target);
  }
  const previous = model.projector?.file;
  const projector: ProjectorInfo = {
    file: target,
    sizeBytes: facts.sizeBytes,
    projectorType: facts.projectorType,
    vision: facts.vision,
    audio: facts.audio,
    imageTokens: facts.imageTokens,
  };
  model.projector = projector;
  // A copy this one replaces goes (only ever inside the models folder).
  if (previous && previous !== target && path.resolve(previous).startsWith(root + path.sep)) await fs.rm(previous, { force: true });
  await library.changed();
  return model;
}

/**
 * Imports projectors given with (or without) their models: each is attached
 * to the model it belongs to among `imported` (the models of the same
 * import), else among the library's; the result says which, or why not.
 */
export async function importProjectors(
  library: LibraryContext,
  files: Array<{ file: string; given: string }>,
  imported: ModelEntry[],
  copy: boolean,
): Promise<ImportResult[]> {
  const results: ImportResult[] = [];
  for (const { file, given } of files) {
    results.push(
      await library.exclusive(async (): Promise<ImportResult> => {
        try {
          const facts = await readProjector(file);
          const pool = imported.length > 0 ? imported : library.state.models;
          const model = await modelForProjector(file, facts, pool);
          const attached = await attachProjectorFile(library, model, file, copy);
          return { path: given, ok: true, model: attached, attachedTo: attached.id };
        } catch (error) {
          const message = error instanceof GgufError ? `${path.basename(file)}: ${error.message}` : (error as Error).message;
          return { path: given, ok: false, error: message };
        }
      }),
    );
  }
  return results;
}

/** Projectors in an indexed folder: each attached to the folder's model beside it that it fits (caller holds the turn). */
export async function attachFolderProjectors(library: LibraryContext, folderId: string, files: string[]): Promise<boolean> {
  let changed = false;
  const models = library.state.models.filter((m) => m.folderId === folderId);
  for (const model of models) {
    if (model.projector && !files.includes(model.projector.file)) {
      model.projector = null;
      changed = true;
    }
  }
  for (const file of files) {
    if (models.some((m) => m.projector?.file === file)) continue;
    try {
      const facts = await readProjector(file);
      const beside = models.filter((m) => path.dirname(m.files[0]!) === path.dirname(file) && !m.projector);
      const model = await modelForProjector(file, facts, beside);
      await attachProjectorFile(library, model, file, false);
      changed = true;
    } catch (error) {
      library.options.log(`projector ${file} not attached: ${(error as Error).message}`);
    }
  }
  return changed;
}

/** Before a load: a projector whose file is gone is dropped (the model runs text-only); true if one was. */
export async function dropMissingProjector(model: ModelEntry): Promise<boolean> {
  if (!model.projector) return false;
  const there = await fs.stat(model.projector.file).then(
    (s) => s.isFile(),
    () => false,
  );
  if (there) return false;
  model.projector = null;
  return true;
}
