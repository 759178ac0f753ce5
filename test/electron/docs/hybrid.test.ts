import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteDatabase } from '../../../electron/chat/sqlite';
import { DOCUMENTS_MIGRATION } from '../../../electron/docs/doc-schema';
import { DocumentStore } from '../../../electron/docs/doc-store';
import {
  COMMON_MATCHES,
  EXACT_SCAN_MAX,
  ftsQuery,
  keywordSearch,
  reciprocalRankFusion,
  search,
  vectorSearch,
} from '../../../electron/docs/hybrid';
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

const ids = (...list: number[]) => list.map((id) => ({ id }));

/** A deterministic pseudo-random vector (xorshift). */
function vec(dims: number, seed: number): Float32Array {
  let x = (seed * 2654435761) >>> 0 || 1;
  return Float32Array.from({ length: dims }, () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) / 2 ** 32) * 2 - 1;
  });
}

function addDocument(store: DocumentStore, texts: string[], where: { collectionId?: string; conversationId?: string }, seed: number) {
  const id = store.addDocument({ name: `d${seed}.md`, format: 'markdown', ...where });
  const chunkIds = store.replaceChunks(
    id,
    texts.map((text, ordinal) => ({ ordinal, text, tokens: Math.ceil(text.length / 4) })),
    { status: 'indexed' },
  );
  store.putVectors(chunkIds.map((chunkId, i) => ({ chunkId, vector: vec(16, seed * 100_000 + i) })));
  return { id, chunkIds };
}

describe('reciprocal rank fusion', () => {
  it('ranks an id found well in both lists above one found first in only one', () => {
    const fused = reciprocalRankFusion([ids(1, 2, 3), ids(4, 2, 5)]);
    expect(fused[0]).toMatchObject({ id: 2, ranks: [2, 2] });
    expect(fused[0]!.score).toBeCloseTo(2 / 62);
    expect(fused.map((f) => f.id).slice(1, 3)).toEqual([1, 4]);
    expect(fused.find((f) => f.id === 5)!.ranks).toEqual([0, 3]);
  });

  it('breaks ties by best rank, then by the earlier list, then by id, whatever the input order', () => {
    expect(reciprocalRankFusion([ids(7), ids(3)]).map((f) => f.id)).toEqual([7, 3]);
    expect(reciprocalRankFusion([ids(3), ids(7)]).map((f) => f.id)).toEqual([3, 7]);
    // Equal scores (k = 0: 1/3 + 1/6 = 1/4 + 1/4): the better best rank first.
    const tied = reciprocalRankFusion([ids(10, 11, 30, 40), ids(12, 13, 14, 40, 15, 30)], 0);
    expect(tied.find((f) => f.id === 30)!.score).toBe(tied.find((f) => f.id === 40)!.score);
    expect(tied.map((f) => f.id).indexOf(30)).toBe(tied.map((f) => f.id).indexOf(40) - 1);
    // Not a tie: 1/61 + 1/64 < 2/62.
    expect(reciprocalRankFusion([ids(9, 8), ids(1, 8, 2, 9)])[0]!.id).toBe(8);
    expect(reciprocalRankFusion([])).toEqual([]);
    // An id listed twice in one list counts once, at its first place.
    expect(reciprocalRankFusion([ids(5, 5, 6)]).map((f) => [f.id, f.ranks[0]])).toEqual([
      [5, 1],
      [6, 3],
    ]);
  });

  it('weighs agreement less as k shrinks', () => {
    // 1: first in one list; 2: third in both.
    const lists = [ids(1, 3, 2), ids(4, 5, 2)];
    expect(reciprocalRankFusion(lists)[0]!.id).toBe(2);
    expect(reciprocalRankFusion(lists, 0)[0]!.id).toBe(1);
    expect(reciprocalRankFusion(lists, 0)[0]!.score).toBe(1);
  });
});

describe('keyword search', () => {
  it('makes a safe FTS5 query from any text', () => {
    expect(ftsQuery('How do I install on Linux?')).toBe('"install" OR "linux"');
    expect(ftsQuery('"foo')).toBe('"foo"');
    expect(ftsQuery('AND(')).toBe('"and"');
    expect(ftsQuery('the of')).toBe('"the" OR "of"');
    expect(ftsQuery('  *:^()"" - + ')).toBeNull();
    expect(ftsQuery('')).toBeNull();
  });

  it('never throws on hostile text, and still finds the words in it', () => {
    const store = open();
    store.setEmbeddingModel('m', 16);
    const { chunkIds } = addDocument(store, ['The foo widget explodes near the bar.', 'Nothing to see.'], { conversationId: 'c' }, 1);
    const scope = { conversationId: 'c' };
    const hostile = [
      '"foo',
      'AND(',
      'foo AND',
      'NEAR(foo bar)',
      'foo*',
      'text:foo',
      '^foo',
      "foo'; DROP TABLE chunks; --",
      '(((',
      'NOT',
      '🙂 foo',
    ];
    for (const query of hostile) {
      expect(() => keywordSearch(store, query, scope, 5)).not.toThrow();
      expect(() => search(store, { query, scope })).not.toThrow();
    }
    expect(keywordSearch(store, '"foo', scope, 5)).toEqual([chunkIds[0]]);
    expect(keywordSearch(store, 'NEAR(foo bar)', scope, 5)).toEqual([chunkIds[0]]);
    // Stemmed: "exploding" finds "explodes".
    expect(keywordSearch(store, 'exploding', scope, 5)).toEqual([chunkIds[0]]);
    expect(store.db.get<{ n: number }>('SELECT count(*) AS n FROM chunks')!.n).toBe(2);
  });

  it('leaves out a word found in very many chunks when the query has rarer ones, and still answers a query of common words alone', () => {
    const store = open();
    const id = store.addDocument({ name: 'big.md', format: 'markdown', conversationId: 'c' });
    const texts = Array.from({ length: COMMON_MATCHES + 100 }, (_, i) => (i === 777 ? 'common and rare' : `common filler ${i}`));
    const chunkIds = store.replaceChunks(
      id,
      texts.map((text, ordinal) => ({ ordinal, text, tokens: 4 })),
      { status: 'indexed' },
    );
    const scope = { conversationId: 'c' };
    expect(keywordSearch(store, 'common rare', scope, 10)).toEqual([chunkIds[777]]);
    expect(keywordSearch(store, 'common', scope, 10)).toHaveLength(10);
  });

  it('searches by keywords alone without a query vector, or with one of another dimension', () => {
    const store = open();
    store.setEmbeddingModel('m', 16);
    const { chunkIds } = addDocument(store, ['alpha beta', 'gamma delta', 'beta gamma'], { conversationId: 'c' }, 2);
    const results = search(store, { query: 'gamma', scope: { conversationId: 'c' } });
    expect(results.map((r) => r.chunkId).sort()).toEqual([chunkIds[1], chunkIds[2]].sort());
    expect(results.every((r) => r.keywordRank && !r.vectorRank)).toBe(true);
    expect(search(store, { query: 'gamma', vector: vec(8, 1), scope: { conversationId: 'c' } }).length).toBe(2);
  });
});

describe('vector search', () => {
  it('finds the same top hit by the exact scan and through the index, and never returns a chunk outside the scope', () => {
    const store = open();
    store.setEmbeddingModel('m', 16);
    const big = store.createCollection('Big');
    const other = store.createCollection('Other');
    // Over EXACT_SCAN_MAX chunks in the big collection (the index path), in several documents.
    const docs = Array.from({ length: 6 }, (_, d) =>
      addDocument(
        store,
        Array.from({ length: 360 }, (_, i) => `chunk ${d}-${i} filler words`),
        { collectionId: big.id },
        10 + d,
      ),
    );
    const outside = addDocument(store, ['the needle outside', 'more outside'], { collectionId: other.id }, 99);
    expect(store.scopeChunkCount({ collectionIds: [big.id] })).toBeGreaterThan(EXACT_SCAN_MAX);

    const target = docs[3]!.chunkIds[123]!;
    const query = vec(16, 13 * 100_000 + 123);
    // Index path (the whole collection) and exact path (one document): the identical vector is first both ways.
    expect(vectorSearch(store, query, { collectionIds: [big.id] }, 5)[0]).toBe(target);
    expect(vectorSearch(store, query, { documentIds: [docs[3]!.id] }, 5)[0]).toBe(target);

    // A chunk outside the scope whose vector is the query itself is never returned, by either path.
    const outsideChunk = outside.chunkIds[0]!;
    store.putVectors([{ chunkId: outsideChunk, vector: query }]);
    const indexed = vectorSearch(store, query, { collectionIds: [big.id] }, 50);
    const scanned = vectorSearch(store, query, { documentIds: [docs[3]!.id] }, 50);
    expect(indexed).not.toContain(outsideChunk);
    expect(scanned).not.toContain(outsideChunk);
    expect(indexed[0]).toBe(target);
    expect(vectorSearch(store, query, { collectionIds: [other.id] }, 1)).toEqual([outsideChunk]);
    const hybrid = search(store, { query: 'needle outside', vector: query, scope: { collectionIds: [big.id] }, limit: 10 });
    expect(hybrid.map((r) => r.chunkId)).not.toContain(outsideChunk);
    expect(hybrid[0]).toMatchObject({ chunkId: target, vectorRank: 1, documentId: docs[3]!.id, name: 'd13.md' });

    // A scope whose vectors all point away from the query: the index's candidates may miss it, and an exact scan fills it.
    const away = store.createCollection('Away');
    const few = addDocument(
      store,
      Array.from({ length: 2100 }, (_, i) => `away ${i}`),
      { collectionId: away.id },
      50,
    );
    store.putVectors(few.chunkIds.map((chunkId, i) => ({ chunkId, vector: Float32Array.from(vec(16, i), (x, d) => (d === 0 ? -50 : x)) })));
    const east = Float32Array.from({ length: 16 }, (_, d) => (d === 0 ? 1 : 0));
    const found = vectorSearch(store, east, { collectionIds: [away.id] }, 20);
    expect(found).toHaveLength(20);
    expect(found.every((id) => few.chunkIds.includes(id))).toBe(true);
  });

  it('leaves out documents that are not indexed, and fuses keywords with vectors', () => {
    const store = open();
    store.setEmbeddingModel('m', 16);
    const a = addDocument(store, ['apples are red', 'bananas are yellow'], { conversationId: 'c' }, 3);
    const b = addDocument(store, ['apples again'], { conversationId: 'c' }, 4);
    store.setStatus(b.id, 'indexing');
    const results = search(store, { query: 'apples', vector: vec(16, 3 * 100_000 + 0), scope: { conversationId: 'c' } });
    expect(results.map((r) => r.chunkId)).toEqual([a.chunkIds[0], a.chunkIds[1]]);
    expect(results[0]).toMatchObject({ vectorRank: 1, keywordRank: 1, text: 'apples are red' });
    expect(results[0]!.score).toBeCloseTo(2 / 61);
  });
});
