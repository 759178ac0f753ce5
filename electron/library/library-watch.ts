/** Watching the disk: added folders for .gguf files coming and going, and the folders of the files the other entries use. */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { ModelEntry } from '../../shared/library';
import type { StoredFolder } from './library-index';

export interface LibraryWatchOptions {
  /** False: nothing is watched (some tests). */
  enabled: boolean;
  log: (line: string) => void;
  /** The library's entries as they are now. */
  models: () => ModelEntry[];
  /** Brings an added folder's entries in line with the disk. */
  rescan: (folderId: string) => Promise<void>;
  /** Rechecks the entries (not of added folders) that have files in `dir`. */
  recheckIn: (dir: string) => Promise<void>;
}

export class LibraryWatchers {
  /** On the added folders, by folder id. */
  private readonly folders = new Map<string, FSWatcher>();
  /** On the folders of the files of copies, downloads and references, by folder. */
  private readonly fileDirs = new Map<string, FSWatcher>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private closed = false;

  constructor(private readonly options: LibraryWatchOptions) {}

  watchFolder(folder: StoredFolder): void {
    if (!this.options.enabled || this.folders.has(folder.id) || this.closed) return;
    try {
      const watcher = watch(folder.path, { recursive: true }, (_event, name) => {
        if (name && !/\.gguf$/i.test(String(name))) return;
        this.later(`folder:${folder.id}`, 500, () => this.options.rescan(folder.id));
      });
      watcher.on('error', () => this.folders.delete(folder.id));
      this.folders.set(folder.id, watcher);
    } catch (error) {
      this.options.log(`cannot watch ${folder.path}: ${(error as Error).message}`);
    }
  }

  unwatchFolder(id: string): void {
    this.folders.get(id)?.close();
    this.folders.delete(id);
  }

  /** Watches the folders of the files that copies, downloads and references use, so their entries follow them. */
  syncFileDirs(): void {
    if (!this.options.enabled || this.closed) return;
    const models = this.options.models();
    const dirs = new Set(models.filter((m) => m.origin !== 'folder').flatMap((m) => m.files.map((f) => path.dirname(f))));
    for (const [dir, watcher] of this.fileDirs) {
      if (dirs.has(dir)) continue;
      watcher.close();
      this.fileDirs.delete(dir);
    }
    for (const dir of dirs) {
      if (this.fileDirs.has(dir)) continue;
      try {
        const watcher = watch(dir, (_event, name) => {
          const watched = (m: ModelEntry) =>
            m.origin !== 'folder' && m.files.some((f) => path.dirname(f) === dir && (!name || path.basename(f) === String(name)));
          if (this.options.models().some(watched)) this.later(`dir:${dir}`, 300, () => this.options.recheckIn(dir));
        });
        watcher.on('error', () => {
          // The folder itself went away: its files with it.
          watcher.close();
          this.fileDirs.delete(dir);
          this.later(`dir:${dir}`, 300, () => this.options.recheckIn(dir));
        });
        this.fileDirs.set(dir, watcher);
      } catch (error) {
        this.options.log(`cannot watch ${dir}: ${(error as Error).message}`);
      }
    }
  }

  /** Stops watching `dir` (Windows may refuse to remove a watched folder); the next sync watches it again if needed. */
  unwatchDir(dir: string): void {
    this.fileDirs.get(dir)?.close();
    this.fileDirs.delete(dir);
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.folders.values()) watcher.close();
    for (const watcher of this.fileDirs.values()) watcher.close();
    for (const timer of this.timers.values()) clearTimeout(timer);
  }

  /** Runs `task` once things have been quiet for `ms` (file events come in bursts). */
  private later(key: string, ms: number, task: () => Promise<void>): void {
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        if (this.closed) return;
        task().catch((error: unknown) => this.options.log(`library check failed: ${(error as Error).message}`));
      }, ms),
    );
  }
}
