/**
 * What the tiny projector fixtures (vision-model.ts, audio-model.ts) share:
 * GGUF metadata values and tensors with seeded random weights, the GGUF's
 * bytes, and a projector written once into a cache folder under a name that
 * carries a hash of its shape and of its generator's source.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgufType, ggufString } from '../../electron/formats/gguf-types';
import { serializeGguf, type EditableGguf } from './gguf-edit';
import { prng } from './prng';
import { testModelPath } from './test-model';

/** A GGUF metadata value of one of the types a projector needs. */
export type Meta = { u32: number } | { f32: number } | { bool: boolean } | { str: string } | { f32s: number[] };

/** A metadata value's raw bytes: its type, then its value. */
export function metaRaw(value: Meta): Buffer {
  const typed = (type: number, size: number) => {
    const b = Buffer.alloc(4 + size);
    b.writeUInt32LE(type, 0);
    return b;
  };
  if ('u32' in value) {
    const b = typed(GgufType.UINT32, 4);
    b.writeUInt32LE(value.u32, 4);
    return b;
  }
  if ('f32' in value) {
    const b = typed(GgufType.FLOAT32, 4);
    b.writeFloatLE(value.f32, 4);
    return b;
  }
  if ('bool' in value) {
    const b = typed(GgufType.BOOL, 1);
    b.writeUInt8(value.bool ? 1 : 0, 4);
    return b;
  }
  if ('str' in value) return Buffer.concat([typed(GgufType.STRING, 0), ggufString(value.str)]);
  const b = typed(GgufType.ARRAY, 12 + 4 * value.f32s.length);
  b.writeUInt32LE(GgufType.FLOAT32, 4);
  b.writeBigUInt64LE(BigInt(value.f32s.length), 8);
  value.f32s.forEach((v, i) => b.writeFloatLE(v, 16 + 4 * i));
  return b;
}

/**
 * F32 tensors with weights from `prng(seed)`, drawn in the order they are
 * added. `width` is the size `norm` gives its weight and bias.
 */
export function randomTensors(seed: number, width: number) {
  const random = prng(seed);
  const tensors: EditableGguf['tensors'] = [];
  // dims are ggml's ne: the input (row) length first
  const add = (name: string, dims: number[], fill: () => number) => {
    const count = dims.reduce((a, b) => a * b, 1);
    const data = Buffer.alloc(4 * count);
    for (let i = 0; i < count; i += 1) data.writeFloatLE(fill(), 4 * i);
    tensors.push({ name, dims, type: 0, data });
  };
  // uniform with the variance of a fan-in-scaled init, so activations stay near 1
  const uniform = (fanIn: number) => {
    const bound = Math.sqrt(3 / fanIn);
    return () => (random() * 2 - 1) * bound;
  };
  const signed = () => random() * 2 - 1;
  const small = () => (random() * 2 - 1) * 0.1;
  const near1 = () => 1 + small();
  const linear = (name: string, inputs: number, outputs: number, bias = true) => {
    add(`${name}.weight`, [inputs, outputs], uniform(inputs));
    if (bias) add(`${name}.bias`, [outputs], small);
  };
  const norm = (name: string) => {
    add(`${name}.weight`, [width], near1);
    add(`${name}.bias`, [width], small);
  };
  return { tensors, add, uniform, signed, small, near1, linear, norm };
}

/** A projector GGUF's bytes (version 3): its metadata in order, then its tensors. */
export function projectorGguf(metadata: Array<[string, Meta]>, tensors: EditableGguf['tensors']): Buffer {
  return serializeGguf({
    version: 3,
    metadata: metadata.map(([key, value]) => ({ key, raw: metaRaw(value) })),
    tensors,
  });
}

/** Writes `file` under a temporary name, then renames it, so no reader sees it half written. */
export function writeAtomically(file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

export interface ProjectorFiles {
  /** The text model, stories260K (as testModelPath finds it). */
  model: string;
  mmproj: string;
}

const memo = new Map<string, Promise<ProjectorFiles>>();

/**
 * stories260K and a projector for it, for `llama-server -m model --mmproj
 * mmproj`. The projector (`build()`) is written once into `cacheDir` as
 * `<prefix><hash>.gguf`, the hash being of `spec`, of the source file at
 * `sourceUrl` (the generator's `import.meta.url`) and of this file; older `<prefix>*.gguf`
 * files there are removed. With `memoize`, one promise is kept per folder and
 * prefix (dropped if it fails).
 */
export function cachedProjector(options: {
  cacheDir: string;
  prefix: string;
  spec: unknown;
  sourceUrl: string;
  build: () => Buffer;
  memoize?: boolean;
}): Promise<ProjectorFiles> {
  const { cacheDir, prefix, spec, sourceUrl, build, memoize = false } = options;
  const key = `${cacheDir}\n${prefix}`;
  const kept = memoize ? memo.get(key) : undefined;
  if (kept) return kept;
  const made = Promise.resolve().then(() => {
    const hash = createHash('sha256')
      .update(JSON.stringify(spec))
      .update(readFileSync(fileURLToPath(sourceUrl)))
      // this file builds part of every projector too
      .update(readFileSync(fileURLToPath(import.meta.url)))
      .digest('hex')
      .slice(0, 16);
    const mmproj = path.join(cacheDir, `${prefix}${hash}.gguf`);
    if (!existsSync(mmproj)) {
      mkdirSync(cacheDir, { recursive: true });
      writeAtomically(mmproj, build());
      for (const name of readdirSync(cacheDir))
        if (name.startsWith(prefix) && name.endsWith('.gguf') && name !== path.basename(mmproj))
          rmSync(path.join(cacheDir, name), { force: true });
    }
    return { model: testModelPath(), mmproj };
  });
  if (memoize) {
    memo.set(key, made);
    made.catch(() => memo.delete(key));
  }
  return made;
}
