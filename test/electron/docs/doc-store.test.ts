import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChunkInput } from '../../../shared/documents';
import { SqliteDatabase } from '../../../electron/chat/sqlite';
import { documentOfChunk, DOCUMENTS_MIGRATION } from '../../../electron/docs/doc-schema';
import { DocumentStore } from '../../../electron/docs/doc-store';
import { tempDir } from '../../helpers/temp';

const dbs: SqliteDatabase[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

function open(): DocumentStore {
  const db = new SqliteDatabase(path.join(tempDir(), 'docs.sqlite'));
  dbs.push(db);
  db.exec('PRAGMA foreign_keys = ON');
  db.exec(DOCUMENTS_MIGRATION);
  return new DocumentStore(db);
}

const chunk = (ordinal: number, text: string, extra: Partial<ChunkInput> = {}): ChunkInput => ({
  ordinal,
  text,
  tokens: Math.ceil(text.length / 4),
  ...extra,
});

function vec(dims: number, seed: number): Float32Array {
  return Float32Array.from({ length: dims }, (_, i) => Math.sin(seed * 7.3 + i * 1.7));
}

/** FTS rows that match a word (external content: gone only if the delete trigger ran). */
const ftsHits = (store: DocumentStore, word: string) =>
  store.db.get<{ n: number }>('SELECT count(*) AS n FROM chunks_fts WHERE chunks_fts MATCH ?', `"${word}"`)!.n;
const vectorCount = (store: DocumentStore) => store.db.get<{ n: number }>('SELECT count(*) AS n FROM chunk_vectors')!.n;

function indexedDocument(store: DocumentStore, texts: string[], where: { collectionId?: string; conversationId?: string } = {}) {
  const id = store.addDocument({ name: `doc${texts[0]!.slice(0, 8)}.md`, format: 'markdown', ...where });
  const chunkIds = store.replaceChunks(
    id,
    texts.map((t, i) => chunk(i, t)),
    { status: 'indexed' },
  );
  return { id, chunkIds };
}

describe('document store', () => {
  it('creates, lists, renames and removes collections with their documents, chunks and vectors', () => {
    const store = open();
    const notes = store.createCollection('Notes', ['/home/me/notes']);
    const other = store.createCollection('Other');
    expect(() => store.createCollection('Notes')).toThrow(/already a collection/);
    const { chunkIds } = indexedDocument(store, ['alpha one', 'alpha two'], { collectionId: notes.id });
    indexedDocument(store, ['beta'], { collectionId: other.id });
    store.setEmbeddingModel('m', 4);
    store.putVectors(chunkIds.map((chunkId, i) => ({ chunkId, vector: vec(4, i) })));
    expect(store.collections().map((c) => [c.name, c.folders, c.documents, c.chunks])).toEqual([
      ['Notes', ['/home/me/notes'], 1, 2],
      ['Other', [], 1, 1],
    ]);
    store.renameCollection(other.id, 'Archive');
    expect(() => store.renameCollection(other.id, 'Notes')).toThrow(/already/);
    store.setConversationCollections('chat1', [notes.id, other.id]);

    expect(store.removeCollection(notes.id)).toBe(true);
    expect(store.collections().map((c) => c.name)).toEqual(['Archive']);
    expect(store.documents().map((d) => d.name)).toEqual(['docbeta.md']);
    expect(ftsHits(store, 'alpha')).toBe(0);
    expect(vectorCount(store)).toBe(0);
    expect(store.conversationCollections('chat1')).toEqual([other.id]);
  });

  it('gives a file added again to the same collection or conversation its existing id', () => {
    const store = open();
    const c = store.createCollection('C');
    const a = store.addDocument({ name: 'a.md', path: '/x/a.md', format: 'markdown', collectionId: c.id });
    expect(store.addDocument({ name: 'a.md', path: '/x/a.md', format: 'markdown', collectionId: c.id })).toBe(a);
    const inChat = store.addDocument({ name: 'a.md', path: '/x/a.md', format: 'markdown', conversationId: 'chat' });
    expect(inChat).not.toBe(a);
    expect(store.addDocument({ name: 'a.md', path: '/x/a.md', format: 'markdown', conversationId: 'chat' })).toBe(inChat);
    expect(store.document(a)).toMatchObject({ status: 'queued', collectionId: c.id, conversationId: null, chunks: 0, embedded: 0 });
    expect(() => store.addDocument({ name: 'b', path: '/b', format: 'text', collectionId: 'nope' })).toThrow(/No collection/);
  });

  it('replaces chunks in one transaction: a bad chunk midway leaves the old chunks, keywords and vectors', () => {
    const store = open();
    const { id, chunkIds } = indexedDocument(store, ['original apple text', 'original pear text']);
    store.setEmbeddingModel('m', 4);
    store.putVectors(chunkIds.map((chunkId, i) => ({ chunkId, vector: vec(4, i) })));
    const bad = [chunk(0, 'replacement kiwi'), { ordinal: 1, text: null, tokens: 1 } as unknown as ChunkInput, chunk(2, 'more kiwi')];
    expect(() => store.replaceChunks(id, bad, { status: 'failed' })).toThrow();
    expect(store.allChunks({ documentIds: [id] })!.map((c) => c.text)).toEqual(['original apple text', 'original pear text']);
    expect(ftsHits(store, 'apple')).toBe(1);
    expect(ftsHits(store, 'kiwi')).toBe(0);
    expect(store.document(id)).toMatchObject({ status: 'indexed', chunks: 2, embedded: 2 });

    // A good replacement drops the old chunks' keywords and vectors.
    store.replaceChunks(id, [chunk(0, 'replacement kiwi', { page: 3, heading: 'Fruit' })]);
    expect(ftsHits(store, 'apple')).toBe(0);
    expect(ftsHits(store, 'kiwi')).toBe(1);
    expect(vectorCount(store)).toBe(0);
    expect(store.document(id)).toMatchObject({ chunks: 1, embedded: 0, tokens: 4 });
    expect(store.allChunks({ documentIds: [id] })).toMatchObject([{ text: 'replacement kiwi', page: 3, heading: 'Fruit', ordinal: 0 }]);
  });

  it('removes a document with its chunks, their FTS rows and vectors', () => {
    const store = open();
    const kept = indexedDocument(store, ['keep this mango']);
    const gone = indexedDocument(store, ['remove this papaya', 'and this papaya too']);
    store.setEmbeddingModel('m', 4);
    store.putVectors([...kept.chunkIds, ...gone.chunkIds].map((chunkId, i) => ({ chunkId, vector: vec(4, i) })));
    expect(store.removeDocument(gone.id)).toBe(true);
    expect(store.removeDocument(gone.id)).toBe(false);
    expect(store.db.get<{ n: number }>('SELECT count(*) AS n FROM chunks')!.n).toBe(1);
    expect(ftsHits(store, 'papaya')).toBe(0);
    expect(ftsHits(store, 'mango')).toBe(1);
    expect(store.db.all<{ chunk_id: number }>('SELECT chunk_id FROM chunk_vectors').map((r) => r.chunk_id)).toEqual(kept.chunkIds);
    // The FTS index agrees with its content table.
    store.db.exec(`INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 1)`);
  });

  it('removes the documents of a deleted conversation and its choice of collections', () => {
    const store = open();
    const c = store.createCollection('C');
    indexedDocument(store, ['in chat one'], { conversationId: 'one' });
    indexedDocument(store, ['in chat two'], { conversationId: 'two' });
    store.setConversationCollections('one', [c.id]);
    expect(store.removeConversationDocuments('one')).toBe(1);
    expect(store.documents().map((d) => d.conversationId)).toEqual(['two']);
    expect(store.conversationCollections('one')).toEqual([]);
    expect(() => store.setConversationCollections('two', ['missing'])).toThrow(/No collection/);
  });

  it('resets every vector when the embedding model or its dimension changes', () => {
    const store = open();
    const { id, chunkIds } = indexedDocument(store, ['one', 'two', 'three']);
    expect(store.embeddingModel()).toBeNull();
    expect(store.missingVectorCount()).toBe(3);
    expect(store.missingVectors(10).map((c) => c.chunkId)).toEqual(chunkIds);
    expect(store.setEmbeddingModel('small', 4)).toBe(true);
    expect(store.setEmbeddingModel('small', 4)).toBe(false);
    expect(store.putVectors(chunkIds.map((chunkId, i) => ({ chunkId, vector: vec(4, i) })))).toBe(3);
    expect(store.missingVectors(10)).toEqual([]);
    expect(store.missingVectorCount()).toBe(0);
    expect(() => store.putVectors([{ chunkId: chunkIds[0]!, vector: vec(8, 0) }])).toThrow(/8 dimensions, not 4/);

    expect(store.setEmbeddingModel('small', 8)).toBe(true);
    expect(store.embeddingModel()).toEqual({ key: 'small', dims: 8 });
    expect(vectorCount(store)).toBe(0);
    expect(store.missingVectors(10)).toEqual(
      chunkIds.map((chunkId, i) => ({ chunkId, documentId: expect.any(String), text: ['one', 'two', 'three'][i] })),
    );
    expect(store.missingVectors(2).length).toBe(2);
    store.putVectors([{ chunkId: chunkIds[0]!, vector: vec(8, 0) }]);
    expect(store.missingVectorCount(id)).toBe(2);
    expect(store.document(id)).toMatchObject({ chunks: 3, embedded: 1 });
    expect(store.setEmbeddingModel('other', 8)).toBe(true);
    expect(store.missingVectorCount()).toBe(3);

    store.clearEmbeddingModel();
    expect(store.embeddingModel()).toBeNull();
    expect(store.embeddingDeclined()).toBe(true);
    expect(() => store.putVectors([{ chunkId: chunkIds[0]!, vector: vec(8, 0) }])).toThrow(/No embedding model/);
    store.setEmbeddingModel('again', 4);
    expect(store.embeddingDeclined()).toBe(false);
  });

  it('skips the vector of a chunk deleted since it was read, and replaces a vector stored twice', () => {
    const store = open();
    const { id, chunkIds } = indexedDocument(store, ['a', 'b']);
    store.setEmbeddingModel('m', 4);
    const batch = store.missingVectors(10);
    store.replaceChunks(id, [chunk(0, 'c')]);
    expect(store.putVectors(batch.map((c, i) => ({ chunkId: c.chunkId, vector: vec(4, i) })))).toBe(0);
    const [fresh] = store.missingVectors(10);
    expect(chunkIds).not.toContain(fresh!.chunkId);
    store.putVectors([{ chunkId: fresh!.chunkId, vector: vec(4, 1) }]);
    store.putVectors([{ chunkId: fresh!.chunkId, vector: vec(4, 2) }]);
    expect(vectorCount(store)).toBe(1);
    expect(store.document(id)).toMatchObject({ chunks: 1, embedded: 1 });
  });

  it('lists unfinished documents for resuming, and resolves scopes', () => {
    const store = open();
    const c = store.createCollection('C');
    const inCollection = indexedDocument(store, ['collected'], { collectionId: c.id }).id;
    const attached = indexedDocument(store, ['attached'], { conversationId: 'chat' }).id;
    const loose = indexedDocument(store, ['loose']).id;
    const queued = store.addDocument({ name: 'q.md', format: 'markdown', conversationId: 'chat' });
    const indexing = store.addDocument({ name: 'i.md', format: 'markdown', collectionId: c.id });
    store.setStatus(indexing, 'indexing');
    store.setStatus(loose, 'failed', 'broken');
    expect(store.unfinished().map((d) => d.id)).toEqual([queued, indexing]);
    expect(store.document(loose)).toMatchObject({ status: 'failed', error: 'broken' });

    expect(store.documents({ conversationId: 'chat' }).map((d) => d.id)).toEqual([attached, queued]);
    expect(store.documents({}).length).toBe(5);
    expect(store.documents({ documentIds: [] }).length).toBe(0);
    const scope = { documentIds: [loose], collectionIds: [c.id], conversationId: 'chat' };
    // Searches cover indexed documents only.
    expect(store.allChunks(scope)!.map((p) => p.documentId)).toEqual([inCollection, attached]);
    expect(store.scopeChunkCount(scope)).toBe(2);
    expect(store.allChunks({ ...scope, anyStatus: true })!.map((p) => p.documentId)).toEqual([inCollection, attached, loose]);
    expect(store.allChunks(scope, 1)).toBeNull();
    expect(store.conversationScope('chat')).toEqual({ conversationId: 'chat', collectionIds: [] });
  });

  it('finds each chunk’s document by its rowid range, through replacements and removals', () => {
    const store = open();
    const a = indexedDocument(store, ['a1', 'a2', 'a3']);
    const b = indexedDocument(store, ['b1', 'b2']);
    store.replaceChunks(a.id, [chunk(0, 'a4'), chunk(1, 'a5')]);
    const c = indexedDocument(store, ['c1']);
    store.replaceChunks(b.id, []);
    store.replaceChunks(b.id, [chunk(0, 'b3')]);
    store.removeDocument(c.id);
    indexedDocument(store, ['d1', 'd2']);
    const rows = store.db.all<{ document_id: string; found: string }>(
      `SELECT document_id, ${documentOfChunk('chunks.rowid')} AS found FROM chunks`,
    );
    expect(rows.length).toBe(5);
    for (const row of rows) expect(row.found).toBe(row.document_id);
    expect(store.scopeChunkCount({})).toBe(5);
    expect(store.scopeChunkCount({ documentIds: [a.id, b.id] })).toBe(3);
  });

  it('returns chunks by id in the order asked, with their document names', () => {
    const store = open();
    const { id, chunkIds } = indexedDocument(store, ['first', 'second']);
    store.updateFile(id, 10, 1234);
    expect(store.chunks([chunkIds[1]!, 999, chunkIds[0]!]).map((p) => [p.text, p.documentId, p.name])).toEqual([
      ['second', id, 'docfirst.md'],
      ['first', id, 'docfirst.md'],
    ]);
    expect(store.document(id)!.bytes).toBe(10);
  });
});
