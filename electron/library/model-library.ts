import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs, watch, type FSWatcher } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RpcError } from '../../shared/errors';
import { formatGb } from '../../shared/format';
import type { FolderSuggestion, ImportResult, LibrarySnapshot, ModelEntry, ModelFolder, ModelOrigin } from '../../shared/library';
import { SerialFileWriter } from '../platform/atomic-file';
import type { EventBus } from '../platform/events';
import type { NoticeBoard } from '../platform/notices';
import { openFileSource } from '../formats/file-source';
import { fileIdentity, sameStamps, stampFile, type FileStamp } from './file-identity';
import { findGgufFiles } from './find-gguf-files';
import { GgufError, modelFacts, readGgufHeader, type GgufHeader } from '../formats/gguf-header';
import { checkModelTensors } from '../formats/gguf-tensors';
import { NotRegularFileError, notRegularFile, openRegularFile } from '../platform/regular-file';
import { parseSplitName, shardName, shardPaths } from '../formats/gguf-split';

interface StoredFolder {
  id: string;
  path: string;
  /** Files the user removed from the library; a rescan leaves them out. */
  ignored: string[];
}

interface StoredLibrary {
  version: 1;
  models: ModelEntry[];
  folders: StoredFolder[];
  /** By model id: what its files looked like when their headers were last read. */
  stamps?: Record<string, FileStamp[]>;
}

/** How a model's files compare with what the library read from them. */
type Freshness = { state: 'same' } | { state: 'changed' } | { state: 'gone'; file: string } | { state: 'unusable'; reason: string };

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

export function newId(): string {
  return randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').toLowerCase();
}

/**
 * Reads and checks the header of every shard, then the metadata against the
 * tensors of all of them; the facts come from the first.
 */
export async function inspectModel(
  files: string[],
): Promise<Omit<ModelEntry, 'id' | 'files' | 'origin' | 'owned' | 'folderId' | 'source' | 'sha256' | 'duplicateOf' | 'addedAt'>> {
  const headers: GgufHeader[] = [];
  let size = 0;
  let facts: ReturnType<typeof modelFacts> | undefined;
  let publisher: string | null = null;
  let parameterCount = 0;
  for (const file of files) {
    let source;
    try {
      source = await openFileSource(file);
    } catch (error) {
      if (error instanceof NotRegularFileError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new GgufError(
        code === 'ENOENT'
          ? `${path.basename(file)} is missing`
          : `${path.basename(file)} cannot be read (${code ?? (error as Error).message})`,
      );
    }
    try {
      const header = await readGgufHeader(source);
      headers.push(header);
      size += source.size;
      const shardFacts = modelFacts(header);
      parameterCount += shardFacts.parameterCount;
      if (!facts) {
        facts = shardFacts;
        const org = header.metadata.get('general.organization') ?? header.metadata.get('general.author');
        publisher = typeof org === 'string' ? org : null;
      }
    } finally {
      await source.close();
    }
  }
  if (!facts) throw new GgufError('no files');
  checkModelTensors(headers);
  const first = files[0]!;
  const fileName = path.basename(first).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '');
  return {
    name: facts.name && facts.name !== facts.architecture ? facts.name : fileName,
    publisher,
    architecture: facts.architecture,
    parameterCount,
    quantization:
      facts.quantization ?? /(?:^|[-_.])((?:I?Q\d_[A-Z0-9_]+)|F16|BF16|F32)(?:$|[-_.])/i.exec(fileName)?.[1]?.toUpperCase() ?? null,
    sizeBytes: size,
    contextLength: facts.contextLength,
    hasChatTemplate: facts.hasChatTemplate,
    license: facts.license,
    baseModel: facts.baseModel,
  };
}

/** A Hugging Face cache path (…/models--org--name/snapshots/<rev>/file) names its repo. */
function hubCacheSource(file: string): ModelEntry['source'] {
  const match = /[/\\]models--([^/\\]+?)--([^/\\]+)[/\\]snapshots[/\\]([0-9a-f]{7,64})[/\\](.+)$/i.exec(file);
  if (!match) return null;
  return { repo: `${match[1]}/${match[2]}`, revision: match[3]!, file: match[4]!.split(path.sep).join('/') };
}

class HashingTransform extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    this.push(chunk);
    callback();
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await openRegularFile(file);
  for await (const chunk of handle.createReadStream({ highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Stamps every file, or null if one cannot be stamped (the header check then says why). */
async function stampAll(files: string[]): Promise<FileStamp[] | null> {
  try {
    const stamps: FileStamp[] = [];
    for (const file of files) stamps.push(await stampFile(file));
    return stamps;
  } catch {
    return null;
  }
}

export class ModelLibrary {
  private models: ModelEntry[] = [];
  private folders: StoredFolder[] = [];
  private stamps = new Map<string, FileStamp[]>();
  /** Stamps taken without a re-read (an index from an older version): saved at the end of open(). */
  private stampsAdopted = false;
  private folderProblems = new Map<string, string>();
  private readonly writer: SerialFileWriter;
  private readonly watchers = new Map<string, FSWatcher>();
  /** On the folders of the files of copies, downloads and references, by folder. */
  private readonly fileWatchers = new Map<string, FSWatcher>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private hashing: Promise<void> = Promise.resolve();
  /** Changes to the entries (imports, rescans, checks) run one at a time, so two paths to one file cannot both add it. */
  private turn: Promise<unknown> = Promise.resolve();
  private closed = false;
  private revision = 0;

  constructor(private readonly options: ModelLibraryOptions) {
    this.writer = new SerialFileWriter(path.join(options.dataDir, 'library.json'));
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.turn.then(task);
    this.turn = run.catch(() => undefined);
    return run;
  }

  async open(): Promise<void> {
    const file = this.writer.file;
    try {
      const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as StoredLibrary;
      if (parsed.version !== 1 || !Array.isArray(parsed.models) || !Array.isArray(parsed.folders)) throw new Error('unknown layout');
      this.models = parsed.models;
      this.folders = parsed.folders;
      this.stamps = new Map(Object.entries(parsed.stamps ?? {}));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        const kept = `${file}.corrupt-${Date.now()}`;
        await fs.rename(file, kept).catch(() => undefined);
        this.options.notices.add(
          'warning',
          `The model library index was unreadable and was rebuilt; the old one was kept as ${path.basename(kept)}. Your model files were not touched.`,
        );
      }
    }
    await this.exclusive(async () => {
      // Copies, downloads and references: forgotten when their files are gone (deleted by hand), re-read when
      // they changed. Folder entries: by the rescan.
      const outcomes = await this.recheck(this.models.filter((m) => m.origin !== 'folder'));
      const dropped = await this.dropSameFileEntries();
      if (dropped || [...outcomes.values()].some((o) => o.state !== 'same')) await this.saveChange();
      for (const folder of this.folders) await this.rescanNow(folder.id);
      if (this.stampsAdopted) await this.persist();
    });
    for (const folder of this.folders) this.watchFolder(folder);
    this.syncFileWatchers();
    this.scheduleHashing();
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
      totalBytes: models.filter((m) => !m.duplicateOf).reduce((s, m) => s + m.sizeBytes, 0),
      ownedBytes: models.filter((m) => m.owned).reduce((s, m) => s + m.sizeBytes, 0),
    };
  }

  modelsDirectory(): string {
    return this.options.modelsDir();
  }

  get(id: string): ModelEntry | undefined {
    return this.models.find((m) => m.id === id);
  }

  private changed(): Promise<void> {
    this.revision += 1;
    this.options.events.emit('onLibraryChanged', { revision: this.revision });
    this.syncFileWatchers();
    return this.persist();
  }

  /** After entries changed: duplicates marked again, the change announced and saved, new files hashed if needed. */
  private async saveChange(): Promise<void> {
    this.markDuplicates();
    await this.changed();
    this.scheduleHashing();
  }

  private persist(): Promise<void> {
    this.stampsAdopted = false;
    const stamps = Object.fromEntries(this.models.flatMap((m) => (this.stamps.has(m.id) ? [[m.id, this.stamps.get(m.id)!]] : [])));
    const stored: StoredLibrary = { version: 1, models: this.models, folders: this.folders, stamps };
    return this.writer.write(`${JSON.stringify(stored)}\n`);
  }

  private entry(
    files: string[],
    origin: ModelOrigin,
    facts: Awaited<ReturnType<typeof inspectModel>>,
    extra: Partial<ModelEntry> = {},
  ): ModelEntry {
    return {
      id: newId(),
      ...facts,
      files,
      origin,
      owned: origin === 'downloaded' || origin === 'copied',
      folderId: null,
      source: null,
      sha256: null,
      duplicateOf: null,
      addedAt: new Date().toISOString(),
      ...extra,
    };
  }

  /** Adds an entry with the stamps its files had before their headers were read. */
  private async add(model: ModelEntry, stamps: FileStamp[] | null): Promise<void> {
    this.models.push(model);
    this.stamps.set(model.id, stamps ?? (await stampAll(model.files)) ?? []);
  }

  private forget(model: ModelEntry): void {
    this.models = this.models.filter((m) => m !== model);
    this.stamps.delete(model.id);
    for (const m of this.models) if (m.duplicateOf === model.id) m.duplicateOf = null;
  }

  /** The entry that has `file` however it is spelled (links, `..`, a hard link), if any. */
  private async entryFor(file: string, among = this.models): Promise<ModelEntry | undefined> {
    const key = await fileIdentity(file);
    for (const m of among) {
      if (m.files[0] === file) return m;
      if (key !== null && (await fileIdentity(m.files[0]!)) === key) return m;
    }
    return undefined;
  }

  /** Imports files or folders: referenced where they are (default), or copied into the library. */
  async importPaths(
    paths: string[],
    mode: 'reference' | 'copy',
    onProgress?: (file: string, bytes: number, total: number) => void,
  ): Promise<ImportResult[]> {
    const results: ImportResult[] = [];
    const seen = new Set<string>();
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
        results.push(await this.importOne(shards, stat.isDirectory() ? file : given, mode, onProgress));
      }
    }
    return results;
  }

  private async importOne(
    shards: string[],
    given: string,
    mode: 'reference' | 'copy',
    onProgress?: (file: string, bytes: number, total: number) => void,
  ): Promise<ImportResult> {
    if (!/\.gguf$/i.test(shards[0]!)) return { path: given, ok: false, error: 'Only .gguf files can be imported.' };
    if (mode === 'reference') return this.exclusive(() => this.reference(shards, given));
    let facts;
    try {
      facts = await inspectModel(shards);
    } catch (error) {
      return { path: given, ok: false, error: importError(error) };
    }
    try {
      const id = newId();
      const target = path.join(this.options.modelsDir(), id);
      await this.ensureSpace(this.options.modelsDir(), facts.sizeBytes);
      await fs.mkdir(target, { recursive: true });
      const copies: string[] = [];
      let sha256: string | null = null;
      try {
        for (let i = 0; i < shards.length; i += 1) {
          const name = shards.length > 1 ? shardName('model', i + 1, shards.length) : 'model.gguf';
          const input = (await openRegularFile(shards[i]!)).createReadStream();
          const result = await this.writeVerified(input, path.join(target, name), (bytes) => onProgress?.(given, bytes, facts.sizeBytes));
          if (shards.length === 1) sha256 = result.sha256;
          copies.push(path.join(target, name));
        }
      } catch (error) {
        await fs.rm(target, { recursive: true, force: true });
        throw error;
      }
      const model = this.entry(copies, 'copied', facts, { id, sha256 });
      await this.exclusive(async () => {
        await this.add(model, null);
        this.markDuplicates();
        await this.changed();
      });
      return { path: given, ok: true, model };
    } catch (error) {
      return { path: given, ok: false, error: (error as Error).message };
    }
  }

  private async reference(shards: string[], given: string): Promise<ImportResult> {
    const known = await this.entryFor(shards[0]!);
    if (known) return { path: given, ok: true, model: known };
    const stamps = await stampAll(shards);
    let facts;
    try {
      facts = await inspectModel(shards);
    } catch (error) {
      return { path: given, ok: false, error: importError(error) };
    }
    const model = this.entry(shards, 'referenced', facts, { source: hubCacheSource(shards[0]!) });
    await this.add(model, stamps);
    await this.saveChange();
    return { path: given, ok: true, model };
  }

  /**
   * Streams bytes to a partial file beside `final` while hashing them, syncs,
   * checks the GGUF header of what was written, then renames into place. On
   * any failure the partial file is removed and nothing is registered. The
   * partial's name carries this process's id, so that after a crash the next
   * start can tell it from one that another process is still writing.
   */
  async writeVerified(
    input: Readable,
    final: string,
    onBytes?: (bytes: number) => void,
    expected?: { sha256?: string; size?: number },
  ): Promise<{ sha256: string; size: number }> {
    const partial = `${final}.${process.pid}.partial`;
    const hashing = new HashingTransform(onBytes);
    try {
      const out = createWriteStream(partial, { mode: 0o644 });
      await pipeline(input, hashing, out);
      const handle = await fs.open(partial, 'r+');
      await handle.sync();
      await handle.close();
      const sha256 = hashing.hash.digest('hex');
      if (expected?.size !== undefined && hashing.bytes !== expected.size)
        throw new Error(`Expected ${expected.size} bytes but got ${hashing.bytes}.`);
      if (expected?.sha256 && expected.sha256 !== sha256)
        throw new Error(`The file did not verify: sha256 ${sha256} instead of ${expected.sha256}.`);
      const source = await openFileSource(partial);
      try {
        await readGgufHeader(source);
      } catch (error) {
        throw new Error(error instanceof GgufError ? `Not a usable GGUF model: ${error.message}` : (error as Error).message, {
          cause: error,
        });
      } finally {
        await source.close();
      }
      await fs.rename(partial, final);
      return { sha256, size: hashing.bytes };
    } catch (error) {
      await fs.rm(partial, { force: true });
      throw error;
    }
  }

  /** An upload from the browser (the headless UI cannot give a path): stored as a copy. */
  async importStream(fileName: string, input: Readable, onBytes?: (bytes: number) => void): Promise<ModelEntry> {
    if (!/\.gguf$/i.test(fileName)) throw new RpcError('invalid_model', 'Only .gguf files can be imported.');
    const id = newId();
    const target = path.join(this.options.modelsDir(), id);
    await fs.mkdir(target, { recursive: true });
    const final = path.join(target, 'model.gguf');
    try {
      const { sha256 } = await this.writeVerified(input, final, onBytes);
      const stamps = await stampAll([final]);
      const facts = await inspectModel([final]);
      const display = path.basename(fileName).replace(/\.gguf$/i, '');
      const model = this.entry([final], 'copied', { ...facts, name: facts.name === 'model' ? display : facts.name }, { id, sha256 });
      await this.exclusive(async () => {
        await this.add(model, stamps);
        this.markDuplicates();
        await this.changed();
      });
      return model;
    } catch (error) {
      await fs.rm(target, { recursive: true, force: true });
      throw new RpcError('invalid_model', (error as Error).message);
    }
  }

  /** Registers files a download has verified and put in place. */
  async addDownloaded(files: string[], source: ModelEntry['source'], sha256: string | null, id: string): Promise<ModelEntry> {
    const stamps = await stampAll(files);
    const facts = await inspectModel(files);
    // On disk the file is model.gguf; its name comes from the repo's file name instead.
    const fromRepo = source ? path.posix.basename(source.file).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '') : null;
    const name = facts.name === 'model' && fromRepo ? fromRepo : facts.name;
    const model = this.entry(
      files,
      'downloaded',
      { ...facts, name, publisher: facts.publisher ?? source?.repo.split('/')[0] ?? null },
      { id, source, sha256 },
    );
    await this.exclusive(async () => {
      await this.add(model, stamps);
      this.markDuplicates();
      await this.changed();
    });
    return model;
  }

  /**
   * Registers a finished copy that a crash kept out of the index (see
   * leftovers.ts); throws, registering nothing, if its files fail the check.
   */
  async addRecovered(id: string, files: string[]): Promise<ModelEntry> {
    return this.exclusive(async () => {
      const stamps = await stampAll(files);
      const facts = await inspectModel(files);
      const model = this.entry(files, 'copied', { ...facts, name: facts.name === 'model' ? 'Recovered model' : facts.name }, { id });
      await this.add(model, stamps);
      await this.saveChange();
      return model;
    });
  }

  async ensureSpace(dir: string, bytes: number): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
    const stats = await fs.statfs(dir);
    const free = stats.bavail * stats.bsize;
    // Keep a margin so that the disk is never filled to the last byte.
    const margin = 256 * 1024 * 1024;
    if (bytes + margin > free) {
      throw new RpcError('conflict', `Not enough disk space in ${dir}: ${formatGb(bytes, 2)} needed, ${formatGb(free, 2)} free.`);
    }
  }

  /** Deletes files the app downloaded or copied; a model referenced in place is only forgotten. */
  async remove(id: string): Promise<{ deletedFiles: string[] }> {
    return this.exclusive(async () => {
      const model = this.get(id);
      if (!model) throw new RpcError('not_found', 'No such model in the library.');
      const deletedFiles: string[] = [];
      if (model.owned) {
        // Not watched while it is deleted (Windows may refuse to remove a watched folder).
        this.fileWatchers.get(path.dirname(model.files[0]!))?.close();
        this.fileWatchers.delete(path.dirname(model.files[0]!));
        const root = path.resolve(this.options.modelsDir());
        for (const file of model.files) {
          // Only ever inside the models folder, whatever the index says.
          if (!path.resolve(file).startsWith(root + path.sep)) continue;
          await fs.rm(file, { force: true });
          deletedFiles.push(file);
        }
        const dir = path.dirname(model.files[0]!);
        if (path.resolve(dir).startsWith(root + path.sep)) await fs.rmdir(dir).catch(() => undefined);
      }
      if (model.folderId) {
        const folder = this.folders.find((f) => f.id === model.folderId);
        folder?.ignored.push(model.files[0]!);
      }
      this.forget(model);
      this.markDuplicates();
      await this.changed();
      return { deletedFiles };
    });
  }

  // ---- keeping entries true to their files ----

  /** Compares a model's files with their stamps; re-reads the headers of changed ones and updates the entry. */
  private async verify(model: ModelEntry): Promise<Freshness> {
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
    const before = this.stamps.get(model.id);
    // An entry from an older index has no stamps: adopted as they are unless the size says otherwise.
    if (before ? sameStamps(before, now) : now.reduce((sum, s) => sum + s.size, 0) === model.sizeBytes) {
      if (!before) {
        this.stamps.set(model.id, now);
        this.stampsAdopted = true;
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
    for (const m of this.models) if (m.duplicateOf === model.id) m.duplicateOf = null;
    this.stamps.set(model.id, now);
    return { state: 'changed' };
  }

  /**
   * Checks entries against their files: a gone one is forgotten, an unusable
   * one forgotten with a notice (unless `announce` is false: a load reports it
   * itself), a changed one re-read. The caller saves the change.
   */
  private async recheck(models: ModelEntry[], announce = true): Promise<Map<ModelEntry, Freshness>> {
    const outcomes = new Map<ModelEntry, Freshness>();
    for (const model of models) {
      if (!this.models.includes(model)) continue;
      const outcome = await this.verify(model);
      outcomes.set(model, outcome);
      if (outcome.state === 'gone') {
        this.forget(model);
        this.options.log(`${outcome.file} is gone; ${model.name} left the library`);
      } else if (outcome.state === 'unusable') {
        this.forget(model);
        if (announce && model.origin !== 'folder')
          this.options.notices.add('warning', `${model.name} was removed from the library: ${outcome.reason}.`);
        else this.options.log(`${model.name} left the library: ${outcome.reason}`);
      } else if (outcome.state === 'changed') {
        this.options.log(`${model.files[0]} changed on disk; re-read it`);
      }
    }
    return outcomes;
  }

  /** Before a load: a deleted file is reported and its entry removed; a changed one is re-read first. */
  async checkBeforeLoad(id: string): Promise<ModelEntry> {
    return this.exclusive(async () => {
      const model = this.get(id);
      if (!model) throw new RpcError('not_found', 'No such model in the library.');
      const outcome = (await this.recheck([model], false)).get(model);
      if (outcome && outcome.state !== 'same') await this.saveChange();
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
  private async dropSameFileEntries(): Promise<boolean> {
    const byFile = new Set<string>();
    // What the user added (copies, downloads, references) before folder entries, then the oldest.
    const order = [...this.models].sort(
      (a, b) => Number(a.origin === 'folder') - Number(b.origin === 'folder') || a.addedAt.localeCompare(b.addedAt),
    );
    let dropped = false;
    for (const model of order) {
      const key = await fileIdentity(model.files[0]!);
      if (key === null) continue;
      if (byFile.has(key)) {
        this.forget(model);
        dropped = true;
      } else byFile.add(key);
    }
    return dropped;
  }

  /** Watches the folders of the files that copies, downloads and references use, so their entries follow them. */
  private syncFileWatchers(): void {
    if (this.options.watchFolders === false || this.closed) return;
    const dirs = new Set(this.models.filter((m) => m.origin !== 'folder').flatMap((m) => m.files.map((f) => path.dirname(f))));
    for (const [dir, watcher] of this.fileWatchers) {
      if (dirs.has(dir)) continue;
      watcher.close();
      this.fileWatchers.delete(dir);
    }
    for (const dir of dirs) {
      if (this.fileWatchers.has(dir)) continue;
      try {
        const watcher = watch(dir, (_event, name) => {
          const watched = (m: ModelEntry) =>
            m.origin !== 'folder' && m.files.some((f) => path.dirname(f) === dir && (!name || path.basename(f) === String(name)));
          if (this.models.some(watched)) this.later(`dir:${dir}`, 300, () => this.exclusive(() => this.recheckIn(dir)));
        });
        watcher.on('error', () => {
          // The folder itself went away: its files with it.
          watcher.close();
          this.fileWatchers.delete(dir);
          this.later(`dir:${dir}`, 300, () => this.exclusive(() => this.recheckIn(dir)));
        });
        this.fileWatchers.set(dir, watcher);
      } catch (error) {
        this.options.log(`cannot watch ${dir}: ${(error as Error).message}`);
      }
    }
  }

  private async recheckIn(dir: string): Promise<void> {
    const outcomes = await this.recheck(this.models.filter((m) => m.origin !== 'folder' && m.files.some((f) => path.dirname(f) === dir)));
    if ([...outcomes.values()].some((o) => o.state !== 'same')) await this.saveChange();
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

  // ---- folders indexed in place ----

  async addFolder(dir: string): Promise<ModelFolder> {
    if (!path.isAbsolute(dir)) throw new RpcError('invalid_input', 'The folder path must be absolute.');
    const stat = await fs.stat(dir).catch(() => undefined);
    if (!stat?.isDirectory()) throw new RpcError('invalid_input', `Not a folder: ${dir}`);
    const resolved = path.resolve(dir);
    const folder = await this.exclusive(async () => {
      let found = this.folders.find((f) => f.path === resolved);
      if (!found) {
        found = { id: newId(), path: resolved, ignored: [] };
        this.folders.push(found);
        await this.rescanNow(found.id);
        await this.changed();
      }
      return found;
    });
    this.watchFolder(folder);
    return this.snapshot().folders.find((f) => f.id === folder.id)!;
  }

  async removeFolder(id: string): Promise<void> {
    this.watchers.get(id)?.close();
    this.watchers.delete(id);
    await this.exclusive(async () => {
      this.folders = this.folders.filter((f) => f.id !== id);
      for (const model of this.models.filter((m) => m.folderId === id)) this.forget(model);
      await this.changed();
      // A file that another folder holds too was listed under this one only.
      for (const folder of this.folders) await this.rescanNow(folder.id);
    });
  }

  /** Brings a folder's entries in line with what is on disk. */
  rescan(folderId: string): Promise<void> {
    return this.exclusive(() => this.rescanNow(folderId));
  }

  private async rescanNow(folderId: string): Promise<void> {
    const folder = this.folders.find((f) => f.id === folderId);
    if (!folder) return;
    let files: string[];
    try {
      files = await findGgufFiles(folder.path);
      this.folderProblems.delete(folderId);
    } catch (error) {
      this.folderProblems.set(folderId, `Cannot read the folder: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return;
    }
    const groups = new Map<string, string[]>();
    for (const file of files) {
      const shards = shardPaths(file);
      if (!shards.every((s) => files.includes(s))) continue; // an incomplete split model
      groups.set(shards[0]!, shards);
    }
    let changed = false;
    for (const model of this.models.filter((m) => m.folderId === folderId && !groups.has(m.files[0]!))) {
      this.forget(model);
      changed = true;
    }
    // Entries still there: re-read what changed.
    const outcomes = await this.recheck(this.models.filter((m) => m.folderId === folderId));
    if ([...outcomes.values()].some((o) => o.state !== 'same')) changed = true;
    // A file that another entry has (a reference, a copy, another folder) stays listed there only.
    const elsewhere = new Set(await Promise.all(this.models.filter((m) => m.folderId !== folderId).map((m) => fileIdentity(m.files[0]!))));
    for (const [first, shards] of groups) {
      if (folder.ignored.includes(first)) continue;
      if (this.models.some((m) => m.folderId === folderId && m.files[0] === first)) continue;
      const key = await fileIdentity(first);
      if (key !== null && elsewhere.has(key)) continue;
      try {
        const stamps = await stampAll(shards);
        const facts = await inspectModel(shards);
        await this.add(this.entry(shards, 'folder', facts, { folderId, source: hubCacheSource(first) }), stamps);
        changed = true;
      } catch (error) {
        this.options.log(`skipped ${first}: ${(error as Error).message}`);
      }
    }
    if (changed) await this.saveChange();
  }

  private watchFolder(folder: StoredFolder): void {
    if (this.options.watchFolders === false || this.watchers.has(folder.id) || this.closed) return;
    try {
      const watcher = watch(folder.path, { recursive: true }, (_event, name) => {
        if (name && !/\.gguf$/i.test(String(name))) return;
        this.later(`folder:${folder.id}`, 500, () => this.rescan(folder.id));
      });
      watcher.on('error', () => this.watchers.delete(folder.id));
      this.watchers.set(folder.id, watcher);
    } catch (error) {
      this.options.log(`cannot watch ${folder.path}: ${(error as Error).message}`);
    }
  }

  /** Well-known model folders that exist on this machine and are not added yet. */
  suggestions(home = os.homedir(), env = process.env): FolderSuggestion[] {
    const candidates: FolderSuggestion[] = [
      { path: path.join(home, '.lmstudio', 'models'), label: 'LM Studio models' },
      { path: path.join(home, '.cache', 'lm-studio', 'models'), label: 'LM Studio models (older versions)' },
      { path: path.join(env.HF_HOME ?? path.join(home, '.cache', 'huggingface'), 'hub'), label: 'Hugging Face cache' },
      { path: path.join(home, 'models'), label: 'models in your home folder' },
    ];
    return candidates.filter((c) => existsSync(c.path) && !this.folders.some((f) => f.path === path.resolve(c.path)));
  }

  // ---- duplicates: same size first, then sha256, hashed lazily in the background ----

  private markDuplicates(): void {
    const bySha = new Map<string, ModelEntry>();
    for (const m of [...this.models].sort((a, b) => a.addedAt.localeCompare(b.addedAt))) {
      m.duplicateOf = null;
      if (!m.sha256) continue;
      const first = bySha.get(m.sha256);
      if (first) m.duplicateOf = first.id;
      else bySha.set(m.sha256, m);
    }
  }

  private scheduleHashing(): void {
    this.hashing = this.hashing.then(async () => {
      const sizes = new Map<number, number>();
      for (const m of this.models) if (m.files.length === 1) sizes.set(m.sizeBytes, (sizes.get(m.sizeBytes) ?? 0) + 1);
      const pending = this.models.filter((m) => !m.sha256 && m.files.length === 1 && (sizes.get(m.sizeBytes) ?? 0) > 1);
      let hashed = false;
      for (const model of pending) {
        if (this.closed) return;
        const stamps = this.stamps.get(model.id);
        try {
          const sha256 = await sha256File(model.files[0]!);
          // Re-read or forgotten meanwhile: this hash is of bytes the entry no longer describes.
          if (this.stamps.get(model.id) !== stamps || !this.models.includes(model)) continue;
          model.sha256 = sha256;
          hashed = true;
        } catch (error) {
          this.options.log(`could not hash ${model.files[0]}: ${(error as Error).message}`);
        }
      }
      if (hashed && !this.closed) {
        this.markDuplicates();
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
    for (const watcher of this.watchers.values()) watcher.close();
    for (const watcher of this.fileWatchers.values()) watcher.close();
    for (const timer of this.timers.values()) clearTimeout(timer);
    await this.turn.catch(() => undefined);
    await this.hashing.catch(() => undefined);
    await this.writer.flush();
  }
}

function importError(error: unknown): string {
  return error instanceof GgufError ? `Not a usable GGUF model: ${error.message}` : (error as Error).message;
}

export { findGgufFiles, parseSplitName };
