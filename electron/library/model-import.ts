/** Models coming into the library: files and folders referenced or copied, uploads, downloads, recovered copies. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { RpcError } from '../../shared/errors';
import type { ImportResult, ModelEntry } from '../../shared/library';
import { shardName, shardPaths } from '../formats/gguf-split';
import { notRegularFile, openRegularFile } from '../platform/regular-file';
import { markDuplicates } from './duplicates';
import { fileIdentity, type FileStamp } from './file-identity';
import { findGgufFiles } from './find-gguf-files';
import type { LibraryContext } from './library-state';
import { importProjectors, isProjectorFile } from './projectors';
import { hubCacheSource, importError, inspectModel, newEntry, newId, stampAll } from './model-entry';

export type ImportProgress = (file: string, bytes: number, total: number) => void;

/** Imports files or folders: referenced where they are (default), or copied into the library. */
export async function importPaths(
  library: LibraryContext,
  paths: string[],
  mode: 'reference' | 'copy',
  onProgress?: ImportProgress,
): Promise<ImportResult[]> {
  const results: ImportResult[] = [];
  const seen = new Set<string>();
  // Projectors are attached to their models once those are in (projectors.ts).
  const projectors: Array<{ file: string; given: string }> = [];
  for (const given of paths) {
    if (!path.isAbsolute(given)) {
      results.push({ path: given, ok: false, error: 'The path must be absolute.' });
      continue;
    }
    let resolved: string;
    let stat;
    try {
      // One spelling per path: `./`, `//`, `../` and linked folders resolved. The file's own name is kept
      // (a Hugging Face cache names its models by their links).
      resolved = path.join(await fs.realpath(path.dirname(given)), path.basename(given));
      stat = await fs.stat(resolved);
    } catch {
      results.push({ path: given, ok: false, error: 'Not found.' });
      continue;
    }
    if (!stat.isDirectory() && !stat.isFile()) {
      results.push({ path: given, ok: false, error: notRegularFile(given, stat).message });
      continue;
    }
    const files = stat.isDirectory() ? await findGgufFiles(resolved) : [resolved];
    if (stat.isDirectory() && files.length === 0) {
      results.push({ path: given, ok: false, error: 'The folder holds no .gguf files.' });
      continue;
    }
    for (const file of files) {
      const shards = shardPaths(file);
      const key = (await fileIdentity(shards[0]!)) ?? shards[0]!;
      if (seen.has(key)) continue;
      seen.add(key);
      if (/\.gguf$/i.test(file) && (await isProjectorFile(file))) {
        projectors.push({ file, given: stat.isDirectory() ? file : given });
        continue;
      }
      results.push(await importOne(library, shards, stat.isDirectory() ? file : given, mode, onProgress));
    }
  }
  if (projectors.length > 0) {
    const imported = results.flatMap((r) => (r.ok && r.model ? [r.model] : []));
    results.push(...(await importProjectors(library, projectors, imported, mode === 'copy')));
  }
  return results;
}

async function importOne(
  library: LibraryContext,
  shards: string[],
  given: string,
  mode: 'reference' | 'copy',
  onProgress?: ImportProgress,
): Promise<ImportResult> {
  if (!/\.gguf$/i.test(shards[0]!)) return { path: given, ok: false, error: 'Only .gguf files can be imported.' };
  if (mode === 'reference') return library.exclusive(() => reference(library, shards, given));
  let facts;
  try {
    facts = await inspectModel(shards);
  } catch (error) {
    return { path: given, ok: false, error: importError(error) };
  }
  try {
    const id = newId();
    const target = path.join(library.options.modelsDir(), id);
    await library.ensureSpace(library.options.modelsDir(), facts.sizeBytes);
    await fs.mkdir(target, { recursive: true });
    const copies: string[] = [];
    let sha256: string | null = null;
    try {
      for (let i = 0; i < shards.length; i += 1) {
        const name = shards.length > 1 ? shardName('model', i + 1, shards.length) : 'model.gguf';
        const input = (await openRegularFile(shards[i]!)).createReadStream();
        const result = await library.writeVerified(input, path.join(target, name), (bytes) => onProgress?.(given, bytes, facts.sizeBytes));
        if (shards.length === 1) sha256 = result.sha256;
        copies.push(path.join(target, name));
      }
    } catch (error) {
      await fs.rm(target, { recursive: true, force: true });
      throw error;
    }
    const model = newEntry(copies, 'copied', facts, { id, sha256 });
    await addAndAnnounce(library, model, null);
    return { path: given, ok: true, model };
  } catch (error) {
    return { path: given, ok: false, error: (error as Error).message };
  }
}

async function reference(library: LibraryContext, shards: string[], given: string): Promise<ImportResult> {
  const known = await library.state.entryFor(shards[0]!);
  if (known) return { path: given, ok: true, model: known };
  const stamps = await stampAll(shards);
  let facts;
  try {
    facts = await inspectModel(shards);
  } catch (error) {
    return { path: given, ok: false, error: importError(error) };
  }
  const model = newEntry(shards, 'referenced', facts, { source: hubCacheSource(shards[0]!) });
  await library.state.add(model, stamps);
  await library.saveChange();
  return { path: given, ok: true, model };
}

/** Adds an entry whose files the app has just written and hashed (no hashing to schedule), in the library's turn. */
function addAndAnnounce(library: LibraryContext, model: ModelEntry, stamps: FileStamp[] | null): Promise<void> {
  return library.exclusive(async () => {
    await library.state.add(model, stamps);
    markDuplicates(library.state.models);
    await library.changed();
  });
}

/** An upload from the browser (the headless UI cannot give a path): stored as a copy. */
export async function importStream(
  library: LibraryContext,
  fileName: string,
  input: Readable,
  onBytes?: (bytes: number) => void,
  options: { projectors?: boolean } = {},
): Promise<ModelEntry> {
  if (!/\.gguf$/i.test(fileName)) throw new RpcError('invalid_model', 'Only .gguf files can be imported.');
  const id = newId();
  const target = path.join(library.options.modelsDir(), id);
  await fs.mkdir(target, { recursive: true });
  const final = path.join(target, 'model.gguf');
  try {
    const { sha256 } = await library.writeVerified(input, final, onBytes);
    if (await isProjectorFile(final)) {
      // From another machine a projector could replace one of this machine's models' own: only its user attaches them.
      if (options.projectors === false)
        throw new Error(`${path.basename(fileName)} is a projector; another machine cannot attach one here: import it on this machine.`);
      return await attachUploadedProjector(library, final, fileName, target);
    }
    const stamps = await stampAll([final]);
    const facts = await inspectModel([final]);
    const display = path.basename(fileName).replace(/\.gguf$/i, '');
    const model = newEntry([final], 'copied', { ...facts, name: facts.name === 'model' ? display : facts.name }, { id, sha256 });
    await addAndAnnounce(library, model, stamps);
    return model;
  } catch (error) {
    await fs.rm(target, { recursive: true, force: true });
    throw new RpcError('invalid_model', (error as Error).message);
  }
}

/**
 * An uploaded projector (mmproj) is never a model of its own: it is attached
 * to the model uploaded just before it where that one fits (a model dropped
 * with its projector), else to the library's model it belongs to; throws
 * with the reason where none fits. Kept as the model's copy, or in its own
 * folder as mmproj.gguf where the model's files are not the app's.
 */
async function attachUploadedProjector(library: LibraryContext, file: string, fileName: string, dir: string): Promise<ModelEntry> {
  const kept = path.join(dir, 'mmproj.gguf');
  await fs.rename(file, kept);
  const newest = library.state.models.filter((m) => m.origin === 'copied').sort((a, b) => b.addedAt.localeCompare(a.addedAt))[0];
  const recent = newest && Date.now() - Date.parse(newest.addedAt) < 10 * 60 * 1000 ? [newest] : [];
  const given = path.basename(fileName);
  let [result] = await importProjectors(library, [{ file: kept, given }], recent, true);
  if (!result!.ok && recent.length > 0) [result] = await importProjectors(library, [{ file: kept, given }], [], true);
  if (!result!.ok || !result!.model) throw new Error(result!.error!.replace(/^mmproj\.gguf\b/, given));
  if (result!.model.projector?.file !== kept) await fs.rm(dir, { recursive: true, force: true });
  return result!.model;
}

/** Registers files a download has verified and put in place. */
export async function addDownloaded(
  library: LibraryContext,
  files: string[],
  source: ModelEntry['source'],
  sha256: string | null,
  id: string,
): Promise<ModelEntry> {
  const stamps = await stampAll(files);
  const facts = await inspectModel(files);
  // On disk the file is model.gguf; its name comes from the repo's file name instead.
  const fromRepo = source ? path.posix.basename(source.file).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '') : null;
  const name = facts.name === 'model' && fromRepo ? fromRepo : facts.name;
  const model = newEntry(
    files,
    'downloaded',
    { ...facts, name, publisher: facts.publisher ?? source?.repo.split('/')[0] ?? null },
    { id, source, sha256 },
  );
  await addAndAnnounce(library, model, stamps);
  return model;
}

/**
 * Registers a finished copy that a crash kept out of the index (see
 * leftovers.ts); throws, registering nothing, if its files fail the check.
 */
export function addRecovered(library: LibraryContext, id: string, files: string[]): Promise<ModelEntry> {
  return library.exclusive(async () => {
    const stamps = await stampAll(files);
    const facts = await inspectModel(files);
    const model = newEntry(files, 'copied', { ...facts, name: facts.name === 'model' ? 'Recovered model' : facts.name }, { id });
    await library.state.add(model, stamps);
    await library.saveChange();
    return model;
  });
}
