import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, promises as fs, watch, type FSWatcher } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RpcError } from '../../shared/errors';
import type { FolderSuggestion, ImportResult, LibrarySnapshot, ModelEntry, ModelFolder, ModelOrigin } from '../../shared/library';
import { SerialFileWriter } from '../services/atomic-file';
import type { EventBus } from '../services/events';
import type { NoticeBoard } from '../services/notices';
import { openFileSource } from './file-source';
import { GgufError, modelFacts, readGgufHeader, type GgufHeader } from './gguf-header';
import { checkModelTensors } from './gguf-tensors';
import { parseSplitName, shardName, shardPaths } from './split';

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
}

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
export async function inspectModel(files: string[]): Promise<Omit<ModelEntry, 'id' | 'files' | 'origin' | 'owned' | 'folderId' | 'source' | 'sha256' | 'duplicateOf' | 'addedAt'>> {
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
      const code = (error as NodeJS.ErrnoException).code;
      throw new GgufError(code === 'ENOENT' ? `${path.basename(file)} is missing` : `${path.basename(file)} cannot be read (${code ?? (error as Error).message})`);
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
    quantization: facts.quantization ?? /(?:^|[-_.])((?:I?Q\d_[A-Z0-9_]+)|F16|BF16|F32)(?:$|[-_.])/i.exec(fileName)?.[1]?.toUpperCase() ?? null,
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
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class ModelLibrary {
  private models: ModelEntry[] = [];
  private folders: StoredFolder[] = [];
  private folderProblems = new Map<string, string>();
  private readonly writer: SerialFileWriter;
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly rescanTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private hashing: Promise<void> = Promise.resolve();
  private closed = false;
  private revision = 0;

  constructor(private readonly options: ModelLibraryOptions) {
    this.writer = new SerialFileWriter(path.join(options.dataDir, 'library.json'));
  }

  async open(): Promise<void> {
    const file = this.writer.file;
    try {
      const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as StoredLibrary;
      if (parsed.version !== 1 || !Array.isArray(parsed.models) || !Array.isArray(parsed.folders)) throw new Error('unknown layout');
      this.models = parsed.models;
      this.folders = parsed.folders;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        const kept = `${file}.corrupt-${Date.now()}`;
        await fs.rename(file, kept).catch(() => undefined);
        this.options.notices.add('warning', `The model library index was unreadable and was rebuilt; the old one was kept as ${path.basename(kept)}. Your model files were not touched.`);
      }
    }
    // Forget copies and downloads whose files are gone (deleted by hand); folder entries come back on rescan.
    this.models = this.models.filter((m) => m.origin === 'folder' || m.files.every((f) => existsSync(f)));
    await Promise.all(this.folders.map((folder) => this.rescan(folder.id)));
    for (const folder of this.folders) this.watchFolder(folder);
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
    const stored: StoredLibrary = { version: 1, models: this.models, folders: this.folders };
    return this.writer.write(`${JSON.stringify(stored)}\n`);
  }

  private entry(files: string[], origin: ModelOrigin, facts: Awaited<ReturnType<typeof inspectModel>>, extra: Partial<ModelEntry> = {}): ModelEntry {
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

  /** Imports files or folders: referenced where they are (default), or copied into the library. */
  async importPaths(paths: string[], mode: 'reference' | 'copy', onProgress?: (file: string, bytes: number, total: number) => void): Promise<ImportResult[]> {
    const results: ImportResult[] = [];
    const seen = new Set<string>();
    for (const given of paths) {
      if (!path.isAbsolute(given)) {
        results.push({ path: given, ok: false, error: 'The path must be absolute.' });
        continue;
      }
      let stat;
      try {
        stat = await fs.stat(given);
      } catch {
        results.push({ path: given, ok: false, error: 'Not found.' });
        continue;
      }
      const files = stat.isDirectory() ? await findGgufFiles(given) : [given];
      if (stat.isDirectory() && files.length === 0) {
        results.push({ path: given, ok: false, error: 'The folder holds no .gguf files.' });
        continue;
      }
      for (const file of files) {
        const shards = shardPaths(file);
        if (seen.has(shards[0]!)) continue;
        seen.add(shards[0]!);
        results.push(await this.importOne(shards, file, mode, onProgress));
      }
    }
    return results;
  }

  private async importOne(shards: string[], given: string, mode: 'reference' | 'copy', onProgress?: (file: string, bytes: number, total: number) => void): Promise<ImportResult> {
    if (!/\.gguf$/i.test(given)) return { path: given, ok: false, error: 'Only .gguf files can be imported.' };
    let facts;
    try {
      facts = await inspectModel(shards);
    } catch (error) {
      return { path: given, ok: false, error: error instanceof GgufError ? `Not a usable GGUF model: ${error.message}` : (error as Error).message };
    }
    const existing = this.models.find((m) => m.files[0] === shards[0]);
    if (existing && mode === 'reference') return { path: given, ok: true, model: existing };
    if (mode === 'reference') {
      const model = this.entry(shards, 'referenced', facts, { source: hubCacheSource(shards[0]!) });
      this.models.push(model);
      await this.changed();
      this.scheduleHashing();
      return { path: given, ok: true, model };
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
          const result = await this.writeVerified(createReadStream(shards[i]!), path.join(target, name), (bytes) => onProgress?.(given, bytes, facts.sizeBytes));
          if (shards.length === 1) sha256 = result.sha256;
          copies.push(path.join(target, name));
        }
      } catch (error) {
        await fs.rm(target, { recursive: true, force: true });
        throw error;
      }
      const model = this.entry(copies, 'copied', facts, { id, sha256 });
      this.models.push(model);
      this.markDuplicates();
      await this.changed();
      return { path: given, ok: true, model };
    } catch (error) {
      return { path: given, ok: false, error: (error as Error).message };
    }
  }

  /**
   * Streams bytes to `<final>.partial` while hashing them, syncs, checks the
   * GGUF header of what was written, then renames into place. On any failure
   * the partial file is removed and nothing is registered.
   */
  async writeVerified(input: Readable, final: string, onBytes?: (bytes: number) => void, expected?: { sha256?: string; size?: number }): Promise<{ sha256: string; size: number }> {
    const partial = `${final}.partial`;
    const hashing = new HashingTransform(onBytes);
    try {
      const out = createWriteStream(partial, { mode: 0o644 });
      await pipeline(input, hashing, out);
      const handle = await fs.open(partial, 'r+');
      await handle.sync();
      await handle.close();
      const sha256 = hashing.hash.digest('hex');
      if (expected?.size !== undefined && hashing.bytes !== expected.size) throw new Error(`Expected ${expected.size} bytes but got ${hashing.bytes}.`);
      if (expected?.sha256 && expected.sha256 !== sha256) throw new Error(`The file did not verify: sha256 ${sha256} instead of ${expected.sha256}.`);
      const source = await openFileSource(partial);
      try {
        await readGgufHeader(source);
      } catch (error) {
        throw new Error(error instanceof GgufError ? `Not a usable GGUF model: ${error.message}` : (error as Error).message, { cause: error });
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
      const facts = await inspectModel([final]);
      const display = path.basename(fileName).replace(/\.gguf$/i, '');
      const model = this.entry([final], 'copied', { ...facts, name: facts.name === 'model' ? display : facts.name }, { id, sha256 });
      this.models.push(model);
      this.markDuplicates();
      await this.changed();
      return model;
    } catch (error) {
      await fs.rm(target, { recursive: true, force: true });
      throw new RpcError('invalid_model', (error as Error).message);
    }
  }

  /** Registers files a download has verified and put in place. */
  async addDownloaded(files: string[], source: ModelEntry['source'], sha256: string | null, id: string): Promise<ModelEntry> {
    const facts = await inspectModel(files);
    // On disk the file is model.gguf; its name comes from the repo's file name instead.
    const fromRepo = source ? path.posix.basename(source.file).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '') : null;
    const name = facts.name === 'model' && fromRepo ? fromRepo : facts.name;
    const model = this.entry(files, 'downloaded', { ...facts, name, publisher: facts.publisher ?? source?.repo.split('/')[0] ?? null }, { id, source, sha256 });
    this.models.push(model);
    this.markDuplicates();
    await this.changed();
    return model;
  }

  async ensureSpace(dir: string, bytes: number): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
    const stats = await fs.statfs(dir);
    const free = stats.bavail * stats.bsize;
    // Keep a margin so that the disk is never filled to the last byte.
    const margin = 256 * 1024 * 1024;
    if (bytes + margin > free) {
      throw new RpcError('conflict', `Not enough disk space in ${dir}: ${(bytes / 1024 ** 3).toFixed(2)} GB needed, ${(free / 1024 ** 3).toFixed(2)} GB free.`);
    }
  }

  /** Deletes files the app downloaded or copied; a model referenced in place is only forgotten. */
  async remove(id: string): Promise<{ deletedFiles: string[] }> {
    const model = this.get(id);
    if (!model) throw new RpcError('not_found', 'No such model in the library.');
    const deletedFiles: string[] = [];
    if (model.owned) {
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
    this.models = this.models.filter((m) => m.id !== id);
    for (const m of this.models) if (m.duplicateOf === id) m.duplicateOf = null;
    this.markDuplicates();
    await this.changed();
    return { deletedFiles };
  }

  // ---- folders indexed in place ----

  async addFolder(dir: string): Promise<ModelFolder> {
    if (!path.isAbsolute(dir)) throw new RpcError('invalid_input', 'The folder path must be absolute.');
    const stat = await fs.stat(dir).catch(() => undefined);
    if (!stat?.isDirectory()) throw new RpcError('invalid_input', `Not a folder: ${dir}`);
    const resolved = path.resolve(dir);
    let folder = this.folders.find((f) => f.path === resolved);
    if (!folder) {
      folder = { id: newId(), path: resolved, ignored: [] };
      this.folders.push(folder);
      await this.rescan(folder.id);
      this.watchFolder(folder);
      await this.changed();
    }
    return this.snapshot().folders.find((f) => f.id === folder.id)!;
  }

  async removeFolder(id: string): Promise<void> {
    this.watchers.get(id)?.close();
    this.watchers.delete(id);
    this.folders = this.folders.filter((f) => f.id !== id);
    this.models = this.models.filter((m) => m.folderId !== id);
    await this.changed();
  }

  /** Brings a folder's entries in line with what is on disk. */
  async rescan(folderId: string): Promise<void> {
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
    const before = this.models.length;
    this.models = this.models.filter((m) => m.folderId !== folderId || groups.has(m.files[0]!));
    if (this.models.length !== before) changed = true;
    for (const [first, shards] of groups) {
      if (folder.ignored.includes(first)) continue;
      if (this.models.some((m) => m.folderId === folderId && m.files[0] === first)) continue;
      try {
        const facts = await inspectModel(shards);
        this.models.push(this.entry(shards, 'folder', facts, { folderId, source: hubCacheSource(first) }));
        changed = true;
      } catch (error) {
        this.options.log(`skipped ${first}: ${(error as Error).message}`);
      }
    }
    if (changed) {
      this.markDuplicates();
      await this.changed();
      this.scheduleHashing();
    }
  }

  private watchFolder(folder: StoredFolder): void {
    if (this.options.watchFolders === false || this.watchers.has(folder.id)) return;
    try {
      const watcher = watch(folder.path, { recursive: true }, (_event, name) => {
        if (name && !/\.gguf$/i.test(String(name))) return;
        clearTimeout(this.rescanTimers.get(folder.id));
        this.rescanTimers.set(
          folder.id,
          setTimeout(() => void this.rescan(folder.id), 500),
        );
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
      for (const model of pending) {
        if (this.closed) return;
        try {
          model.sha256 = await sha256File(model.files[0]!);
        } catch (error) {
          this.options.log(`could not hash ${model.files[0]}: ${(error as Error).message}`);
        }
      }
      if (pending.length > 0 && !this.closed) {
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
    for (const timer of this.rescanTimers.values()) clearTimeout(timer);
    await this.hashing.catch(() => undefined);
    await this.writer.flush();
  }
}

/** Every .gguf file under `dir`, following links, skipping hidden folders, 8 levels deep at most. */
export async function findGgufFiles(dir: string, depth = 0): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const found: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = await fs.stat(full).catch(() => undefined);
      isDir = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
    }
    if (isDir && depth < 8) found.push(...(await findGgufFiles(full, depth + 1)).filter(Boolean));
    else if (isFile && /\.gguf$/i.test(entry.name) && !/\.partial$/i.test(entry.name)) found.push(full);
  }
  return found.sort();
}

export { parseSplitName };
