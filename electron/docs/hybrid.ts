/**
 * Hybrid search over the documents: FTS5 keywords (bm25) and vectors from
 * the embedding model, fused by reciprocal rank. Vectors are compared
 * exactly over a small scope; over a large one the DiskANN index gives
 * candidates (oversampled, as some may lie outside the scope), re-ranked by
 * their exact distance. Without a query vector, keywords alone. Neither reads
 * a chunk's row to learn its document (documentOfChunk), and keywords found
 * in very many chunks are left out when rarer ones remain (bm25 costs each
 * matching row).
 */
import type { SearchResult } from '../../shared/documents';
import type { SqlValue } from '../chat/sqlite';
import { documentOfChunk, VECTOR_INDEX, VECTOR_SEARCH_L, VECTOR_TABLE, vectorBlob, type DocScope } from './doc-schema';
import type { DocumentStore } from './doc-store';

export interface Fused {
  id: number;
  score: number;
  /** 1-based rank in each list, in the order of the lists; 0 where the id is not in that list. */
  ranks: number[];
}

/**
 * Reciprocal rank fusion: an id scores the sum over the lists of 1 / (k + rank).
 * Best first; equal scores go to the better best rank, then to the earlier list,
 * then to the smaller id.
 */
export function reciprocalRankFusion(lists: Array<Array<{ id: number }>>, k = 60): Fused[] {
  const fused = new Map<number, Fused>();
  lists.forEach((list, listIndex) => {
    const seen = new Set<number>();
    list.forEach(({ id }, index) => {
      if (seen.has(id)) return;
      seen.add(id);
      let entry = fused.get(id);
      if (!entry) fused.set(id, (entry = { id, score: 0, ranks: lists.map(() => 0) }));
      entry.ranks[listIndex] = index + 1;
      entry.score += 1 / (k + index + 1);
    });
  });
  const best = (f: Fused) => {
    let rank = Infinity;
    let list = Infinity;
    f.ranks.forEach((r, i) => {
      if (r > 0 && r < rank) [rank, list] = [r, i];
    });
    return { rank, list };
  };
  return [...fused.values()].sort((a, b) => {
    if (b.score !== a.score) return b.score - a.score;
    const [x, y] = [best(a), best(b)];
    return x.rank - y.rank || x.list - y.list || a.id - b.id;
  });
}

/** Words too common to search by (kept when the query has nothing else). */
const STOPWORDS = new Set(
  'a an and are as at be but by can do does for from has have how i if in into is it its me my no not of on or our so that the their them then there these they this to was we were what when where which who why will with you your'.split(
    ' ',
  ),
);
const MAX_TERMS = 16;
/** A word in this many chunks or more is left out of a query that has rarer ones: bm25 gives it little weight, and it costs every row. */
export const COMMON_MATCHES = 4000;
/** Rows bm25 ranks at most (a query of only common words over a large collection). */
const MAX_KEYWORD_ROWS = 10_000;

/** The query's words, each quoted (so `AND`, `NEAR`, `*`, `"`, `(`, `:` and `^` are only text), common words left out. */
function ftsTerms(text: string): string[] {
  const words = [...new Set(text.toLowerCase().split(/[^\p{L}\p{N}\p{M}]+/u))].filter(Boolean);
  const kept = words.filter((w) => !STOPWORDS.has(w));
  return (kept.length ? kept : words).slice(0, MAX_TERMS).map((w) => `"${w.replace(/"/g, '""')}"`);
}

/** An FTS5 query for free text: its words quoted and OR-ed; null when it has none. */
export function ftsQuery(text: string): string | null {
  const terms = ftsTerms(text);
  return terms.length ? terms.join(' OR ') : null;
}

/**
 * Chunk ids in the scope that match the words, best (bm25) first; never
 * throws on what a user typed. Words found in COMMON_MATCHES chunks or more
 * are dropped when rarer ones remain (counted cheaply, up to that many).
 */
export function keywordSearch(store: DocumentStore, text: string, scope: DocScope, limit: number): number[] {
  let terms = ftsTerms(text);
  if (terms.length === 0) return [];
  try {
    if (terms.length > 1) {
      const probe = 'SELECT count(*) AS n FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)';
      const rare = terms.filter((term) => store.db.get<{ n: number }>(probe, term, COMMON_MATCHES)!.n < COMMON_MATCHES);
      if (rare.length) terms = rare;
    }
    const { sql, params } = store.scopeDocumentsSql(scope);
    return store.db
      .all<{ id: number }>(
        `SELECT id FROM (
           SELECT rowid AS id, bm25(chunks_fts, 1.0, 0.5) AS score FROM chunks_fts
           WHERE chunks_fts MATCH ? AND ${documentOfChunk('chunks_fts.rowid')} IN (${sql}) LIMIT ${MAX_KEYWORD_ROWS}
         ) ORDER BY score, id LIMIT ?`,
        terms.join(' OR '),
        ...params,
        limit,
      )
      .map((r) => r.id);
  } catch {
    return [];
  }
}

/** Scopes up to this many chunks are compared exactly; above it, the index is asked. */
export const EXACT_SCAN_MAX = 2000;
/** A scope the index leaves short of results is scanned exactly if it holds no more than this. */
const FALLBACK_SCAN_MAX = 20_000;

/**
 * Chunk ids in the scope nearest the vector (cosine), nearest first; [] when
 * there are no vectors of its dimension. Over a large scope the index is asked
 * for all it gives (VECTOR_SEARCH_L: asking for more gives no more, and asking
 * for fewer costs the same search), which is oversampling for a scope that is
 * part of the index; the candidates in scope are re-ranked by exact distance.
 */
export function vectorSearch(store: DocumentStore, vector: Float32Array, scope: DocScope, limit: number): number[] {
  const model = store.embeddingModel();
  if (!model || model.dims !== vector.length || limit < 1) return [];
  const blob = vectorBlob(vector);
  const { sql, params } = store.scopeDocumentsSql(scope);
  const inScope = store.scopeChunkCount(scope);
  if (inScope === 0) return [];
  if (inScope <= EXACT_SCAN_MAX) return exactScan(store, blob, sql, params, limit);
  const rows = store.db.all<{ id: number; hit: number; d: number }>(
    `SELECT t.id AS id, ${documentOfChunk('t.id')} IN (${sql}) AS hit, vector_distance_cos(v.embedding, ?) AS d
     FROM vector_top_k('${VECTOR_INDEX}', ?, ?) t JOIN ${VECTOR_TABLE} v ON v.chunk_id = t.id`,
    ...params,
    blob,
    blob,
    Math.max(limit, VECTOR_SEARCH_L),
  );
  const hits = rows.filter((r) => r.hit === 1).sort((a, b) => a.d - b.d || a.id - b.id);
  // Too few in scope (a small part of a large index): an exact scan, where it is affordable.
  if (hits.length < limit && inScope <= FALLBACK_SCAN_MAX) return exactScan(store, blob, sql, params, limit);
  return hits.slice(0, limit).map((r) => r.id);
}

function exactScan(store: DocumentStore, blob: Buffer, scopeSql: string, params: SqlValue[], limit: number): number[] {
  return store.db
    .all<{ id: number }>(
      `SELECT c.rowid AS id FROM chunks c JOIN ${VECTOR_TABLE} v ON v.chunk_id = c.rowid
       WHERE c.document_id IN (${scopeSql}) ORDER BY vector_distance_cos(v.embedding, ?), c.rowid LIMIT ?`,
      ...params,
      blob,
      limit,
    )
    .map((r) => r.id);
}

export interface SearchOptions {
  query: string;
  /** The query's embedding from the current embedding model; keywords alone without it. */
  vector?: Float32Array;
  scope: DocScope;
  /** Results wanted (default 6). */
  limit?: number;
  /** Candidates taken from each list before fusion (default max(limit × 4, 30)). */
  candidates?: number;
}

/** The scope's best passages for a query, by keywords and vector fused (RRF), best first. */
export function search(store: DocumentStore, options: SearchOptions): SearchResult[] {
  const limit = Math.max(1, options.limit ?? 6);
  const candidates = Math.max(limit, options.candidates ?? Math.max(limit * 4, 30));
  const vectorIds = options.vector ? vectorSearch(store, options.vector, options.scope, candidates) : [];
  const keywordIds = keywordSearch(store, options.query, options.scope, candidates);
  const fused = reciprocalRankFusion([vectorIds.map((id) => ({ id })), keywordIds.map((id) => ({ id }))]).slice(0, limit);
  const passages = new Map(store.chunks(fused.map((f) => f.id)).map((p) => [p.chunkId, p]));
  return fused.flatMap((f) => {
    const p = passages.get(f.id);
    if (!p) return [];
    const [vectorRank, keywordRank] = f.ranks;
    return [
      {
        chunkId: p.chunkId,
        documentId: p.documentId,
        name: p.name,
        ...(p.page !== undefined ? { page: p.page } : {}),
        ...(p.heading ? { heading: p.heading } : {}),
        text: p.text,
        score: f.score,
        ...(vectorRank ? { vectorRank } : {}),
        ...(keywordRank ? { keywordRank } : {}),
      },
    ];
  });
}
