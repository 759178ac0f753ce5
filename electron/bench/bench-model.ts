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
import { spawn } from 'node:child_process';
import { closeSync, existsSync, promises as fs, openSync, readFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundledLlama, LLAMA_CMAKE_FLAGS } from '../engines/llama-engines';

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

const enum GgufType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

const scalarSize: Partial<Record<GgufType, number>> = {
  [GgufType.UINT8]: 1,
  [GgufType.INT8]: 1,
  [GgufType.UINT16]: 2,
  [GgufType.INT16]: 2,
  [GgufType.UINT32]: 4,
  [GgufType.INT32]: 4,
  [GgufType.FLOAT32]: 4,
  [GgufType.BOOL]: 1,
  [GgufType.UINT64]: 8,
  [GgufType.INT64]: 8,
  [GgufType.FLOAT64]: 8,
};

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
    const size = scalarSize[type];
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

  private string(text: string): Buffer {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.length));
    return Buffer.concat([length, bytes]);
  }

  raw(bytes: Buffer): void {
    this.parts.push(bytes);
    this.count++;
  }

  str(key: string, value: string): void {
    const type = Buffer.alloc(4);
    type.writeUInt32LE(GgufType.STRING);
    this.raw(Buffer.concat([this.string(key), type, this.string(value)]));
  }

  u32(key: string, value: number): void {
    const bytes = Buffer.alloc(8);
    bytes.writeUInt32LE(GgufType.UINT32);
    bytes.writeUInt32LE(value, 4);
    this.raw(Buffer.concat([this.string(key), bytes]));
  }

  f32(key: string, value: number): void {
    const bytes = Buffer.alloc(8);
    bytes.writeUInt32LE(GgufType.FLOAT32);
    bytes.writeFloatLE(value, 4);
    this.raw(Buffer.concat([this.string(key), bytes]));
  }

  tensorInfo(name: string, dims: number[], type: number, offset: number): Buffer {
    const rest = Buffer.alloc(4 + dims.length * 8 + 4 + 8);
    rest.writeUInt32LE(dims.length);
    dims.forEach((dim, i) => rest.writeBigUInt64LE(BigInt(dim), 4 + i * 8));
    rest.writeUInt32LE(type, 4 + dims.length * 8);
    rest.writeBigUInt64LE(BigInt(offset), 8 + dims.length * 8);
    return Buffer.concat([this.string(name), rest]);
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
  const bytesOf = (spec: TensorSpec) => {
    const n = spec.dims.reduce((a, b) => a * b, 1);
    const type = typeOf(spec);
    return type === F32 ? n * 4 : type === F16 ? n * 2 : (n / 32) * 34;
  };
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
        const rowBytes = type === F16 ? rowLength! * 2 : (rowLength! / 32) * 34;
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

// ---------------------------------------------------------------- llama-quantize

function runQuiet(command: string, args: string[], options: { cwd?: string; log: string[] }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer) => {
      options.log.push(...chunk.toString().split('\n'));
      if (options.log.length > 200) options.log.splice(0, options.log.length - 200);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(
            new Error(
              `${path.basename(command)} ${args.slice(0, 2).join(' ')} failed (${signal ?? `exit ${code}`}): ${options.log.slice(-8).join('\n')}`,
            ),
          ),
    );
  });
}

async function works(command: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

async function onPath(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  return null;
}

/**
 * llama-quantize: on the PATH, or built once into the cache from node-llama-cpp's
 * bundled llama.cpp source (CPU, no -march=native: a native build of this
 * version crashes repacking Q4_K). Null, with the reason, where it cannot be had.
 */
export async function findOrBuildQuantize(
  cache: string,
  log: (line: string) => void,
): Promise<{ path: string; how: string } | { path: null; why: string }> {
  if (process.env.FREEHOLD_BENCH_NO_QUANTIZE === '1') return { path: null, why: 'FREEHOLD_BENCH_NO_QUANTIZE=1' };
  const { version, bundle } = bundledLlama();
  const dir = path.join(cache, `llama.cpp-${version.replace(/[^\w.-]/g, '_')}-quantize`);
  const binary = path.join(dir, 'bin', process.platform === 'win32' ? 'llama-quantize.exe' : 'llama-quantize');
  if (existsSync(binary)) return { path: binary, how: `built earlier in ${dir}` };
  const installed = await onPath('llama-quantize');
  if (installed) return { path: installed, how: 'on the PATH' };
  if (!bundle) return { path: null, why: "node-llama-cpp's llama.cpp source bundle is not installed" };
  // A build that failed once is not retried on every run (delete the file to retry).
  const failed = path.join(dir, 'build-failed.txt');
  if (existsSync(failed))
    return { path: null, why: `building it failed earlier (${readFileSync(failed, 'utf8').trim()}; delete ${failed} to retry)` };
  if (!(await works('cmake', ['--version']))) return { path: null, why: 'cmake is not installed' };
  if (!(await works('git', ['--version']))) return { path: null, why: 'git is not installed' };
  await fs.mkdir(cache, { recursive: true });
  const work = await fs.mkdtemp(path.join(cache, '.build-quantize-'));
  const lines: string[] = [];
  try {
    log(`bench model: building llama-quantize from llama.cpp ${version}'s bundled source (once; a few minutes on 2 cores)`);
    await runQuiet('git', ['clone', '--quiet', bundle, path.join(work, 'src')], { log: lines });
    await runQuiet('cmake', ['-S', path.join(work, 'src'), '-B', path.join(work, 'build'), ...LLAMA_CMAKE_FLAGS], { log: lines });
    const jobs = String(Math.max(1, os.availableParallelism()));
    await runQuiet('cmake', ['--build', path.join(work, 'build'), '--config', 'Release', '-j', jobs, '--target', 'llama-quantize'], {
      log: lines,
    });
    const built = [
      path.join(work, 'build', 'bin', path.basename(binary)),
      path.join(work, 'build', 'bin', 'Release', path.basename(binary)),
    ].find((candidate) => existsSync(candidate));
    if (!built) return { path: null, why: 'the build made no llama-quantize' };
    await fs.mkdir(path.dirname(binary), { recursive: true });
    await fs.copyFile(built, `${binary}.tmp`);
    await fs.chmod(`${binary}.tmp`, 0o755);
    await fs.rename(`${binary}.tmp`, binary);
    return { path: binary, how: `built now in ${dir}` };
  } catch (error) {
    const why = (error as Error).message.split('\n')[0]!;
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(failed, `${why}\n`);
    return { path: null, why: `building it failed: ${why}` };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
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
