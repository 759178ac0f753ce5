/**
 * bench documents: chat with your documents' storage and retrieval.
 *
 * ingest_ratio: a generated Markdown corpus indexed end to end (read, parse,
 *   chunk, store with keywords, embed, store the vectors) in chunks a second,
 *   over the embedding function's own chunks a second on the same chunks in
 *   the same batches: 1.0 means the pipeline costs nothing beside the embedder.
 * query_ms_10k, query_ms_100k: the median hybrid search (keywords and a
 *   384-dimension vector, fused) over a collection of 10,000 and 100,000
 *   chunks with random vectors (clustered, as embeddings are), so the
 *   vector index is used, not a scan.
 * bytes_per_chunk: the 100k database file's growth (chunks, keywords, vectors
 *   and their index) over its chunks.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteDatabase } from '../chat/sqlite';
import { chunkSections } from '../docs/chunker';
import { DOCUMENTS_MIGRATION, VECTOR_INDEX_OPTIONS } from '../docs/doc-schema';
import { DocumentStore } from '../docs/doc-store';
import { search } from '../docs/hybrid';
import { parseDocument } from '../docs/parse';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { median } from './bench-host';

export type EmbedFn = (texts: string[]) => Promise<Float32Array[]>;

export interface DocumentsBenchOptions {
  embed: EmbedFn;
  dims: number;
  /** Shown in the report (the model, or "hash stand-in"). */
  embedderName?: string;
  /** Markdown files in the ingest corpus (about 10 chunks each). */
  files?: number;
  /** Ingest rounds (pipeline and embedder alone, alternated); the median ratio is reported. */
  rounds?: number;
  /** Texts per embedding call, as the app batches them. */
  batch?: number;
  /** Collection sizes for query_ms_<n/1000>k. */
  sizes?: number[];
  queries?: number;
  /** Dimension of the random vectors of the query benchmark. */
  queryDims?: number;
  log?: (line: string) => void;
}

export interface DocumentsBenchResult {
  ingestRatio: number;
  queryMs: Record<number, number>;
  bytesPerChunk: number;
  line: string;
}

/** A deterministic generator (mulberry32), so every run builds the same corpus. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = 'ka lo mi ra ten vo sha pel dur in gra mo fen bis tal or qua zen li nu'.split(' ');

/** Words drawn with a Zipf-like skew over a 3,000-word vocabulary, as in prose. */
function wordSource(rand: () => number): () => string {
  const vocabulary = Array.from({ length: 3000 }, (_, i) => {
    let word = '';
    for (let n = i + 1; n > 0; n = Math.floor(n / SYLLABLES.length)) word += SYLLABLES[n % SYLLABLES.length];
    return word;
  });
  return () => vocabulary[Math.min(vocabulary.length - 1, Math.floor(Math.exp(rand() * Math.log(vocabulary.length + 1)) - 1))]!;
}

function sentence(word: () => string, rand: () => number): string {
  const words = Array.from({ length: 8 + Math.floor(rand() * 14) }, word);
  return `${words[0]![0]!.toUpperCase()}${words.join(' ').slice(1)}.`;
}

/** A Markdown file of headings, paragraphs, a list, a code block and a table: about `chunks` chunks' worth. */
function markdownFile(index: number, chunks: number): string {
  const rand = random(index + 1);
  const word = wordSource(rand);
  const lines = [`# Guide ${index}`, ''];
  let chars = 0;
  for (let section = 0; chars < chunks * 1500; section++) {
    lines.push(`## ${sentence(word, rand).slice(0, -1)}`, '');
    for (let p = 0; p < 3; p++) {
      const paragraph = Array.from({ length: 3 + Math.floor(rand() * 6) }, () => sentence(word, rand)).join(' ');
      lines.push(paragraph, '');
      chars += paragraph.length;
    }
    if (section % 3 === 1)
      lines.push('```js', ...Array.from({ length: 8 }, (_, i) => `  const ${word()}${i} = ${word()}(${i});`), '```', '');
    if (section % 4 === 2)
      lines.push('| name | value |', '| --- | --- |', ...Array.from({ length: 6 }, () => `| ${word()} | ${word()} |`), '');
    if (section % 2 === 0) lines.push(...Array.from({ length: 4 }, () => `- ${sentence(word, rand)}`), '');
  }
  return lines.join('\n');
}

/** The app's chat database settings, with the documents' tables. */
function openStore(file: string): DocumentStore {
  const db = new SqliteDatabase(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.exec(DOCUMENTS_MIGRATION);
  return new DocumentStore(db);
}

/** The app's indexing path, file by file, then the vectors in batches; returns the chunks and the time spent inside `embed`. */
async function ingest(files: string[], store: DocumentStore, embed: EmbedFn, dims: number, batch: number) {
  store.setEmbeddingModel('bench', dims);
  let chunks = 0;
  let embedMs = 0;
  for (const file of files) {
    const name = path.basename(file);
    const bytes = readFileSync(file);
    const parsed = await parseDocument(name, bytes);
    const id = store.addDocument({ name, path: file, format: parsed.format, bytes: bytes.length });
    store.setStatus(id, 'indexing');
    chunks += store.replaceChunks(id, chunkSections(parsed.sections), { status: 'indexed', pages: parsed.pages ?? null }).length;
  }
  for (;;) {
    const missing = store.missingVectors(batch);
    if (missing.length === 0) break;
    const start = performance.now();
    const vectors = await embed(missing.map((c) => c.text));
    embedMs += performance.now() - start;
    store.putVectors(missing.map((c, i) => ({ chunkId: c.chunkId, vector: vectors[i]! })));
  }
  return { chunks, embedMs };
}

/**
 * Rounds of the pipeline and of the embedder alone on the same chunks, in
 * alternating order (AB, BA, …) so that neither always runs on a warmer or a
 * busier machine; the median of the rounds' ratios.
 */
async function ingestRatio(dir: string, options: DocumentsBenchOptions, log: (line: string) => void): Promise<number> {
  const batch = options.batch ?? 32;
  const files = Array.from({ length: options.files ?? 8 }, (_, i) => {
    const file = path.join(dir, `guide-${i}.md`);
    writeFileSync(file, markdownFile(i, 10));
    return file;
  });
  const texts: string[] = [];
  for (const file of files)
    texts.push(...chunkSections((await parseDocument(path.basename(file), readFileSync(file))).sections).map((c) => c.text));
  await options.embed(texts.slice(0, batch)); // warm-up
  const alone = async () => {
    const start = performance.now();
    for (let i = 0; i < texts.length; i += batch) await options.embed(texts.slice(i, i + batch));
    return performance.now() - start;
  };
  const pipeline = async (round: number) => {
    const file = path.join(dir, `ingest-${round}.sqlite`);
    const store = openStore(file);
    const start = performance.now();
    const result = await ingest(files, store, options.embed, options.dims, batch);
    const ms = performance.now() - start;
    store.db.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
    return { ms, ...result };
  };
  const ratios: number[] = [];
  for (let round = 0; round < (options.rounds ?? 3); round++) {
    let embedMs: number;
    let run: Awaited<ReturnType<typeof pipeline>>;
    if (round % 2 === 0) {
      embedMs = await alone();
      run = await pipeline(round);
    } else {
      run = await pipeline(round);
      embedMs = await alone();
    }
    ratios.push(embedMs / run.ms);
    const rate = (n: number, ms: number) => ((n / ms) * 1000).toFixed(1);
    log(
      `documents ingest: ${run.chunks} chunks from ${files.length} files; pipeline ${rate(run.chunks, run.ms)} chunks/s, embedder alone ${rate(texts.length, embedMs)} chunks/s; ` +
        `in the pipeline, ${(((run.ms - run.embedMs) / run.chunks) * 1000).toFixed(0)} µs a chunk outside the embedder (${((1 - run.embedMs / run.ms) * 100).toFixed(1)}%)`,
    );
  }
  return median(ratios);
}

/** Unit vectors around 64 centres: random, but clustered like embeddings (uniform noise in 384 dimensions has no near neighbours). */
function vectorSource(dims: number, rand: () => number): () => Float32Array {
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centres = Array.from({ length: 64 }, () => Float32Array.from({ length: dims }, gauss));
  return () => {
    const centre = centres[Math.floor(rand() * centres.length)]!;
    const v = Float32Array.from(centre, (c) => c + gauss() * 0.8);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
}

async function queryBench(dir: string, size: number, options: DocumentsBenchOptions, log: (line: string) => void) {
  const dims = options.queryDims ?? 384;
  const file = path.join(dir, `query-${size}.sqlite`);
  const store = openStore(file);
  store.setEmbeddingModel('bench-random', dims);
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const emptyBytes = statSync(file).size;
  const rand = random(size);
  const word = wordSource(rand);
  const nextVector = vectorSource(dims, rand);
  const collection = store.createCollection(`bench ${size}`);
  const perDocument = 100;
  const docsPerTransaction = 20;
  let start = performance.now();
  let vectorS = 0;
  for (let d = 0; d < size / perDocument; d += docsPerTransaction) {
    const ids = store.db.transaction(() =>
      Array.from({ length: Math.min(docsPerTransaction, size / perDocument - d) }, (_, k) => {
        const id = store.addDocument({ name: `doc-${d + k}.md`, format: 'markdown', collectionId: collection.id });
        const chunks = Array.from({ length: perDocument }, (_, ordinal) => {
          // About 400 tokens, the chunker's target.
          let text = '';
          while (text.length < 1500) text += sentence(word, rand) + ' ';
          return { ordinal, text: text.trim(), heading: `Part ${ordinal % 7}`, tokens: Math.ceil(text.length / 4) };
        });
        return store.replaceChunks(id, chunks, { status: 'indexed' });
      }),
    );
    const vectors = ids.flat().map((chunkId) => ({ chunkId, vector: nextVector() }));
    const before = performance.now();
    store.putVectors(vectors);
    vectorS += (performance.now() - before) / 1000;
  }
  const insertS = (performance.now() - start) / 1000;
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  const bytesPerChunk = (statSync(file).size - emptyBytes) / size;
  const scope = { collectionIds: [collection.id] };
  const queries = options.queries ?? 50;
  const times: number[] = [];
  for (let q = -5; q < queries; q++) {
    const query = Array.from({ length: 3 + Math.floor(rand() * 4) }, word).join(' ');
    const vector = nextVector();
    start = performance.now();
    const results = search(store, { query, vector, scope, limit: 6 });
    if (q >= 0) times.push(performance.now() - start);
    if (results.length === 0) throw new Error(`No results over ${size} chunks for “${query}”`);
  }
  store.db.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  const p50 = median(times);
  log(
    `documents query: ${size} chunks stored in ${insertS.toFixed(1)} s (${(size / insertS).toFixed(0)} chunks/s; vectors and their index ${vectorS.toFixed(1)} s), ${(bytesPerChunk / 1024).toFixed(1)} KiB a chunk; search p50 ${p50.toFixed(2)} ms, p90 ${[...times].sort((a, b) => a - b)[Math.floor(times.length * 0.9)]!.toFixed(2)} ms`,
  );
  return { p50, bytesPerChunk };
}

export async function runDocumentsBench(options: DocumentsBenchOptions): Promise<DocumentsBenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-bench-documents-'));
  try {
    log(`documents: embedder ${options.embedderName ?? 'given'} (${options.dims} dims); vector index ${VECTOR_INDEX_OPTIONS.join(', ')}`);
    const ratio = await ingestRatio(dir, options, log);
    const queryMs: Record<number, number> = {};
    let bytesPerChunk = 0;
    for (const size of options.sizes ?? [10_000, 100_000]) {
      const result = await queryBench(dir, size, options, log);
      queryMs[size] = result.p50;
      bytesPerChunk = result.bytesPerChunk;
    }
    const queries = Object.entries(queryMs)
      .map(([size, ms]) => `query_ms_${Number(size) / 1000}k ${ms.toFixed(2)}`)
      .join(' ');
    const line = `bench documents: ingest_ratio ${ratio.toFixed(3)} ${queries} bytes_per_chunk ${bytesPerChunk.toFixed(0)}`;
    log(line);
    return { ingestRatio: ratio, queryMs, bytesPerChunk, line };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A stand-in embedder for when no model is at hand: words hashed into `dims`
 * buckets, normalised. Fast, so the ratio it gives is the pipeline's cost over
 * almost nothing: a floor, not the figure a real model gives.
 */
export function hashEmbedder(dims = 64): EmbedFn {
  return async (texts) =>
    texts.map((text) => {
      const v = new Float32Array(dims);
      for (const w of text.toLowerCase().split(/[^\p{L}\p{N}]+/u)) {
        let h = 2166136261;
        for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619);
        v[(h >>> 0) % dims]! += 1;
      }
      const norm = Math.hypot(...v) || 1;
      return v.map((x) => x / norm);
    });
}

/** node-llama-cpp's embedding context on a GGUF model: one forward pass a text, as the app's embedding slot does. */
export async function llamaEmbedder(
  modelPath: string,
  threads: number,
): Promise<{ embed: EmbedFn; dims: number; dispose: () => Promise<void> }> {
  const llama = await getLlama({ gpu: false, build: 'never', maxThreads: threads, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createEmbeddingContext({ contextSize: Math.min(2048, model.trainContextSize), threads });
  const embed: EmbedFn = async (texts) => {
    const vectors: Float32Array[] = [];
    for (const text of texts) vectors.push(Float32Array.from((await context.getEmbeddingFor(text)).vector));
    return vectors;
  };
  return {
    embed,
    dims: model.embeddingVectorSize,
    dispose: async () => {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
