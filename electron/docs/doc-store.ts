/**
 * The documents in the chat database: collections, documents and their
 * chunks (with FTS5 keywords), the vectors of the current embedding model,
 * and scopes (which documents a search covers). A document's chunks are
 * replaced in one transaction, so a process killed mid-index leaves the old
 * chunks or the new ones, never half of either.
 */
import { RpcError } from '../../shared/errors';
import type { ChunkInput, CollectionRecord, DocStatus, DocumentRecord } from '../../shared/documents';
import { newId, now } from '../chat/conversation-schema';
import type { SqliteDatabase, SqlValue } from '../chat/sqlite';
import {
  CHUNK_COLUMNS,
  DROP_VECTORS_DDL,
  scopeCondition,
  toCollection,
  toDocument,
  toPassage,
  VECTOR_IDS_INDEX_DDL,
  VECTOR_TABLE,
  vectorBlob,
  vectorTableDdl,
  type ChunkPassage,
  type ChunkRow,
  type CollectionRow,
  type DocScope,
  type DocumentFile,
  type DocumentRow,
  type NewDocument,
  type VectorRow,
} from './doc-schema';

export type { ChunkPassage, DocScope, DocumentFile, NewDocument, VectorRow } from './doc-schema';
export type Scope = DocScope;

const META_MODEL = 'embedding_model';
const META_DIMS = 'embedding_dims';
const META_DECLINED = 'embedding_declined';
const INSERT_DOCUMENT = `INSERT INTO documents
  (id, collection_id, conversation_id, name, path, format, bytes, mtime_ms, sha256, status, added_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)`;
/** The condition on `documents d` for the scope's documents that a search covers. */
function searchable(scope: DocScope): { sql: string; params: SqlValue[] } {
  const { sql, params } = scopeCondition(scope);
  return { sql: scope.anyStatus ? sql : `d.status = 'indexed' AND ${sql}`, params };
}
const notFound = (what: string, id: string) => new RpcError('not_found', `No ${what} ${id}.`);

export class DocumentStore {
  constructor(readonly db: SqliteDatabase) {
    // A vectors' table made before it had chunk_vectors_ids gets it (nothing to do after).
    if (this.hasVectorTable()) db.exec(VECTOR_IDS_INDEX_DDL);
  }

  // Collections

  createCollection(name: string, folders: string[] = []): CollectionRecord {
    const trimmed = name.trim();
    if (!trimmed) throw new RpcError('invalid_input', 'A collection needs a name.');
    return this.db.transaction(() => {
      if (this.db.get('SELECT 1 FROM collections WHERE name = ?', trimmed))
        throw new RpcError('conflict', `There is already a collection named “${trimmed}”.`);
      const id = newId();
      const values = [trimmed, JSON.stringify(folders), now()];
      this.db.run('INSERT INTO collections (id, name, folders, created_at) VALUES (?, ?, ?, ?)', id, ...values);
      return this.collection(id)!;
    });
  }

  collections(): CollectionRecord[] {
    return this.collectionRows('1').map(toCollection);
  }

  collection(id: string): CollectionRecord | undefined {
    const [row] = this.collectionRows('c.id = ?', id);
    return row && toCollection(row);
  }

  renameCollection(id: string, name: string): void {
    const trimmed = name.trim();
    if (!trimmed) throw new RpcError('invalid_input', 'A collection needs a name.');
    this.db.transaction(() => {
      if (this.db.get('SELECT 1 FROM collections WHERE name = ? AND id <> ?', trimmed, id))
        throw new RpcError('conflict', `There is already a collection named “${trimmed}”.`);
      if (this.db.run('UPDATE collections SET name = ? WHERE id = ?', trimmed, id).changes === 0) throw notFound('collection', id);
    });
  }

  setCollectionFolders(id: string, folders: string[]): void {
    if (this.db.run('UPDATE collections SET folders = ? WHERE id = ?', JSON.stringify(folders), id).changes === 0)
      throw notFound('collection', id);
  }

  /** Removes a collection with its documents, their chunks and vectors, and its place in conversations. */
  removeCollection(id: string): boolean {
    return this.db.transaction(() => {
      this.db.run('DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE collection_id = ?)', id);
      this.db.run('DELETE FROM documents WHERE collection_id = ?', id);
      this.db.run('DELETE FROM conversation_collections WHERE collection_id = ?', id);
      return this.db.run('DELETE FROM collections WHERE id = ?', id).changes > 0;
    });
  }

  private collectionRows(where: string, ...params: SqlValue[]) {
    return this.db.all<CollectionRow>(
      `SELECT c.id, c.name, c.folders, c.created_at,
         (SELECT count(*) FROM documents d WHERE d.collection_id = c.id) AS documents,
         (SELECT total(d.last_chunk - d.first_chunk + 1) FROM documents d WHERE d.collection_id = c.id) AS chunks
       FROM collections c WHERE ${where} ORDER BY c.name COLLATE NOCASE, c.id`,
      ...params,
    );
  }

  // Documents

  /** Adds a document, 'queued'; a file already added from the same path to the same collection or conversation keeps its id. */
  addDocument(input: NewDocument): string {
    const collectionId = input.collectionId ?? null;
    const conversationId = input.conversationId ?? null;
    const path = input.path ?? null;
    return this.db.transaction(() => {
      if (collectionId !== null && !this.db.get('SELECT 1 FROM collections WHERE id = ?', collectionId))
        throw notFound('collection', collectionId);
      if (path !== null) {
        const same = 'SELECT id FROM documents WHERE path = ? AND collection_id IS ? AND conversation_id IS ?';
        const existing = this.db.get<{ id: string }>(same, path, collectionId, conversationId);
        if (existing) return existing.id;
      }
      const id = newId();
      const at = now();
      const file = [path, input.format, input.bytes ?? 0, input.mtimeMs ?? null, input.sha256 ?? null];
      this.db.run(INSERT_DOCUMENT, id, collectionId, conversationId, input.name, ...file, at, at);
      return id;
    });
  }

  document(id: string): DocumentRecord | undefined {
    return this.documentRows('d.id = ?', [id])[0];
  }

  /** A collection's documents' files as last seen (to tell which changed on disk). */
  documentFiles(collectionId: string): DocumentFile[] {
    const sql = 'SELECT id, path, bytes, mtime_ms AS mtimeMs, sha256 FROM documents WHERE collection_id = ? ORDER BY rowid';
    return this.db.all<DocumentFile>(sql, collectionId);
  }

  /** Records what a document's file is now (before it is indexed again). */
  updateFile(id: string, bytes: number, mtimeMs: number | null, sha256: string | null = null): void {
    const sql = 'UPDATE documents SET bytes = ?, mtime_ms = ?, sha256 = ?, updated_at = ? WHERE id = ?';
    if (this.db.run(sql, bytes, mtimeMs, sha256, now(), id).changes === 0) throw notFound('document', id);
  }

  setStatus(id: string, status: DocStatus, error: string | null = null): void {
    if (this.db.run('UPDATE documents SET status = ?, error = ?, updated_at = ? WHERE id = ?', status, error, now(), id).changes === 0)
      throw notFound('document', id);
  }

  /**
   * Replaces a document's chunks (their keywords and vectors go with the old
   * ones) in one transaction: a bad chunk or a crash leaves the old ones.
   * `status` and `pages`, when given, are set in the same transaction.
   */
  replaceChunks(documentId: string, chunks: ChunkInput[], options: { status?: DocStatus; pages?: number | null } = {}): number[] {
    return this.db.transaction(() => {
      if (!this.db.get('SELECT 1 FROM documents WHERE id = ?', documentId)) throw notFound('document', documentId);
      this.db.run('DELETE FROM chunks WHERE document_id = ?', documentId);
      const insert =
        'INSERT INTO chunks (document_id, ordinal, text, page, heading, tokens) VALUES (?, ?, ?, ?, ?, ?) RETURNING rowid AS id';
      const ids: number[] = [];
      let tokens = 0;
      for (const chunk of chunks) {
        if (typeof chunk.text !== 'string' || !Number.isInteger(chunk.ordinal) || !Number.isFinite(chunk.tokens))
          throw new RpcError('invalid_input', `Chunk ${String(chunk.ordinal)} of document ${documentId} is malformed.`);
        const values = [documentId, chunk.ordinal, chunk.text, chunk.page ?? null, chunk.heading ?? null, chunk.tokens];
        const row = this.db.get<{ id: number }>(insert, ...values);
        ids.push(row!.id);
        tokens += chunk.tokens;
      }
      // The rowids run from the first to the last: documentOfChunk (doc-schema.ts) relies on it.
      const sets = ['tokens = ?', 'first_chunk = ?', 'last_chunk = ?', 'updated_at = ?'];
      const params: SqlValue[] = [tokens, ids[0] ?? null, ids.at(-1) ?? null, now()];
      if (options.status !== undefined) {
        sets.push('status = ?', 'error = NULL');
        params.push(options.status);
      }
      if (options.pages !== undefined) {
        sets.push('pages = ?');
        params.push(options.pages);
      }
      this.db.run(`UPDATE documents SET ${sets.join(', ')} WHERE id = ?`, ...params, documentId);
      return ids;
    });
  }

  /** The documents in a scope, of every status (all of them without one); oldest first, with their chunk and vector counts. */
  documents(scope: DocScope = {}): DocumentRecord[] {
    const { sql, params } = scopeCondition(scope);
    return this.documentRows(sql, params);
  }

  /** Documents to resume after a crash or restart: those still 'queued' or 'indexing'. */
  unfinished(): DocumentRecord[] {
    return this.documentRows(`d.status IN ('queued', 'indexing')`, []);
  }

  private documentRows(where: string, params: SqlValue[]): DocumentRecord[] {
    // Counted from the document's rowid range (documentOfChunk), in small indexes: no chunk or vector row is read.
    const embedded = this.hasVectorTable()
      ? `(SELECT count(*) FROM ${VECTOR_TABLE} v WHERE v.chunk_id BETWEEN d.first_chunk AND d.last_chunk)`
      : '0';
    return this.db
      .all<DocumentRow>(
        `SELECT d.*, coalesce(d.last_chunk - d.first_chunk + 1, 0) AS chunk_count, ${embedded} AS embedded_count
         FROM documents d WHERE ${where} ORDER BY d.added_at, d.rowid`,
        ...params,
      )
      .map(toDocument);
  }

  /** Removes a document with its chunks, their keywords and vectors. */
  removeDocument(id: string): boolean {
    return this.db.transaction(() => {
      this.db.run('DELETE FROM chunks WHERE document_id = ?', id);
      return this.db.run('DELETE FROM documents WHERE id = ?', id).changes > 0;
    });
  }

  /** What goes with a deleted conversation: the documents attached to it and its choice of collections. */
  removeConversationDocuments(conversationId: string): number {
    return this.db.transaction(() => {
      this.db.run('DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE conversation_id = ?)', conversationId);
      this.db.run('DELETE FROM conversation_collections WHERE conversation_id = ?', conversationId);
      return this.db.run('DELETE FROM documents WHERE conversation_id = ?', conversationId).changes;
    });
  }

  // Conversations' collections

  conversationCollections(conversationId: string): string[] {
    const sql = 'SELECT collection_id AS id FROM conversation_collections WHERE conversation_id = ? ORDER BY rowid';
    return this.db.all<{ id: string }>(sql, conversationId).map((r) => r.id);
  }

  setConversationCollections(conversationId: string, collectionIds: string[]): void {
    this.db.transaction(() => {
      for (const id of collectionIds) if (!this.db.get('SELECT 1 FROM collections WHERE id = ?', id)) throw notFound('collection', id);
      this.db.run('DELETE FROM conversation_collections WHERE conversation_id = ?', conversationId);
      for (const id of new Set(collectionIds))
        this.db.run('INSERT INTO conversation_collections (conversation_id, collection_id) VALUES (?, ?)', conversationId, id);
    });
  }

  /** What a conversation's replies search: its own documents and its collections'. */
  conversationScope(conversationId: string): DocScope {
    return { conversationId, collectionIds: this.conversationCollections(conversationId) };
  }

  // Vectors

  embeddingModel(): { key: string; dims: number } | null {
    const key = this.meta(META_MODEL);
    const dims = Number(this.meta(META_DIMS));
    return key !== undefined && dims > 0 && this.hasVectorTable() ? { key, dims } : null;
  }

  /**
   * Makes the vectors' table for this model: kept when the model and dimension
   * are those it was made for, else dropped and made anew (every chunk then
   * lacks a vector). Returns whether it was (re)made.
   */
  setEmbeddingModel(key: string, dims: number): boolean {
    const current = this.embeddingModel();
    if (current && current.key === key && current.dims === dims) return false;
    const ddl = vectorTableDdl(dims);
    this.db.transaction(() => {
      this.db.exec(DROP_VECTORS_DDL);
      this.db.exec(ddl);
      this.setMeta(META_MODEL, key);
      this.setMeta(META_DIMS, String(dims));
      this.db.run('DELETE FROM docs_meta WHERE key = ?', META_DECLINED);
    });
    return true;
  }

  /** No embedding model: the vectors are dropped, and the choice is remembered (none is then chosen for the user). */
  clearEmbeddingModel(): void {
    this.db.transaction(() => {
      this.db.exec(DROP_VECTORS_DDL);
      this.db.run(`DELETE FROM docs_meta WHERE key IN (?, ?)`, META_MODEL, META_DIMS);
      this.setMeta(META_DECLINED, '1');
    });
  }

  /** Whether the user chose to have no embedding model (clearEmbeddingModel), not yet undone by choosing one. */
  embeddingDeclined(): boolean {
    return this.meta(META_DECLINED) === '1';
  }

  /** Chunks without a vector from the current model (all of them while there is none), a document at a time. */
  missingVectors(limit: number, documentId?: string): Array<{ chunkId: number; documentId: string; text: string }> {
    // Through the small indexes (chunks_by_document, chunk_vectors_ids); a chunk's text is read only when it is returned.
    const missing = this.hasVectorTable() ? `NOT EXISTS (SELECT 1 FROM ${VECTOR_TABLE} v WHERE v.chunk_id = c.rowid)` : '1';
    const [where, params]: [string, SqlValue[]] =
      documentId === undefined ? [missing, []] : [`c.document_id = ? AND ${missing}`, [documentId]];
    const sql = `SELECT c.rowid AS chunkId, c.document_id AS documentId, c.text FROM chunks c INDEXED BY chunks_by_document WHERE ${where} LIMIT ?`;
    return this.db.all(sql, ...params, limit);
  }

  /** Chunks without a vector (every vector belongs to a chunk: putVectors and the delete trigger see to it). */
  missingVectorCount(documentId?: string): number {
    if (documentId !== undefined) {
      const doc = this.document(documentId);
      return doc ? doc.chunks - doc.embedded : 0;
    }
    const vectors = this.hasVectorTable() ? this.db.get<{ n: number }>(`SELECT count(*) AS n FROM ${VECTOR_TABLE}`)!.n : 0;
    return this.chunkCount() - vectors;
  }

  chunkCount(): number {
    return this.db.get<{ n: number }>('SELECT count(*) AS n FROM chunks')?.n ?? 0;
  }

  /** Stores vectors in one transaction; a chunk deleted meanwhile is skipped. Returns how many were stored. */
  putVectors(rows: VectorRow[]): number {
    const model = this.embeddingModel();
    if (!model) throw new RpcError('conflict', 'No embedding model is set for the documents.');
    for (const { chunkId, vector } of rows)
      if (vector.length !== model.dims)
        throw new RpcError('invalid_input', `The vector for chunk ${chunkId} has ${vector.length} dimensions, not ${model.dims}.`);
    return this.db.transaction(() => {
      let stored = 0;
      for (const { chunkId, vector } of rows) {
        this.db.run(`DELETE FROM ${VECTOR_TABLE} WHERE chunk_id = ?`, chunkId);
        stored += this.db.run(
          `INSERT INTO ${VECTOR_TABLE} (chunk_id, embedding) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM chunks WHERE rowid = ?1)`,
          chunkId,
          vectorBlob(vector),
        ).changes;
      }
      return stored;
    });
  }

  hasVectorTable(): boolean {
    return this.db.get(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, VECTOR_TABLE) !== undefined;
  }

  // Scopes and passages

  /** SQL for the ids of the scope's documents that can be searched (status 'indexed', unless anyStatus), with its parameters. */
  scopeDocumentsSql(scope: DocScope): { sql: string; params: SqlValue[] } {
    const { sql, params } = searchable(scope);
    return { sql: `SELECT d.id FROM documents d WHERE ${sql}`, params };
  }

  /** The scope's searchable chunks, counted. */
  scopeChunkCount(scope: DocScope): number {
    const { sql, params } = searchable(scope);
    const count = `SELECT total(d.last_chunk - d.first_chunk + 1) AS n FROM documents d WHERE ${sql}`;
    return this.db.get<{ n: number }>(count, ...params)?.n ?? 0;
  }

  /** The chunks with these ids, in the order given (ids that are gone are left out). */
  chunks(ids: number[]): ChunkPassage[] {
    if (ids.length === 0) return [];
    const rows = this.db.all<ChunkRow>(
      `SELECT ${CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.rowid IN (SELECT value FROM json_each(?))`,
      JSON.stringify(ids),
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      return row ? [toPassage(row)] : [];
    });
  }

  /** Every chunk of the scope's searchable documents in reading order (to give them whole); null when they hold over `maxTokens`. */
  allChunks(scope: DocScope, maxTokens = Number.MAX_SAFE_INTEGER): ChunkPassage[] | null {
    const { sql, params } = this.scopeDocumentsSql(scope);
    const total = this.db.get<{ n: number | null }>(`SELECT sum(tokens) AS n FROM chunks WHERE document_id IN (${sql})`, ...params);
    if ((total?.n ?? 0) > maxTokens) return null;
    const order = 'ORDER BY d.added_at, d.rowid, c.ordinal';
    const rows = this.db.all<ChunkRow>(
      `SELECT ${CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.document_id IN (${sql}) ${order}`,
      ...params,
    );
    return rows.map(toPassage);
  }

  private meta(key: string): string | undefined {
    return this.db.get<{ value: string }>('SELECT value FROM docs_meta WHERE key = ?', key)?.value;
  }

  private setMeta(key: string, value: string): void {
    this.db.run('INSERT INTO docs_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
  }
}
