/** Collections' folders: listed (bounded) and watched, so that changed files are indexed again and deleted ones removed. */
import { watch, type FSWatcher } from 'node:fs';
import { opendir } from 'node:fs/promises';
import path from 'node:path';
import { formatOf } from './parse';

/** Folders never walked: hidden ones, dependencies, build output and version control. */
const SKIPPED = new Set(['node_modules', '.git', '.hg', '.svn', '__pycache__', 'dist', 'build', 'target', '.venv', 'venv']);

/**
 * The documents under `folder` (files of a format Freehold reads), breadth
 * first, at most `limit`; `truncated` says some were left out. Entries are
 * read as a stream, so a folder of 50,000 files is never held whole.
 */
export async function listFolderFiles(
  folder: string,
  limit: number,
): Promise<{ files: string[]; truncated: boolean; unreadable: string[] }> {
  const files: string[] = [];
  /** Folders that could not be opened (a drive unplugged, no permission): what is under them is unknown, not gone. */
  const unreadable: string[] = [];
  const pending = [folder];
  while (pending.length) {
    const dir = pending.shift()!;
    let handle;
    try {
      handle = await opendir(dir);
    } catch {
      unreadable.push(dir);
      continue;
    }
    for await (const entry of handle) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) pending.push(full);
      } else if (entry.isFile() && formatOf(entry.name)) {
        // Leaving the loop closes the directory.
        if (files.length >= limit) return { files, truncated: true, unreadable };
        files.push(full);
      }
    }
  }
  return { files, truncated: false, unreadable };
}

export interface DocsWatchOptions {
  enabled: boolean;
  log: (line: string) => void;
  rescan: (collectionId: string) => Promise<void>;
}

export class DocsWatchers {
  private readonly watchers = new Map<string, FSWatcher[]>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private closed = false;

  constructor(private readonly options: DocsWatchOptions) {}

  watch(collectionId: string, folder: string): void {
    if (!this.options.enabled || this.closed) return;
    try {
      // Every change (a folder moved out or to the Trash is one event named after the folder), once they settle.
      const watcher = watch(folder, { recursive: true }, () => this.later(collectionId));
      watcher.on('error', () => undefined);
      this.watchers.set(collectionId, [...(this.watchers.get(collectionId) ?? []), watcher]);
    } catch (error) {
      this.options.log(`docs: cannot watch ${folder}: ${(error as Error).message}`);
    }
  }

  unwatch(collectionId: string): void {
    for (const watcher of this.watchers.get(collectionId) ?? []) watcher.close();
    this.watchers.delete(collectionId);
    clearTimeout(this.timers.get(collectionId));
    this.timers.delete(collectionId);
  }

  /** Changes come in bursts (an editor's save, a copy): one rescan after they settle. */
  private later(collectionId: string): void {
    clearTimeout(this.timers.get(collectionId));
    this.timers.set(
      collectionId,
      setTimeout(() => {
        this.timers.delete(collectionId);
        if (!this.closed)
          void this.options
            .rescan(collectionId)
            .catch((error: unknown) => this.options.log(`docs: rescan failed: ${(error as Error).message}`));
      }, 400),
    );
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.watchers.keys()]) this.unwatch(id);
  }
}
