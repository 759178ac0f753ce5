/** Folders indexed in place: their entries kept in line with what is on disk, and the well-known ones suggested. */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FolderSuggestion } from '../../shared/library';
import { shardPaths } from '../formats/gguf-split';
import { fileIdentity } from './file-identity';
import { findGgufFiles } from './find-gguf-files';
import { anyChanged, recheck } from './freshness';
import type { StoredFolder } from './library-index';
import type { LibraryContext } from './library-state';
import { attachFolderProjectors, isProjectorFile } from './projectors';
import { hubCacheSource, inspectModel, newEntry, stampAll } from './model-entry';

/** Brings a folder's entries in line with what is on disk (the caller holds the library's turn). */
export async function rescanFolder(library: LibraryContext, folderId: string): Promise<void> {
  const { state, options } = library;
  const folder = state.folders.find((f) => f.id === folderId);
  if (!folder) return;
  let files: string[];
  try {
    files = await findGgufFiles(folder.path);
    state.folderProblems.delete(folderId);
  } catch (error) {
    state.folderProblems.set(folderId, `Cannot read the folder: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    return;
  }
  const groups = new Map<string, string[]>();
  const projectorFiles: string[] = [];
  for (const file of files) {
    if (await isProjectorFile(file)) {
      projectorFiles.push(file);
      continue;
    }
    const shards = shardPaths(file);
    if (!shards.every((s) => files.includes(s))) continue; // an incomplete split model
    groups.set(shards[0]!, shards);
  }
  let changed = false;
  for (const model of state.models.filter((m) => m.folderId === folderId && !groups.has(m.files[0]!))) {
    state.forget(model);
    changed = true;
  }
  // Entries still there: re-read what changed.
  const outcomes = await recheck(
    library,
    state.models.filter((m) => m.folderId === folderId),
  );
  if (anyChanged(outcomes)) changed = true;
  // A file that another entry has (a reference, a copy, another folder) stays listed there only.
  const elsewhere = new Set(await Promise.all(state.models.filter((m) => m.folderId !== folderId).map((m) => fileIdentity(m.files[0]!))));
  for (const [first, shards] of groups) {
    if (folder.ignored.includes(first)) continue;
    if (state.models.some((m) => m.folderId === folderId && m.files[0] === first)) continue;
    const key = await fileIdentity(first);
    if (key !== null && elsewhere.has(key)) continue;
    try {
      const stamps = await stampAll(shards);
      const facts = await inspectModel(shards);
      await state.add(newEntry(shards, 'folder', facts, { folderId, source: hubCacheSource(first) }), stamps);
      changed = true;
    } catch (error) {
      options.log(`skipped ${first}: ${(error as Error).message}`);
    }
  }
  if (await attachFolderProjectors(library, folderId, projectorFiles)) changed = true;
  if (changed) await library.saveChange();
}

/** Well-known model folders that exist on this machine and are not among `folders` yet. */
export function folderSuggestions(folders: StoredFolder[], home = os.homedir(), env = process.env): FolderSuggestion[] {
  const candidates: FolderSuggestion[] = [
    { path: path.join(home, '.lmstudio', 'models'), label: 'LM Studio models' },
    { path: path.join(home, '.cache', 'lm-studio', 'models'), label: 'LM Studio models (older versions)' },
    { path: path.join(env.HF_HOME ?? path.join(home, '.cache', 'huggingface'), 'hub'), label: 'Hugging Face cache' },
    { path: path.join(home, 'models'), label: 'models in your home folder' },
  ];
  return candidates.filter((c) => existsSync(c.path) && !folders.some((f) => f.path === path.resolve(c.path)));
}
