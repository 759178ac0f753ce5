/** The library in memory (its entries, folders and file stamps), and what its parts are given to change it with. */
import path from 'node:path';
import type { LibrarySnapshot, ModelEntry } from '../../shared/library';
import type { EventBus } from '../platform/events';
import type { NoticeBoard } from '../platform/notices';
import { fileIdentity, type FileStamp } from './file-identity';
import type { StoredFolder, StoredLibrary } from './library-index';
import { stampAll } from './model-entry';
import type { ensureSpace, writeVerified } from './model-files';

export interface ModelLibraryOptions {
  dataDir: string;
  /** Where downloads and copies go (default <dataDir>/models). */
  modelsDir: () => string;
  events: EventBus;
  notices: NoticeBoard;
  log: (line: string) => void;
  /** Watch model folders for changes (off in some tests). */
  watchFolders?: boolean;
}

export class LibraryState {
  models: ModelEntry[] = [];
  folders: StoredFolder[] = [];
  stamps = new Map<string, FileStamp[]>();
  /** Stamps taken without a re-read (an index from an older version): saved at the end of open(). */
  stampsAdopted = false;
  readonly folderProblems = new Map<string, string>();

  load(stored: StoredLibrary): void {
    this.models = stored.models;
    this.folders = stored.folders;
    this.stamps = new Map(Object.entries(stored.stamps ?? {}));
  }

  /** What is saved (the stamps of the entries there are); adopted stamps are saved with it. */
  stored(): StoredLibrary {
    this.stampsAdopted = false;
    const stamps = Object.fromEntries(this.models.flatMap((m) => (this.stamps.has(m.id) ? [[m.id, this.stamps.get(m.id)!]] : [])));
    return { version: 1, models: this.models, folders: this.folders, stamps };
  }

  snapshot(): LibrarySnapshot {
    const models = [...this.models].sort((a, b) => b.addedAt.localeCompare(a.addedAt));
    const unique = new Map<string, number>();
    for (const m of models) for (const f of m.files) unique.set(f, m.sizeBytes / m.files.length);
    return {
      models,
      folders: this.folders.map((f) => ({
        id: f.id,
        path: f.path,
        label: path.basename(f.path),
        modelCount: this.models.filter((m) => m.folderId === f.id).length,
        problem: this.folderProblems.get(f.id) ?? null,
      })),
      // A model's projector is part of what it takes on disk.
      totalBytes: models.filter((m) => !m.duplicateOf).reduce((s, m) => s + m.sizeBytes + (m.projector?.sizeBytes ?? 0), 0),
      ownedBytes: models.filter((m) => m.owned).reduce((s, m) => s + m.sizeBytes + (m.projector?.sizeBytes ?? 0), 0),
    };
  }

  get(id: string): ModelEntry | undefined {
    return this.models.find((m) => m.id === id);
  }

  /** Adds an entry with the stamps its files had before their headers were read. */
  async add(model: ModelEntry, stamps: FileStamp[] | null): Promise<void> {
    this.models.push(model);
    this.stamps.set(model.id, stamps ?? (await stampAll(model.files)) ?? []);
  }

  forget(model: ModelEntry): void {
    this.models = this.models.filter((m) => m !== model);
    this.stamps.delete(model.id);
    for (const m of this.models) if (m.duplicateOf === model.id) m.duplicateOf = null;
  }

  /** The entry that has `file` however it is spelled (links, `..`, a hard link), if any. */
  async entryFor(file: string, among = this.models): Promise<ModelEntry | undefined> {
    const key = await fileIdentity(file);
    for (const m of among) {
      if (m.files[0] === file) return m;
      if (key !== null && (await fileIdentity(m.files[0]!)) === key) return m;
    }
    return undefined;
  }
}

/** What the parts of the library (imports, folders, checks) work through; the ModelLibrary gives it. */
export interface LibraryContext {
  readonly state: LibraryState;
  readonly options: ModelLibraryOptions;
  /** Changes to the entries run one at a time, so two paths to one file cannot both add it. */
  exclusive<T>(task: () => Promise<T>): Promise<T>;
  /** Announces and saves a change. */
  changed(): Promise<void>;
  /** After entries changed: duplicates marked again, the change announced and saved, new files hashed if needed. */
  saveChange(): Promise<void>;
  ensureSpace: typeof ensureSpace;
  writeVerified: typeof writeVerified;
}
