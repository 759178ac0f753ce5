import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { RpcError } from '../../shared/errors';
import type { FolderSuggestion, ImportResult, LibrarySnapshot, ModelEntry, ModelFolder } from '../../shared/library';
import { hashSameSized, markDuplicates } from './duplicates';
import { anyChanged, checkBeforeLoad, dropSameFileEntries, recheck, recheckIn } from './freshness';
import { LibraryIndexFile } from './library-index';
import { LibraryState, type LibraryContext, type ModelLibraryOptions } from './library-state';
import { LibraryWatchers } from './library-watch';
import { newId } from './model-entry';
import { deleteOwnedFiles, ensureSpace, writeVerified } from './model-files';
import { folderSuggestions, rescanFolder } from './model-folders';
import { attachProjectorFile } from './projectors';
import { addDownloaded, addRecovered, importPaths, importStream, type ImportProgress } from './model-import';

export type { ModelLibraryOptions } from './library-state';
export { inspectModel, newId } from './model-entry';
export { sha256File } from './model-files';
export { findGgufFiles } from './find-gguf-files';
export { parseSplitName } from '../formats/gguf-split';

/**
 * The model library: the models on this machine (copies, downloads, references
 * and added folders), kept true to their files and saved in library.json. Its
 * parts live beside it (model-import, model-folders, freshness, duplicates,
 * library-watch, library-index); this class holds the state, runs changes one
 * at a time, and announces and saves them.
 */
export class ModelLibrary {
  private readonly state = new LibraryState();
  private readonly index: LibraryIndexFile;
  private readonly watchers: LibraryWatchers;
  /** What the parts of the library work through. */
  private readonly context: LibraryContext;
  private hashing: Promise<void> = Promise.resolve();
  /** Changes to the entries (imports, rescans, checks) run one at a time, so two paths to one file cannot both add it. */
  private turn: Promise<unknown> = Promise.resolve();
  private closed = false;
  private revision = 0;

  constructor(private readonly options: ModelLibraryOptions) {
    this.index = new LibraryIndexFile(options.dataDir);
    this.context = {
      state: this.state,
      options,
      exclusive: (task) => this.exclusive(task),
      changed: () => this.changed(),
      saveChange: () => this.saveChange(),
      // Through the methods, which a host or a test may wrap.
      ensureSpace: (dir, bytes) => this.ensureSpace(dir, bytes),
      writeVerified: (...args) => this.writeVerified(...args),
    };
    this.watchers = new LibraryWatchers({
      enabled: options.watchFolders !== false,
      log: options.log,
      models: () => this.state.models,
      rescan: (folderId) => this.rescan(folderId),
      recheckIn: (dir) => this.exclusive(() => recheckIn(this.context, dir)),
    });
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.turn.then(task);
    this.turn = run.catch(() => undefined);
    return run;
  }

  async open(): Promise<void> {
    const stored = await this.index.read(this.options.notices);
    if (stored) this.state.load(stored);
    await this.exclusive(async () => {
      // Copies, downloads and references: forgotten when their files are gone (deleted by hand), re-read when
      // they changed. Folder entries: by the rescan.
      const outcomes = await recheck(
        this.context,
        this.state.models.filter((m) => m.origin !== 'folder'),
      );
      const dropped = await dropSameFileEntries(this.state);
      if (dropped || anyChanged(outcomes)) await this.saveChange();
      for (const folder of this.state.folders) await rescanFolder(this.context, folder.id);
      if (this.state.stampsAdopted) await this.persist();
    });
    for (const folder of this.state.folders) this.watchers.watchFolder(folder);
    this.watchers.syncFileDirs();
    this.scheduleHashing();
  }

  snapshot(): LibrarySnapshot {
    return this.state.snapshot();
  }

  modelsDirectory(): string {
    return this.options.modelsDir();
  }

  get(id: string): ModelEntry | undefined {
    return this.state.get(id);
  }

  private changed(): Promise<void> {
    this.revision += 1;
    this.options.events.emit('onLibraryChanged', { revision: this.revision });
    this.watchers.syncFileDirs();
    return this.persist();
  }

  /** After entries changed: duplicates marked again, the change announced and saved, new files hashed if needed. */
  private async saveChange(): Promise<void> {
    markDuplicates(this.state.models);
    await this.changed();
    this.scheduleHashing();
  }

  private persist(): Promise<void> {
    return this.index.write(this.state.stored());
  }

  // ---- models coming in (model-import.ts) ----

  /** Imports files or folders: referenced where they are (default), or copied into the library. */
  importPaths(paths: string[], mode: 'reference' | 'copy', onProgress?: ImportProgress): Promise<ImportResult[]> {
    return importPaths(this.context, paths, mode, onProgress);
  }

  /** Writes a model file verified into place (see model-files.ts). */
  writeVerified(...args: Parameters<typeof writeVerified>): ReturnType<typeof writeVerified> {
    return writeVerified(...args);
  }

  /** An upload from the browser (the headless UI cannot give a path): stored as a copy. */
  importStream(
    fileName: string,
    input: Readable,
    onBytes?: (bytes: number) => void,
    options?: { projectors?: boolean },
  ): Promise<ModelEntry> {
    return importStream(this.context, fileName, input, onBytes, options);
  }

  /** Registers files a download has verified and put in place. */
  addDownloaded(files: string[], source: ModelEntry['source'], sha256: string | null, id: string): Promise<ModelEntry> {
    return addDownloaded(this.context, files, source, sha256, id);
  }

  /**
   * Registers a finished copy that a crash kept out of the index (see
   * leftovers.ts); throws, registering nothing, if its files fail the check.
   */
  addRecovered(id: string, files: string[]): Promise<ModelEntry> {
    return addRecovered(this.context, id, files);
  }

  /**
   * Attaches a projector (mmproj GGUF) to a model: checked against it, copied
   * beside it when `copy` and the model's files are the app's, else referenced.
   * Throws RpcError with the reason when it does not belong to the model.
   */
  attachProjector(modelId: string, file: string, options: { copy: boolean }): Promise<ModelEntry> {
    return this.exclusive(async () => {
      const model = this.state.get(modelId);
      if (!model) throw new RpcError('not_found', 'No such model in the library.');
      return attachProjectorFile(this.context, model, file, options.copy);
    });
  }

  /** Detaches a model's projector (deleting its file where it is the app's copy): the model runs text-only. */
  detachProjector(modelId: string): Promise<ModelEntry> {
    return this.exclusive(async () => {
      const model = this.state.get(modelId);
      if (!model) throw new RpcError('not_found', 'No such model in the library.');
      const file = model.projector?.file;
      model.projector = null;
      const root = path.resolve(this.options.modelsDir());
      if (file && model.owned && path.resolve(file).startsWith(root + path.sep)) await fs.rm(file, { force: true });
      await this.changed();
      return model;
    });
  }

  ensureSpace(dir: string, bytes: number): Promise<void> {
    return ensureSpace(dir, bytes);
  }

  /** Deletes files the app downloaded or copied; a model referenced in place is only forgotten. */
  async remove(id: string): Promise<{ deletedFiles: string[] }> {
    return this.exclusive(async () => {
      const model = this.state.get(id);
      if (!model) throw new RpcError('not_found', 'No such model in the library.');
      let deletedFiles: string[] = [];
      if (model.owned) {
        // Not watched while it is deleted (Windows may refuse to remove a watched folder).
        this.watchers.unwatchDir(path.dirname(model.files[0]!));
        deletedFiles = await deleteOwnedFiles(model, this.options.modelsDir());
      }
      if (model.folderId) {
        const folder = this.state.folders.find((f) => f.id === model.folderId);
        folder?.ignored.push(model.files[0]!);
      }
      this.state.forget(model);
      markDuplicates(this.state.models);
      await this.changed();
      return { deletedFiles };
    });
  }

  /** Before a load: a deleted file is reported and its entry removed; a changed one is re-read first (freshness.ts). */
  checkBeforeLoad(id: string): Promise<ModelEntry> {
    return checkBeforeLoad(this.context, id);
  }

  // ---- folders indexed in place (model-folders.ts) ----

  async addFolder(dir: string): Promise<ModelFolder> {
    if (!path.isAbsolute(dir)) throw new RpcError('invalid_input', 'The folder path must be absolute.');
    const stat = await fs.stat(dir).catch(() => undefined);
    if (!stat?.isDirectory()) throw new RpcError('invalid_input', `Not a folder: ${dir}`);
    const resolved = path.resolve(dir);
    const folder = await this.exclusive(async () => {
      let found = this.state.folders.find((f) => f.path === resolved);
      if (!found) {
        found = { id: newId(), path: resolved, ignored: [] };
        this.state.folders.push(found);
        await rescanFolder(this.context, found.id);
        await this.changed();
      }
      return found;
    });
    this.watchers.watchFolder(folder);
    return this.snapshot().folders.find((f) => f.id === folder.id)!;
  }

  async removeFolder(id: string): Promise<void> {
    this.watchers.unwatchFolder(id);
    await this.exclusive(async () => {
      this.state.folders = this.state.folders.filter((f) => f.id !== id);
      for (const model of this.state.models.filter((m) => m.folderId === id)) this.state.forget(model);
      await this.changed();
      // A file that another folder holds too was listed under this one only.
      for (const folder of this.state.folders) await rescanFolder(this.context, folder.id);
    });
  }

  /** Brings a folder's entries in line with what is on disk. */
  rescan(folderId: string): Promise<void> {
    return this.exclusive(() => rescanFolder(this.context, folderId));
  }

  /** Well-known model folders that exist on this machine and are not added yet. */
  suggestions(home?: string, env?: NodeJS.ProcessEnv): FolderSuggestion[] {
    return folderSuggestions(this.state.folders, home, env);
  }

  // ---- duplicates (duplicates.ts) ----

  private scheduleHashing(): void {
    this.hashing = this.hashing.then(async () => {
      const hashed = await hashSameSized(this.state, () => this.closed, this.options.log);
      if (hashed && !this.closed) {
        markDuplicates(this.state.models);
        await this.changed();
      }
    });
  }

  /** Resolves when background hashing has caught up (tests). */
  idle(): Promise<void> {
    return this.hashing;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.close();
    await this.turn.catch(() => undefined);
    await this.hashing.catch(() => undefined);
    await this.index.flush();
  }
}
