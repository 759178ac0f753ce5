/**
 * A larger model for the benchmarks, made here rather than downloaded: a
 * llama-architecture GGUF of about 0.68B parameters (24 blocks, embedding
 * 1536, 12 heads, feed-forward 4096) with random weights and stories260K's
 * tokenizer (512 tokens, so nearly every parameter is in the blocks). The
 * text it writes is nonsense; what it costs per token is that of a real model
 * of its size and quantization.
 *
 * Written once into a cache outside the checkout ($FREEHOLD_BENCH_CACHE, or
 * ~/.cache/freehold-bench), atomically (a temporary name, then a rename).
 * Quantized to Q4_K_M with llama.cpp's llama-quantize where one can be had:
 * on the PATH, already built in the cache, or built there from the llama.cpp
 * source node-llama-cpp bundles (the same cmake flags as the engines build).
 * Otherwise it is written as Q8_0 directly from here.
 *
 * Greedy decoding never ends it early: the output rows of the tokens that are
 * not plain text (<unk>, BOS, EOS, the 256 byte tokens) are zero, so their
 * logits are 0 while the largest of the other 253 random logits is positive.
 */
import { closeSync, existsSync, promises as fs, openSync, readFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tensorTypes } from '../formats/gguf-header';
import { GgufType, ggufScalarSize, ggufString } from '../formats/gguf-types';
import { findOrBuildQuantize, runQuiet } from './llama-quantize';

/** Bumped when the file it makes changes, so an old cached one is not reused. */
const GENERATION = 1;

export const BENCH_SHAPE = {
  embd: 1536,
  layers: 24,
  ff: 4096,
  heads: 12,
  headsKv: 12,
  context: 2048,
} as const;

/** Parameters in the bench model: the blocks, plus the embedding and output matrices and the norms. */
export function benchParameters(vocab = 512): number {
  const { embd, layers, ff, heads, headsKv } = BENCH_SHAPE;
  const kv = (embd / heads) * headsKv;
  const block = embd * embd * 2 + embd * kv * 2 + embd * ff * 3 + embd * 2;
  return layers * block + vocab * embd * 2 + embd;
}

export function benchCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.FREEHOLD_BENCH_CACHE ? path.resolve(env.FREEHOLD_BENCH_CACHE) : path.join(os.homedir(), '.cache', 'freehold-bench');
}

export interface BenchModel {
  path: string;
  quantization: 'Q4_K_M' | 'Q8_0';
  parameters: number;
  /** In words: how it was made (or that it was reused), and why not Q4_K_M where it is not. */
  note: string;
}

// ---------------------------------------------------------------- GGUF

/** The key-value pairs of a GGUF file, each with its bytes as stored (key included), to copy as they are. */
export function readGgufKv(file: string): Map<string, { raw: Buffer; type: GgufType; value: unknown }> {
  const buffer = readFileSync(file);
  if (buffer.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${file} is not a GGUF file.`);
  const version = buffer.readUInt32LE(4);
  if (version < 2) throw new Error(`${file}: GGUF version ${version} is not supported.`);
  const count = Number(buffer.readBigUInt64LE(16));
  let at = 24;
  const string = () => {
    const length = Number(buffer.readBigUInt64LE(at));
    const text = buffer.toString('utf8', at + 8, at + 8 + length);
    at += 8 + length;
    return text;
  };
  const skip = (type: GgufType): unknown => {
    if (type === GgufType.STRING) return string();
    if (type === GgufType.ARRAY) {
      const inner = buffer.readUInt32LE(at) as GgufType;
      const length = Number(buffer.readBigUInt64LE(at + 4));
      at += 12;
      const values: unknown[] = [];
      for (let i = 0; i < length; i++) values.push(skip(inner));
      return values;
    }
    const size = ggufScalarSize[type];
    if (size === undefined) throw new Error(`${file}: unknown GGUF value type ${type}.`);
    const value =
      type === GgufType.UINT32
        ? buffer.readUInt32LE(at)
        : type === GgufType.INT32
          ? buffer.readInt32LE(at)
          : type === GgufType.FLOAT32
            ? buffer.readFloatLE(at)
            : undefined;
    at += size;
    return value;
  };
  const pairs = new Map<string, { raw: Buffer; type: GgufType; value: unknown }>();
  for (let i = 0; i < count; i++) {
    const start = at;
    const key = string();
    const type = buffer.readUInt32LE(at) as GgufType;
    at += 4;
    const value = skip(type);
    pairs.set(key, { raw: Buffer.from(buffer.subarray(start, at)), type, value });
  }
  return pairs;
}

class GgufHeader {
  private readonly parts: Buffer[] = [];
  count = 0;

  raw(bytes: Buffer): void {
    this.parts.push(bytes);
    this.count++;
  }

  str(key: string, value: string): void {
    const type = Buffer.alloc(4);
    type.writeUInt32LE(GgufType.STRING);
    this.raw(Buffer.concat([ggufString(key), type, ggufString(value)]));
  }

  u32(key: string, value: number): void {
    const bytes = Buffer.alloc(8);
    bytes.writeUInt32LE(GgufType.UINT32);
    bytes.writeUInt32LE(value, 4);
    this.raw(Buffer.concat([ggufString(key), bytes]));
  }

  f32(key: string, value: number): void {
    const bytes = Buffer.alloc(8);
    bytes.writeUInt32LE(GgufType.FLOAT32);
    bytes.writeFloatLE(value, 4);
    this.raw(Buffer.concat([ggufString(key), bytes]));
  }

  tensorInfo(name: string, dims: number[], type: number, offset: number): Buffer {
    const rest = Buffer.alloc(4 + dims.length * 8 + 4 + 8);
    rest.writeUInt32LE(dims.length);
    dims.forEach((dim, i) => rest.writeBigUInt64LE(BigInt(dim), 4 + i * 8));
    rest.writeUInt32LE(type, 4 + dims.length * 8);
    rest.writeBigUInt64LE(BigInt(offset), 8 + dims.length * 8);
    return Buffer.concat([ggufString(name), rest]);
  }

  get kvBytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

// ggml tensor types and file types.
const F32 = 0;
const F16 = 1;
const Q8_0 = 8;
const FILE_F16 = 1;
const FILE_Q8_0 = 7;
const ALIGN = 32;

/** Bytes of `elements` values of a ggml tensor type, in whole blocks. */
function typeBytes(type: number, elements: number): number {
  const [, blockSize, blockBytes] = tensorTypes[type]!;
  return (elements / blockSize) * blockBytes;
}

interface TensorSpec {
  name: string;
  /** ne0 (the row length) first, as GGUF stores them. */
  dims: number[];
  fill: 'ones' | 'random' | 'output';
}

function tensorsOf(vocab: number): TensorSpec[] {
  const { embd, layers, ff, heads, headsKv } = BENCH_SHAPE;
  const kv = (embd / heads) * headsKv;
  const list: TensorSpec[] = [
    { name: 'token_embd.weight', dims: [embd, vocab], fill: 'random' },
    { name: 'output_norm.weight', dims: [embd], fill: 'ones' },
    { name: 'output.weight', dims: [embd, vocab], fill: 'output' },
  ];
  for (let i = 0; i < layers; i++) {
    list.push(
      { name: `blk.${i}.attn_norm.weight`, dims: [embd], fill: 'ones' },
      { name: `blk.${i}.attn_q.weight`, dims: [embd, embd], fill: 'random' },
      { name: `blk.${i}.attn_k.weight`, dims: [embd, kv], fill: 'random' },
      { name: `blk.${i}.attn_v.weight`, dims: [embd, kv], fill: 'random' },
      { name: `blk.${i}.attn_output.weight`, dims: [embd, embd], fill: 'random' },
      { name: `blk.${i}.ffn_norm.weight`, dims: [embd], fill: 'ones' },
      { name: `blk.${i}.ffn_gate.weight`, dims: [embd, ff], fill: 'random' },
      { name: `blk.${i}.ffn_up.weight`, dims: [embd, ff], fill: 'random' },
      { name: `blk.${i}.ffn_down.weight`, dims: [ff, embd], fill: 'random' },
    );
  }
  return list;
}

/** xorshift32: fast, seeded, and good enough for weights nobody reads. */
function rng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

/** Half-precision bits of a small float (|x| well inside the normal range, as these weights are). */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function toHalf(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign; // below half's normal range: zero is near enough
  if (exponent >= 31) return sign | 0x7c00;
  const mantissa = bits & 0x7fffff;
  let half = sign | (exponent << 10) | (mantissa >>> 13);
  if (mantissa & 0x1000) half += 1; // round half up
  return half;
}

/** Weights uniform in ±0.02·√3 (standard deviation 0.02). */
const SPREAD = 0.02 * Math.sqrt(3);

/**
 * Writes the model: F16 matrices (for llama-quantize) or Q8_0 ones (the
 * fallback), F32 norms; `textRows` says which output rows may be non-zero.
 */
async function writeModel(file: string, format: 'F16' | 'Q8_0', tokenizer: Buffer[], vocab: number, textRows: boolean[]): Promise<void> {
  const { embd, layers, ff, heads, headsKv, context } = BENCH_SHAPE;
  const header = new GgufHeader();
  header.str('general.architecture', 'llama');
  header.str('general.name', 'freehold-bench-0.7b');
  header.u32('general.file_type', format === 'F16' ? FILE_F16 : FILE_Q8_0);
  header.u32('general.quantization_version', 2);
  header.u32('llama.context_length', context);
  header.u32('llama.embedding_length', embd);
  header.u32('llama.feed_forward_length', ff);
  header.u32('llama.block_count', layers);
  header.u32('llama.attention.head_count', heads);
  header.u32('llama.attention.head_count_kv', headsKv);
  header.u32('llama.rope.dimension_count', embd / heads);
  header.f32('llama.rope.freq_base', 10000);
  header.f32('llama.attention.layer_norm_rms_epsilon', 1e-5);
  header.u32('llama.vocab_size', vocab);
  for (const pair of tokenizer) header.raw(pair);

  const specs = tensorsOf(vocab);
  const typeOf = (spec: TensorSpec) => (spec.dims.length === 1 ? F32 : format === 'F16' ? F16 : Q8_0);
  const bytesOf = (spec: TensorSpec) =>
    typeBytes(
      typeOf(spec),
      spec.dims.reduce((a, b) => a * b, 1),
    );
  const infos: Buffer[] = [];
  let offset = 0;
  for (const spec of specs) {
    infos.push(header.tensorInfo(spec.name, spec.dims, typeOf(spec), offset));
    offset += Math.ceil(bytesOf(spec) / ALIGN) * ALIGN;
  }
  const start = Buffer.alloc(24);
  start.write('GGUF', 0, 'latin1');
  start.writeUInt32LE(3, 4);
  start.writeBigUInt64LE(BigInt(specs.length), 8);
  start.writeBigUInt64LE(BigInt(header.count), 16);
  const head = Buffer.concat([start, header.kvBytes, ...infos]);

  const fd = openSync(file, 'w');
  try {
    let written = 0;
    const write = (bytes: Uint8Array) => {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      written += bytes.length;
    };
    const pad = () => {
      const rest = (ALIGN - (written % ALIGN)) % ALIGN;
      if (rest) write(new Uint8Array(rest));
    };
    write(head);
    pad();
    const next = rng(0x5eed + GENERATION);
    const uniform = () => (next() / 2 ** 32) * 2 - 1;
    for (const spec of specs) {
      const [rowLength, rows = 1] = spec.dims;
      const type = typeOf(spec);
      if (type === F32) {
        const values = new Float32Array(rowLength!).fill(spec.fill === 'ones' ? 1 : 0);
        write(new Uint8Array(values.buffer));
      } else {
        // A row at a time, a few MiB per write.
        const rowBytes = typeBytes(type, rowLength!);
        const rowsPerChunk = Math.max(1, Math.floor((4 * 1024 * 1024) / rowBytes));
        for (let row = 0; row < rows; row += rowsPerChunk) {
          const count = Math.min(rowsPerChunk, rows - row);
          const chunk = Buffer.alloc(count * rowBytes);
          const halves = new Uint16Array(chunk.buffer, chunk.byteOffset, chunk.length >>> 1);
          const bytes = new Int8Array(chunk.buffer, chunk.byteOffset, chunk.length);
          for (let r = 0; r < count; r++) {
            const zero = spec.fill === 'output' && !textRows[row + r];
            const base = r * rowBytes;
            if (type === F16) {
              if (zero) continue;
              for (let i = 0, at = base >>> 1; i < rowLength!; i++) halves[at + i] = toHalf(uniform() * SPREAD);
            } else {
              // Q8_0: per block of 32, an f16 scale and 32 int8; uniform int8 in ±127 times SPREAD/127.
              const scale = zero ? 0 : toHalf(SPREAD / 127);
              for (let block = 0; block < rowLength! / 32; block++) {
                const at = base + block * 34;
                chunk.writeUInt16LE(scale, at);
                if (zero) continue;
                for (let i = 0; i < 32; i++) bytes[at + 2 + i] = ((next() >>> 24) % 255) - 127;
              }
            }
          }
          write(chunk);
        }
      }
      pad();
      // Let the event loop breathe between tensors (progress timers, signals).
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- the model

/**
 * The bench model's path, made first if the cache lacks it. `tokenizerFrom` is
 * stories260K (its tokenizer is copied); `log` receives progress lines.
 */
export async function ensureBenchModel(tokenizerFrom: string, log: (line: string) => void = console.log): Promise<BenchModel> {
  const cache = benchCacheDir();
  await fs.mkdir(cache, { recursive: true });
  const base = `freehold-bench-0.7b-g${GENERATION}`;
  const q4 = path.join(cache, `${base}-Q4_K_M.gguf`);
  const q8 = path.join(cache, `${base}-Q8_0.gguf`);
  const kv = readGgufKv(tokenizerFrom);
  const tokens = kv.get('tokenizer.ggml.tokens')?.value as string[] | undefined;
  const types = kv.get('tokenizer.ggml.token_type')?.value as number[] | undefined;
  if (!tokens || !types) throw new Error(`${tokenizerFrom} has no tokenizer to copy.`);
  const parameters = benchParameters(tokens.length);
  if (existsSync(q4)) return { path: q4, quantization: 'Q4_K_M', parameters, note: `cached (${q4})` };

  const tokenizer = [...kv.entries()].filter(([key]) => key.startsWith('tokenizer.')).map(([, pair]) => pair.raw);
  // Type 1 is a plain text piece; the others (unknown, control, byte) never win greedily.
  const textRows = types.map((type) => type === 1);
  const quantize = await findOrBuildQuantize(cache, log);
  if ('how' in quantize) {
    const f16 = path.join(cache, `.${base}-F16.${process.pid}.gguf`);
    const partial = path.join(cache, `.${base}-Q4_K_M.${process.pid}.gguf`);
    try {
      let started = performance.now();
      await writeModel(f16, 'F16', tokenizer, tokens.length, textRows);
      log(
        `bench model: wrote ${(parameters / 1e9).toFixed(2)}B random F16 weights in ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
      started = performance.now();
      const lines: string[] = [];
      await runQuiet(quantize.path, [f16, partial, 'Q4_K_M', String(Math.max(1, os.availableParallelism()))], { log: lines });
      await fs.rename(partial, q4);
      log(
        `bench model: quantized to Q4_K_M with llama-quantize (${quantize.how}) in ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
      return { path: q4, quantization: 'Q4_K_M', parameters, note: `made now with llama-quantize (${quantize.how})` };
    } catch (error) {
      log(`bench model: llama-quantize failed (${(error as Error).message.split('\n')[0]}); writing Q8_0 instead`);
    } finally {
      await fs.rm(f16, { force: true });
      await fs.rm(partial, { force: true });
    }
  }
  const why = 'why' in quantize ? `no llama-quantize: ${quantize.why}` : 'llama-quantize failed';
  if (existsSync(q8)) return { path: q8, quantization: 'Q8_0', parameters, note: `cached Q8_0 (${why})` };
  const partial = path.join(cache, `.${base}-Q8_0.${process.pid}.gguf`);
  try {
    const started = performance.now();
    await writeModel(partial, 'Q8_0', tokenizer, tokens.length, textRows);
    await fs.rename(partial, q8);
    log(`bench model: wrote Q8_0 directly in ${((performance.now() - started) / 1000).toFixed(0)} s (${why})`);
  } finally {
    await fs.rm(partial, { force: true });
  }
  return { path: q8, quantization: 'Q8_0', parameters, note: `Q8_0 written directly, not Q4_K_M (${why})` };
}
