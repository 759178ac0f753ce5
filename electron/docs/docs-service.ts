/**
 * Documents for chat: files attached to a conversation or gathered in
 * collections (their folders watched), indexed one at a time (parsed,
 * chunked along their structure, stored with FTS5 keywords in one
 * transaction, then embedded when an embedding model is chosen), searched by
 * keywords and vectors fused, and given to replies (docs-context.ts).
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { ChatMessage } from '../../shared/inference';
import {
  DOC_LIMITS,
  type DocFormat,
  type ChatDocuments,
  type CollectionRecord,
  type DocsSnapshot,
  type DocumentRecord,
  type EmbeddingStatus,
  type IndexProgress,
  type SearchResult,
} from '../../shared/documents';
import type { EventBus } from '../platform/events';
import { chunkSections } from './chunker';
import type { DocumentStore, Scope } from './doc-store';
import { search } from './hybrid';
import { DocParseError, formatOf } from './parse';
import { parseOffThread } from './parse-in-worker';
import { retrievalQuery, type Candidate } from './docs-context';
import { DocsUploads } from './docs-uploads';
import { DocsWatchers, listFolderFiles } from './docs-watch';

/** Texts embedded per call. */
const EMBED_BATCH = 32;

export interface DocsServiceOptions {
  store: DocumentStore;
  /** Where uploaded files are kept (<dataDir>/documents). */
  uploadsDir: string;
  events: EventBus;
  /** Vectors for texts from the embedding model at `modelPath` (the engine's embedding slot). */
  embed: (modelPath: string, texts: string[]) => Promise<number[][]>;
  /** The library's models that embed, and a model's file. */
  embeddingModels: () => Promise<Array<{ id: string; name: string; path: string }>>;
  log: (line: string) => void;
  /** False: collection folders are not watched (some tests). */
  watch: boolean;
  /** Whether a conversation is there (documents are attached to existing ones only). */
  conversationExists: (id: string) => boolean;
}

interface Job {
  documentId: string;
  controller: AbortController;
}

export class DocsService {
  private readonly queue: Job[] = [];
  private running: Job | null = null;
  private embedding: Promise<void> | null = null;
  private embedProblem: string | null = null;
  private readonly watchers: DocsWatchers;
  /** Files from a UI in pieces. */
  readonly uploads: DocsUploads;
  private closed = false;
  private offLibrary: (() => void) | undefined;

  constructor(private readonly options: DocsServiceOptions) {
    this.uploads = new DocsUploads(options.uploadsDir, async (file, target) => (await this.add([file], target))[0]!);
    this.watchers = new DocsWatchers({
      enabled: options.watch,
      log: options.log,
      rescan: (collectionId) => this.rescanCollection(collectionId),
    });
  }

  private get store(): DocumentStore {
    return this.options.store;
  }

  /** Resumes what a crash or quit left half done (redone from the file), watches the collections' folders, embeds what is missing. */
  start(): void {
    try {
      this.resume();
    } catch (error) {
      // Without a usable chat database (a notice says why) there is nothing to resume; every documents call says why.
      this.options.log(`docs: not started: ${(error as Error).message}`);
    }
  }

  private resume(): void {
    for (const doc of this.store.unfinished()) this.enqueue(doc.id);
    for (const collection of this.store.collections()) {
      for (const folder of collection.folders) this.watchers.watch(collection.id, folder);
      void this.rescanCollection(collection.id);
    }
    // The first embedding model to arrive in the library (the one offered for download, say) is used until another is chosen.
    this.offLibrary = this.options.events.subscribeAll((event) => {
      if (event === 'onLibraryChanged') void this.chooseFirstEmbedding();
    });
    void this.chooseFirstEmbedding()
      .catch(() => undefined)
      .finally(() => this.embedMissing());
  }

  private async chooseFirstEmbedding(): Promise<void> {
    if (this.closed || this.store.embeddingModel() || this.store.embeddingDeclined()) return;
    const [first] = await this.options.embeddingModels().catch(() => []);
    if (!first) return;
    await this.setEmbedding(first.id).catch((error: unknown) => {
      this.embedProblem = `${first.name} could not be used for vectors: ${(error as Error).message}`;
      this.options.log(`docs: ${this.embedProblem}`);
    });
  }

  async close(): Promise<void> {
    this.offLibrary?.();
    this.closed = true;
    this.watchers.close();
    await this.uploads.close();
    for (const job of [this.running, ...this.queue]) job?.controller.abort('closing');
    this.queue.length = 0;
    await this.embedding?.catch(() => undefined);
  }

  async snapshot(): Promise<DocsSnapshot> {
    return { documents: this.store.documents({}), collections: this.store.collections(), embedding: await this.embeddingStatus() };
  }

  private async changed(): Promise<void> {
    if (this.closed) return;
    this.options.events.emit('onDocsChanged', await this.snapshot());
  }

  private progress(progress: IndexProgress): void {
    if (!this.closed) this.options.events.emit('onDocsProgress', progress);
  }

  // ── adding ─────────────────────────────────────────────────────────────

  /** Files and folders (their files, at most DOC_LIMITS.maxFolderFiles each) into a collection or a conversation. */
  async add(paths: string[], target: { collectionId?: string; conversationId?: string }): Promise<DocumentRecord[]> {
    if (!target.collectionId && !target.conversationId)
      throw new RpcError('invalid_input', 'Say where the documents go: a collection or a conversation.');
    if (target.collectionId) this.collection(target.collectionId);
    if (target.conversationId && !this.options.conversationExists(target.conversationId))
      throw new RpcError('not_found', 'That conversation no longer exists.');
    const files: string[] = [];
    for (const given of paths) {
      const file = path.resolve(given);
      const info = await stat(file).catch(() => null);
      if (!info) throw new RpcError('not_found', `${given} does not exist.`);
      if (info.isDirectory()) {
        const listed = await listFolderFiles(file, DOC_LIMITS.maxFolderFiles);
        if (listed.truncated) {
          const limit = DOC_LIMITS.maxFolderFiles.toLocaleString('en-US');
          const message = `${file} holds more than ${limit} documents: the first ${limit} are indexed, the rest left out. Add its subfolders one by one to take more.`;
          this.options.log(`docs: ${message}`);
          this.options.events.emit('onNotice', {
            id: `docs-folder-${Date.now()}`,
            level: 'warning',
            message,
            at: new Date().toISOString(),
          });
        }
        files.push(...listed.files);
      } else files.push(file);
    }
    // Every file is recorded first (queued), then indexed one by one: a quit or a kill part way leaves them queued, to resume.
    const found: Array<{ file: string; name: string; format: DocFormat; size: number; mtimeMs: number }> = [];
    for (const file of files) {
      const name = path.basename(file);
      const format = formatOf(name);
      if (!format) {
        if (paths.length === 1 && files.length === 1) throw new DocParseError(`${name}: ${unsupported(name)}`, 'unsupported');
        continue;
      }
      const info = await stat(file);
      found.push({ file, name, format, size: info.size, mtimeMs: Math.floor(info.mtimeMs) });
    }
    const added = this.store.db.transaction(() =>
      found.map((f) =>
        this.store.addDocument({
          name: f.name,
          path: f.file,
          format: f.format,
          bytes: f.size,
          mtimeMs: f.mtimeMs,
          collectionId: target.collectionId ?? null,
          conversationId: target.conversationId ?? null,
        }),
      ),
    );
    for (const id of added) this.enqueue(id, true);
    await this.changed();
    const byId = new Map(this.store.documents({}).map((d) => [d.id, d]));
    return added.map((id) => byId.get(id)!).filter(Boolean);
  }

  /** A file's bytes from the browser: kept under the data folder, then indexed like a file added by path. */
  async upload(name: string, data: Buffer, target: { collectionId?: string; conversationId?: string }): Promise<DocumentRecord> {
    const safe = path.basename(name).replace(/[\\/:*?"<>|\0]/g, '_');
    if (!formatOf(safe)) throw new DocParseError(`${safe}: ${unsupported(safe)}`, 'unsupported');
    if (data.length > DOC_LIMITS.maxFileBytes)
      throw new DocParseError(`${safe} is ${mb(data.length)}; the limit is ${mb(DOC_LIMITS.maxFileBytes)}.`, 'too_large');
    const dir = path.join(this.options.uploadsDir, `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, safe);
    await writeFile(file, data);
    try {
      const [record] = await this.add([file], target);
      return record!;
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Removes a document the user names; one that a collection's watched folder holds would come back, so that is said instead. */
  remove(id: string): void {
    const doc = this.store.document(id);
    if (!doc) throw new RpcError('not_found', 'No such document.');
    const folder = doc.collectionId
      ? this.store.collection(doc.collectionId)?.folders.find((f) => doc.path?.startsWith(f + path.sep))
      : undefined;
    if (folder)
      throw new RpcError(
        'invalid_input',
        `${doc.name} is in the watched folder ${folder}: delete or move it there (or remove the folder from the collection), and it leaves the collection.`,
      );
    this.forget(id);
    void this.changed();
  }

  /** Stops its indexing, deletes its chunks and vectors, and the copy Freehold kept of an uploaded file. */
  private forget(id: string): void {
    const job = this.running?.documentId === id ? this.running : this.queue.find((j) => j.documentId === id);
    job?.controller.abort('user');
    this.removeQueued(id);
    const doc = this.store.document(id);
    this.store.removeDocument(id);
    if (doc?.path) this.dropUploadedCopy(doc.path);
  }

  /** A file under the uploads folder is Freehold's own copy (its folder holds only it): deleted with its document. */
  private dropUploadedCopy(file: string): void {
    const relative = path.relative(this.options.uploadsDir, file);
    if (relative.startsWith('..') || path.isAbsolute(relative) || !relative.includes(path.sep)) return;
    void rm(path.join(this.options.uploadsDir, relative.split(path.sep)[0]!), { recursive: true, force: true }).catch(() => undefined);
  }

  cancel(id: string): void {
    const job = this.running?.documentId === id ? this.running : this.queue.find((j) => j.documentId === id);
    if (!job) throw new RpcError('not_found', 'That document is not being indexed.');
    job.controller.abort('user');
    if (this.running !== job) {
      this.removeQueued(id);
      this.store.setStatus(id, 'cancelled', 'Cancelled before it was indexed.');
      void this.changed();
    }
  }

  private removeQueued(id: string): void {
    const at = this.queue.findIndex((j) => j.documentId === id);
    if (at >= 0) this.queue.splice(at, 1);
  }

  // ── collections ────────────────────────────────────────────────────────

  private collection(id: string): CollectionRecord {
    const found = this.store.collections().find((c) => c.id === id);
    if (!found) throw new RpcError('not_found', 'No such collection.');
    return found;
  }

  /** A collection by name or id (the CLI's --collection). */
  collectionNamed(nameOrId: string): CollectionRecord {
    const all = this.store.collections();
    const found = all.find((c) => c.id === nameOrId) ?? all.find((c) => c.name.toLowerCase() === nameOrId.toLowerCase());
    if (!found) throw new RpcError('not_found', `No collection named "${nameOrId}".`);
    return found;
  }

  async createCollection(name: string, folders: string[] = []): Promise<CollectionRecord> {
    const resolved = [];
    for (const folder of folders) {
      const info = await stat(folder).catch(() => null);
      if (!info?.isDirectory()) throw new RpcError('not_found', `${folder} is not a folder.`);
      resolved.push(path.resolve(folder));
    }
    const collection = this.store.createCollection(name, resolved);
    for (const folder of resolved) this.watchers.watch(collection.id, folder);
    if (resolved.length) await this.rescanCollection(collection.id);
    await this.changed();
    return this.collection(collection.id);
  }

  removeCollection(id: string): void {
    this.collection(id);
    for (const doc of this.store.documents({ collectionIds: [id], anyStatus: true })) this.forget(doc.id);
    this.watchers.unwatch(id);
    this.store.removeCollection(id);
    void this.changed();
  }

  /** Brings a collection's documents from its folders in line with the disk: new and changed files indexed, deleted ones removed. */
  async rescanCollection(collectionId: string): Promise<void> {
    const collection = this.store.collections().find((c) => c.id === collectionId);
    if (!collection || this.closed) return;
    const onDisk = new Map<string, { size: number; mtimeMs: number }>();
    // Where the listing is incomplete (a folder unreadable now, or cut at the limit), nothing is taken as deleted.
    const unsure: string[] = [];
    let cut = false;
    for (const folder of collection.folders) {
      const listed = await listFolderFiles(folder, DOC_LIMITS.maxFolderFiles);
      unsure.push(...listed.unreadable);
      cut ||= listed.truncated;
      for (const file of listed.files) {
        const info = await stat(file).catch(() => null);
        if (info?.isFile()) onDisk.set(file, { size: info.size, mtimeMs: Math.floor(info.mtimeMs) });
      }
    }
    const under = (file: string, dir: string) => file === dir || file.startsWith(dir + path.sep);
    let changed = false;
    const known = this.store.documentFiles(collectionId);
    for (const doc of known) {
      if (!doc.path || !collection.folders.some((f) => doc.path!.startsWith(f + path.sep))) continue;
      const now = onDisk.get(doc.path);
      if (!now) {
        // Gone only when the file itself says so: not when its folder could not be read or the listing was cut short.
        if (cut || unsure.some((dir) => under(doc.path!, dir))) continue;
        const missing = await stat(doc.path).then(
          () => false,
          (error: NodeJS.ErrnoException) => error.code === 'ENOENT' || error.code === 'ENOTDIR',
        );
        if (!missing) continue;
        this.forget(doc.id);
        changed = true;
      } else if (now.size !== doc.bytes || now.mtimeMs !== doc.mtimeMs) {
        this.store.updateFile(doc.id, now.size, now.mtimeMs);
        this.enqueue(doc.id, true);
        changed = true;
      }
      onDisk.delete(doc.path);
    }
    for (const [file, info] of onDisk) {
      const name = path.basename(file);
      const format = formatOf(name);
      if (!format) continue;
      const id = this.store.addDocument({
        name,
        path: file,
        format,
        bytes: info.size,
        mtimeMs: info.mtimeMs,
        collectionId,
        conversationId: null,
      });
      this.enqueue(id, true);
      changed = true;
    }
    if (changed) await this.changed();
  }

  forChat(conversationId: string): ChatDocuments {
    return {
      documents: this.store.documents({ conversationId }),
      collectionIds: this.store.conversationCollections(conversationId),
    };
  }

  setChatCollections(conversationId: string, collectionIds: string[]): ChatDocuments {
    for (const id of collectionIds) this.collection(id);
    this.store.setConversationCollections(conversationId, collectionIds);
    return this.forChat(conversationId);
  }

  /** A deleted conversation's attached documents go with it. */
  conversationDeleted(conversationId: string): void {
    for (const doc of this.store.documents({ conversationId, anyStatus: true })) this.forget(doc.id);
    this.store.removeConversationDocuments(conversationId);
    void this.changed();
  }

  // ── indexing ───────────────────────────────────────────────────────────

  private enqueue(documentId: string, fresh = false): void {
    if (this.closed) return;
    if (this.queue.some((j) => j.documentId === documentId)) return;
    if (this.running?.documentId === documentId) {
      if (!fresh) return;
      this.running.controller.abort('replaced');
    }
    this.store.setStatus(documentId, 'queued', null);
    this.queue.push({ documentId, controller: new AbortController() });
    void this.drain();
  }

  /** Resolves when nothing is queued or indexing (tests, the CLI). */
  async idle(): Promise<void> {
    while (this.running || this.queue.length || this.embedding) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (this.embedding) await this.embedding.catch(() => undefined);
    }
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    while (!this.closed && this.queue.length) {
      const job = this.queue.shift()!;
      this.running = job;
      try {
        await this.index(job);
      } catch (error) {
        this.options.log(`docs: indexing failed: ${(error as Error).message}`);
      } finally {
        this.running = null;
      }
      await this.changed();
    }
    this.embedMissing();
  }

  private async index(job: Job): Promise<void> {
    const doc = this.store.documents({ documentIds: [job.documentId], anyStatus: true })[0];
    if (!doc || !doc.path) return;
    const signal = job.controller.signal;
    const report = (extra: Partial<IndexProgress>) =>
      this.progress({ documentId: doc.id, name: doc.name, status: 'indexing', chunks: 0, embedded: 0, ...extra });
    this.store.setStatus(doc.id, 'indexing', null);
    report({});
    try {
      const info = await stat(doc.path);
      if (info.size > DOC_LIMITS.maxFileBytes)
        throw new DocParseError(`${doc.name} is ${mb(info.size)}; the limit is ${mb(DOC_LIMITS.maxFileBytes)}.`, 'too_large');
      const bytes = await readFile(doc.path);
      const parsed = await parseOffThread(doc.name, bytes, { signal, onPage: (read, total) => report({ pagesRead: read, pages: total }) });
      if (signal.aborted) throw abortError();
      const chunks = chunkSections(parsed.sections);
      if (chunks.length === 0) throw new DocParseError(`${doc.name} has no text.`, 'no_text');
      // One transaction: the document's chunks are all stored, or none (a kill here redoes it on the next start).
      this.store.replaceChunks(doc.id, chunks, { pages: parsed.pages ?? null });
      this.store.setStatus(doc.id, 'indexed', null);
      report({ status: 'indexed', chunks: chunks.length, ...(parsed.pages ? { pages: parsed.pages, pagesRead: parsed.pages } : {}) });
    } catch (error) {
      if (signal.aborted) {
        // Closing: left queued, to resume on the next start. Replaced: the file changed and is queued again.
        if (signal.reason === 'closing') this.store.setStatus(doc.id, 'queued', null);
        if (signal.reason !== 'user') return;
        if (this.store.documents({ documentIds: [doc.id], anyStatus: true }).length) {
          this.store.setStatus(doc.id, 'cancelled', 'Indexing was cancelled.');
          report({ status: 'cancelled', error: 'Indexing was cancelled.' });
        }
        return;
      }
      const message = error instanceof DocParseError ? error.message : `${doc.name} could not be read: ${(error as Error).message}`;
      this.store.setStatus(doc.id, 'failed', message);
      report({ status: 'failed', error: message });
    }
  }

  // ── embeddings ─────────────────────────────────────────────────────────

  async embeddingStatus(): Promise<EmbeddingStatus> {
    const chosen = this.store.embeddingModel();
    const choices = await this.options.embeddingModels().catch(() => []);
    const model = chosen ? choices.find((c) => c.id === chosen.key) : undefined;
    return {
      modelId: chosen?.key ?? null,
      name: model?.name ?? null,
      dims: chosen?.dims ?? null,
      missing: chosen ? this.store.missingVectorCount() : this.store.chunkCount(),
      choices: choices.map(({ id, name }) => ({ id, name })),
      problem: chosen && !model ? 'The embedding model is no longer in the library: choose another.' : this.embedProblem,
    };
  }

  /** Chooses the embedding model (null: keywords only); a different one drops every vector and embeds again. */
  async setEmbedding(modelId: string | null): Promise<void> {
    if (modelId === null)
      this.store.clearEmbeddingModel(); // and remembers the choice: none is picked automatically
    else {
      const model = (await this.options.embeddingModels()).find((m) => m.id === modelId);
      if (!model) throw new RpcError('invalid_input', 'That model is not an embedding model in the library.');
      if (this.store.embeddingModel()?.key !== modelId) {
        // The dimension is learnt from the model itself.
        const [probe] = await this.options.embed(model.path, ['dimension probe']);
        this.store.setEmbeddingModel(modelId, probe!.length);
      }
    }
    this.embedProblem = null;
    await this.changed();
    this.embedMissing();
  }

  /** Embeds the chunks without a vector, in batches, one run at a time; progress per document. */
  private embedMissing(): void {
    if (this.embedding || this.closed) return;
    const chosen = this.store.embeddingModel();
    if (!chosen || this.running || this.queue.length) return;
    const current = () => this.store.embeddingModel()?.key === chosen.key && this.store.embeddingModel()?.dims === chosen.dims;
    let failed = false;
    this.embedding = (async () => {
      const model = (await this.options.embeddingModels()).find((m) => m.id === chosen.key);
      if (!model) return;
      this.embedProblem = null;
      for (;;) {
        if (this.closed || this.queue.length || !current()) return;
        const batch = this.store.missingVectors(EMBED_BATCH);
        if (batch.length === 0) return;
        const vectors = await this.options.embed(
          model.path,
          batch.map((c) => c.text),
        );
        // The model changed while this batch was embedded: its vectors are not the new model's.
        if (!current()) return;
        this.store.putVectors(batch.map((c, i) => ({ chunkId: c.chunkId, vector: Float32Array.from(vectors[i]!) })));
        for (const documentId of new Set(batch.map((c) => c.documentId))) {
          const doc = this.store.documents({ documentIds: [documentId], anyStatus: true })[0];
          if (doc) this.progress({ documentId, name: doc.name, status: doc.status, chunks: doc.chunks, embedded: doc.embedded });
        }
      }
    })()
      .catch((error: unknown) => {
        failed = true;
        this.embedProblem = `Vectors could not be made: ${(error as Error).message}. Documents are found by keywords until then; another document or choosing the model again tries again.`;
        this.options.log(`docs: ${this.embedProblem}`);
      })
      .finally(() => {
        this.embedding = null;
        void this.changed();
        // A model chosen meanwhile gets its own run.
        if (!failed && !this.closed && this.store.embeddingModel() && !current()) this.embedMissing();
      });
  }

  // ── search and replies ────────────────────────────────────────────────

  private async queryVector(query: string): Promise<Float32Array | undefined> {
    const chosen = this.store.embeddingModel();
    if (!chosen) return undefined;
    const model = (await this.options.embeddingModels().catch(() => [])).find((m) => m.id === chosen.key);
    if (!model) return undefined;
    try {
      const [vector] = await this.options.embed(model.path, [query]);
      return Float32Array.from(vector!);
    } catch (error) {
      this.options.log(`docs: the query was not embedded (${(error as Error).message}); keywords only`);
      return undefined;
    }
  }

  async search(query: string, scope: Scope, limit = 10): Promise<SearchResult[]> {
    return search(this.store, { query, vector: await this.queryVector(query), scope, limit });
  }

  /** Every chunk of the scope's documents in order, to give them whole (none when they are too large for any context). */
  wholeChunks(scope: Scope): Candidate[] {
    return this.store.allChunks(scope, WHOLE_LIMIT_TOKENS) ?? [];
  }

  /** The scope of a conversation: its attached documents and the collections turned on for it. */
  chatScope(conversationId: string): Scope | null {
    const collectionIds = this.store.conversationCollections(conversationId);
    const attached = this.store.documents({ conversationId, anyStatus: true });
    if (!collectionIds.length && !attached.length) return null;
    return { conversationId, collectionIds };
  }

  /**
   * What a reply in this conversation may be given: every chunk of its
   * documents in order (when they are few enough to go whole) and the
   * passages retrieved for the recent turns, best first.
   */
  async candidatesFor(
    conversationId: string,
    messages: ChatMessage[],
  ): Promise<{ whole: Candidate[]; retrieved: Candidate[]; query: string; pending: number } | null> {
    const scope = this.chatScope(conversationId);
    if (!scope) return null;
    // Documents still being read are not given, but the model (and the sources under the reply) say so.
    const pending = this.store
      .documents({ ...scope, anyStatus: true })
      .filter((d) => d.status === 'queued' || d.status === 'indexing').length;
    const query = retrievalQuery(messages);
    if (!this.store.documents(scope).length) return pending ? { whole: [], retrieved: [], query, pending } : null;
    const whole = this.wholeChunks(scope);
    const found = query ? await this.search(query, scope, 24) : [];
    const tokens = new Map(whole.map((c) => [c.chunkId, c.tokens]));
    const retrieved: Candidate[] = found.map((r) => ({
      documentId: r.documentId,
      chunkId: r.chunkId,
      name: r.name,
      ...(r.page !== undefined ? { page: r.page } : {}),
      ...(r.heading ? { heading: r.heading } : {}),
      text: r.text,
      tokens: tokens.get(r.chunkId) ?? Math.ceil(r.text.length / 4),
      score: r.score,
    }));
    return { whole, retrieved, query, pending };
  }
}

/** Documents larger than this are never given whole (no model context holds them), so their chunks are not all read. */
const WHOLE_LIMIT_TOKENS = 262_144;

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function unsupported(name: string): string {
  return `${path.extname(name) || 'files without an extension'} is not a document Freehold reads (PDF, DOCX, Markdown, text, HTML, CSV, source code).`;
}

function abortError(): Error {
  const error = new Error('Indexing was cancelled.');
  error.name = 'AbortError';
  return error;
}
