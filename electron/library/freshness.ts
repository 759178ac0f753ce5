/** Keeping entries true to their files: a deleted file's entry forgotten, a changed file's re-read. */
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { ModelEntry } from '../../shared/library';
import { GgufError } from '../formats/gguf-header';
import { NotRegularFileError } from '../platform/regular-file';
import { fileIdentity, sameStamps, stampFile, type FileStamp } from './file-identity';
import type { LibraryContext, LibraryState } from './library-state';
import { inspectModel } from './model-entry';
import { dropMissingProjector } from './projectors';

/** How a model's files compare with what the library read from them. */
export type Freshness = { state: 'same' } | { state: 'changed' } | { state: 'gone'; file: string } | { state: 'unusable'; reason: string };

/** Whether a recheck found anything to save. */
export function anyChanged(outcomes: Map<ModelEntry, Freshness>): boolean {
  return [...outcomes.values()].some((o) => o.state !== 'same');
}

/** Compares a model's files with their stamps; re-reads the headers of changed ones and updates the entry. */
async function verify(state: LibraryState, model: ModelEntry): Promise<Freshness> {
  const now: FileStamp[] = [];
  for (const file of model.files) {
    try {
      now.push(await stampFile(file));
    } catch (error) {
      if (error instanceof NotRegularFileError) return { state: 'unusable', reason: error.message };
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { state: 'gone', file };
      return { state: 'same' }; // unreadable for now (permissions, a drive asleep): a load says why
    }
  }
  const before = state.stamps.get(model.id);
  // An entry from an older index has no stamps: adopted as they are unless the size says otherwise.
  if (before ? sameStamps(before, now) : now.reduce((sum, s) => sum + s.size, 0) === model.sizeBytes) {
    if (!before) {
      state.stamps.set(model.id, now);
      state.stampsAdopted = true;
    }
    return { state: 'same' };
  }
  let facts;
  try {
    facts = await inspectModel(model.files);
  } catch (error) {
    const why =
      error instanceof GgufError ? `is no longer a usable GGUF model (${error.message})` : `cannot be used (${(error as Error).message})`;
    return { state: 'unusable', reason: `${path.basename(model.files[0]!)} changed on disk and ${why}` };
  }
  Object.assign(model, {
    ...facts,
    // Copies and downloads are stored as model.gguf: their name came from the repo or the upload.
    name: model.owned && facts.name === 'model' ? model.name : facts.name,
    publisher: facts.publisher ?? (model.origin === 'downloaded' ? model.publisher : null),
    // The old hash says nothing about the new bytes.
    sha256: null,
    duplicateOf: null,
  });
  // Copies of its old bytes are no longer copies of it: said at once, not at the next save.
  for (const m of state.models) if (m.duplicateOf === model.id) m.duplicateOf = null;
  state.stamps.set(model.id, now);
  return { state: 'changed' };
}

/**
 * Checks entries against their files: a gone one is forgotten, an unusable
 * one forgotten with a notice (unless `announce` is false: a load reports it
 * itself), a changed one re-read. The caller saves the change.
 */
export async function recheck(
  { state, options }: Pick<LibraryContext, 'state' | 'options'>,
  models: ModelEntry[],
  announce = true,
): Promise<Map<ModelEntry, Freshness>> {
  const outcomes = new Map<ModelEntry, Freshness>();
  for (const model of models) {
    if (!state.models.includes(model)) continue;
    const outcome = await verify(state, model);
    outcomes.set(model, outcome);
    if (outcome.state === 'gone') {
      state.forget(model);
      options.log(`${outcome.file} is gone; ${model.name} left the library`);
    } else if (outcome.state === 'unusable') {
      state.forget(model);
      if (announce && model.origin !== 'folder')
        options.notices.add('warning', `${model.name} was removed from the library: ${outcome.reason}.`);
      else options.log(`${model.name} left the library: ${outcome.reason}`);
    } else if (outcome.state === 'changed') {
      options.log(`${model.files[0]} changed on disk; re-read it`);
    }
  }
  return outcomes;
}

/** Rechecks the copies, downloads and references that have files in `dir`, and saves what changed. */
export async function recheckIn(library: LibraryContext, dir: string): Promise<void> {
  const outcomes = await recheck(
    library,
    library.state.models.filter((m) => m.origin !== 'folder' && m.files.some((f) => path.dirname(f) === dir)),
  );
  if (anyChanged(outcomes)) await library.saveChange();
}

/** Before a load: a deleted file is reported and its entry removed; a changed one is re-read first. */
export function checkBeforeLoad(library: LibraryContext, id: string): Promise<ModelEntry> {
  return library.exclusive(async () => {
    const model = library.state.get(id);
    if (!model) throw new RpcError('not_found', 'No such model in the library.');
    const outcome = (await recheck(library, [model], false)).get(model);
    const projectorGone = await dropMissingProjector(model);
    if (projectorGone) library.options.log(`${model.name}: its projector's file is gone; it runs text-only`);
    if ((outcome && outcome.state !== 'same') || projectorGone) await library.saveChange();
    if (outcome?.state === 'gone') {
      throw new RpcError(
        'not_found',
        `${path.basename(outcome.file)} is gone (deleted or moved from ${path.dirname(outcome.file)}), so ${model.name} was removed from the library.`,
      );
    }
    if (outcome?.state === 'unusable')
      throw new RpcError('invalid_model', `${outcome.reason}; ${model.name} was removed from the library.`);
    return model;
  });
}

/** An index from an older version could list one file several times (once per spelling of its path): one entry is kept. */
export async function dropSameFileEntries(state: LibraryState): Promise<boolean> {
  const byFile = new Set<string>();
  // What the user added (copies, downloads, references) before folder entries, then the oldest.
  const order = [...state.models].sort(
    (a, b) => Number(a.origin === 'folder') - Number(b.origin === 'folder') || a.addedAt.localeCompare(b.addedAt),
  );
  let dropped = false;
  for (const model of order) {
    const key = await fileIdentity(model.files[0]!);
    if (key === null) continue;
    if (byFile.has(key)) {
      state.forget(model);
      dropped = true;
    } else byFile.add(key);
  }
  return dropped;
}
