/**
 * The documents' tables in the chat database: collections, documents, their
 * chunks with an FTS5 index, the collections a conversation searches, and
 * docs_meta (the embedding model the vectors came from). The vectors have a
 * table of their own, made at run time for the embedding model's dimension
 * (vectorTableDdl) and remade when the model changes. Also: how rows are
 * read into the contract's types, and scopes as SQL.
 */
import type { CollectionRecord, DocFormat, DocStatus, DocumentRecord } from '../../shared/documents';
import type { SqlValue } from '../chat/sqlite';

/** One migration: appended to the chat database's list (conversation-schema.ts). */
export const DOCUMENTS_MIGRATION = `CREATE TABLE collections (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     folders TEXT NOT NULL DEFAULT '[]',
     created_at TEXT NOT NULL
   );
   CREATE TABLE documents (
     id TEXT PRIMARY KEY,
     collection_id TEXT REFERENCES collections(id) ON DELETE CASCADE,
     conversation_id TEXT,
     name TEXT NOT NULL,
     path TEXT,
     format TEXT NOT NULL,
     bytes INTEGER NOT NULL DEFAULT 0,
     mtime_ms INTEGER,
     sha256 TEXT,
     status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'indexing', 'indexed', 'failed', 'cancelled')),
     error TEXT,
     pages INTEGER,
     tokens INTEGER NOT NULL DEFAULT 0,
     first_chunk INTEGER,
     last_chunk INTEGER,
     added_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX documents_by_collection ON documents (collection_id);
   CREATE INDEX documents_by_last_chunk ON documents (last_chunk);
   CREATE INDEX documents_by_conversation ON documents (conversation_id);
   CREATE INDEX documents_by_path ON documents (path);
   CREATE INDEX documents_by_status ON documents (status);
   CREATE TABLE chunks (
     rowid INTEGER PRIMARY KEY AUTOINCREMENT,
     document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
     ordinal INTEGER NOT NULL,
     text TEXT NOT NULL,
     page INTEGER,
     heading TEXT,
     tokens INTEGER NOT NULL
   );
   CREATE INDEX chunks_by_document ON chunks (document_id, ordinal);
   CREATE VIRTUAL TABLE chunks_fts USING fts5 (
     text, heading, content = 'chunks', content_rowid = 'rowid', tokenize = 'porter unicode61 remove_diacritics 2'
   );
   CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
     INSERT INTO chunks_fts (rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
   END;
   CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
     INSERT INTO chunks_fts (chunks_fts, rowid, text, heading) VALUES ('delete', old.rowid, old.text, old.heading);
   END;
   CREATE TRIGGER chunks_au AFTER UPDATE OF text, heading ON chunks BEGIN
     INSERT INTO chunks_fts (chunks_fts, rowid, text, heading) VALUES ('delete', old.rowid, old.text, old.heading);
     INSERT INTO chunks_fts (rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
   END;
   CREATE TABLE conversation_collections (
     conversation_id TEXT NOT NULL,
     collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
     PRIMARY KEY (conversation_id, collection_id)
   );
   CREATE INDEX conversation_collections_by_collection ON conversation_collections (collection_id);
   CREATE TABLE docs_meta (
     key TEXT PRIMARY KEY,
     value TEXT NOT NULL
   );`;

export const VECTOR_TABLE = 'chunk_vectors';
export const VECTOR_INDEX = 'chunk_vectors_idx';

/**
 * How many candidates the index keeps while searching (DiskANN's L): also the
 * most rows vector_top_k returns, whatever k it is asked for.
 */
export const VECTOR_SEARCH_L = 128;

/**
 * libsql's DiskANN settings. Its defaults keep each neighbour as a full float32
 * vector: about 80 KB a chunk at 384 dimensions and ~20 ms an insert once the
 * graph holds 10,000. One bit a dimension for the neighbours (the search still
 * ranks by the full vectors, and search() re-ranks exactly), 32 neighbours and
 * a short insert search make an insert ~1 ms and a query ~2 ms, with recall@10
 * 0.99 on clustered vectors (measured at 10,000, 384 dims; 16 neighbours: 0.57).
 * Each vector then takes a 4 KiB index block beside its own 1.5 KiB.
 */
export const VECTOR_INDEX_OPTIONS = [
  'metric=cosine',
  'compress_neighbors=float1bit',
  'max_neighbors=32',
  'insert_l=16',
  `search_l=${VECTOR_SEARCH_L}`,
] as const;

/** The vectors' ids alone, small: which chunks have a vector is counted here, not in 1.5 KiB rows. */
export const VECTOR_IDS_INDEX_DDL = `CREATE INDEX IF NOT EXISTS chunk_vectors_ids ON ${VECTOR_TABLE} (chunk_id);`;

/** Statements that drop the vectors, their index and the trigger that deletes a chunk's vector with it. */
export const DROP_VECTORS_DDL = `DROP TRIGGER IF EXISTS chunks_vector_ad;
   DROP INDEX IF EXISTS ${VECTOR_INDEX};
   DROP TABLE IF EXISTS ${VECTOR_TABLE};`;

/** The vectors' table for `dims` dimensions, its index, and the trigger that deletes a chunk's vector with the chunk. */
export function vectorTableDdl(dims: number): string {
  if (!Number.isInteger(dims) || dims < 1 || dims > 65536) throw new RangeError(`Bad embedding dimension: ${dims}`);
  const options = VECTOR_INDEX_OPTIONS.map((o) => `'${o}'`).join(', ');
  return `CREATE TABLE ${VECTOR_TABLE} (
     chunk_id INTEGER PRIMARY KEY,
     embedding F32_BLOB(${dims}) NOT NULL
   );
   CREATE INDEX ${VECTOR_INDEX} ON ${VECTOR_TABLE} (libsql_vector_idx(embedding, ${options}));
   ${VECTOR_IDS_INDEX_DDL}
   CREATE TRIGGER chunks_vector_ad AFTER DELETE ON chunks BEGIN
     DELETE FROM ${VECTOR_TABLE} WHERE chunk_id = old.rowid;
   END;`;
}

/**
 * What a search or a listing covers: the union of these documents, the
 * collections' documents and the conversation's own (`{}`, with none of the
 * three: every document; an empty list adds nothing). A search covers the
 * documents that are indexed, or all of them with `anyStatus`.
 */
export interface DocScope {
  documentIds?: string[];
  collectionIds?: string[];
  conversationId?: string;
  anyStatus?: boolean;
}

/**
 * The id of the document that a chunk's rowid (an SQL expression) belongs to.
 * A document's chunks are inserted together (replaceChunks), so their rowids
 * run from its first_chunk to its last_chunk, after every rowid before them:
 * the first document whose last_chunk is not below the rowid is its own. An
 * index seek in the small documents table, where reading the chunk's row (its
 * text beside it) would be a random read in the largest table.
 */
export function documentOfChunk(rowid: string): string {
  return `(SELECT x.id FROM documents x WHERE x.last_chunk >= ${rowid} ORDER BY x.last_chunk LIMIT 1)`;
}

/** A condition on `documents d` for a scope. */
export function scopeCondition(scope: DocScope): { sql: string; params: SqlValue[] } {
  const parts: string[] = [];
  const params: SqlValue[] = [];
  const add = (sql: string, value: SqlValue) => {
    parts.push(sql);
    params.push(value);
  };
  if (scope.documentIds?.length) add('d.id IN (SELECT value FROM json_each(?))', JSON.stringify(scope.documentIds));
  if (scope.collectionIds?.length) add('d.collection_id IN (SELECT value FROM json_each(?))', JSON.stringify(scope.collectionIds));
  if (scope.conversationId !== undefined) add('d.conversation_id = ?', scope.conversationId);
  const everything = scope.documentIds === undefined && scope.collectionIds === undefined && scope.conversationId === undefined;
  return { sql: parts.length ? `(${parts.join(' OR ')})` : everything ? '1' : '0', params };
}

export interface NewDocument {
  name: string;
  path?: string | null;
  format: DocFormat;
  bytes?: number;
  mtimeMs?: number | null;
  sha256?: string | null;
  collectionId?: string | null;
  conversationId?: string | null;
}

/** A document's file as it was when added or last indexed (to tell whether it changed). */
export interface DocumentFile {
  id: string;
  path: string | null;
  bytes: number;
  mtimeMs: number | null;
  sha256: string | null;
}

export interface VectorRow {
  chunkId: number;
  vector: Float32Array;
}

/** A chunk with the name of its document: what a passage is made of. */
export interface ChunkPassage {
  chunkId: number;
  documentId: string;
  name: string;
  ordinal: number;
  page?: number;
  heading?: string;
  text: string;
  tokens: number;
}

export interface DocumentRow {
  id: string;
  collection_id: string | null;
  conversation_id: string | null;
  name: string;
  path: string | null;
  format: DocFormat;
  bytes: number;
  status: DocStatus;
  error: string | null;
  pages: number | null;
  tokens: number;
  added_at: string;
  chunk_count: number;
  embedded_count: number;
}

export interface ChunkRow {
  id: number;
  document_id: string;
  name: string;
  ordinal: number;
  page: number | null;
  heading: string | null;
  text: string;
  tokens: number;
}

export interface CollectionRow {
  id: string;
  name: string;
  folders: string;
  created_at: string;
  documents: number;
  chunks: number;
}

/** Columns of `chunks c JOIN documents d` read into a ChunkRow. */
export const CHUNK_COLUMNS = 'c.rowid AS id, c.document_id, d.name, c.ordinal, c.page, c.heading, c.text, c.tokens';

export function toDocument(row: DocumentRow): DocumentRecord {
  return {
    id: row.id,
    name: row.name,
    path: row.path,
    format: row.format,
    bytes: row.bytes,
    status: row.status,
    error: row.error,
    collectionId: row.collection_id,
    conversationId: row.conversation_id,
    pages: row.pages,
    chunks: row.chunk_count,
    embedded: row.embedded_count,
    tokens: row.tokens,
    addedAt: row.added_at,
  };
}

export function toPassage(row: ChunkRow): ChunkPassage {
  return {
    chunkId: row.id,
    documentId: row.document_id,
    name: row.name,
    ordinal: row.ordinal,
    ...(row.page !== null ? { page: row.page } : {}),
    ...(row.heading ? { heading: row.heading } : {}),
    text: row.text,
    tokens: row.tokens,
  };
}

export function toCollection(row: CollectionRow): CollectionRecord {
  const folders: unknown = JSON.parse(row.folders);
  return {
    id: row.id,
    name: row.name,
    folders: Array.isArray(folders) ? folders.filter((f): f is string => typeof f === 'string') : [],
    documents: row.documents,
    chunks: row.chunks,
    createdAt: row.created_at,
  };
}

/** A Float32Array's bytes as a blob (no copy). */
export function vectorBlob(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}
