/**
 * A tiny *vision* model for llama.cpp's llama-server (libmtmd, `--mmproj`):
 * the real text model stories260K plus a projector GGUF with seeded random
 * weights, generated here because no real vision weights can be downloaded in
 * tests. The projector is llava-style (`clip.projector_type = "mlp"`): a
 * 32×32 image is cut into 8×8 patches (16 image tokens), a 2-block ViT of width
 * 32 encodes them (llava takes the second-to-last block's output, so one block
 * runs), and a two-layer MLP (`mm.0`, GELU, `mm.2`) maps each patch to the text
 * model's embedding width (64). The keys and tensor names are the ones
 * llama.cpp's tools/mtmd/clip.cpp reads for that projector.
 *
 * Also: `pngImage`, small test images as PNG bytes in pure JS.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { GgufType, ggufString } from '../../electron/formats/gguf-types';
import { serializeGguf, type EditableGguf } from './gguf-edit';
import { prng } from './prng';
import { testModelPath } from './test-model';

/** The projector's shape; the text side (projection) must equal stories260K's n_embd. */
export const TINY_VISION = {
  imageSize: 32,
  patchSize: 8,
  /** ViT width. */
  width: 32,
  heads: 4,
  feedForward: 64,
  blocks: 2,
  /** The text model's embedding width (stories260K: 64). */
  projection: 64,
  seed: 260_032,
} as const;

/** Image tokens one image becomes: (image size / patch size)². */
export const TINY_VISION_IMAGE_TOKENS = (TINY_VISION.imageSize / TINY_VISION.patchSize) ** 2;

export const defaultVisionCacheDir = () => path.join(os.homedir(), '.cache', 'freehold-test', 'vision');

type Meta = { u32: number } | { f32: number } | { bool: boolean } | { str: string } | { f32s: number[] };

function metaRaw(value: Meta): Buffer {
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

/** The projector GGUF's bytes (F32 tensors; deterministic for a given TINY_VISION). */
export function tinyProjectorGguf(spec: { [K in keyof typeof TINY_VISION]: number } = TINY_VISION): Buffer {
  const random = prng(spec.seed);
  const { width, feedForward, projection, patchSize } = spec;
  const patches = (spec.imageSize / patchSize) ** 2;
  const tensors: EditableGguf['tensors'] = [];
  // dims are ggml's ne: the input (row) length first
  const add = (name: string, dims: number[], fill: (i: number) => number) => {
    const count = dims.reduce((a, b) => a * b, 1);
    const data = Buffer.alloc(4 * count);
    for (let i = 0; i < count; i += 1) data.writeFloatLE(fill(i), 4 * i);
    tensors.push({ name, dims, type: 0, data });
  };
  // uniform with the variance of a fan-in-scaled init, so activations stay near 1
  const uniform = (fanIn: number) => {
    const bound = Math.sqrt(3 / fanIn);
    return () => (random() * 2 - 1) * bound;
  };
  const small = () => (random() * 2 - 1) * 0.1;
  const linear = (name: string, inputs: number, outputs: number) => {
    add(`${name}.weight`, [inputs, outputs], uniform(inputs));
    add(`${name}.bias`, [outputs], small);
  };
  const norm = (name: string) => {
    add(`${name}.weight`, [width], () => 1 + small());
    add(`${name}.bias`, [width], small);
  };

  // conv2d kernel [kw, kh, channels in, channels out]
  add('v.patch_embd.weight', [patchSize, patchSize, 3, width], uniform(patchSize * patchSize * 3));
  add('v.patch_embd.bias', [width], small);
  add('v.position_embd.weight', [width, patches], () => random() * 2 - 1);
  for (let block = 0; block < spec.blocks; block += 1) {
    const blk = `v.blk.${block}`;
    norm(`${blk}.ln1`);
    for (const part of ['attn_q', 'attn_k', 'attn_v', 'attn_out']) linear(`${blk}.${part}`, width, width);
    norm(`${blk}.ln2`);
    linear(`${blk}.ffn_up`, width, feedForward);
    linear(`${blk}.ffn_down`, feedForward, width);
  }
  linear('mm.0', width, projection);
  linear('mm.2', projection, projection);

  const metadata: Array<[string, Meta]> = [
    ['general.architecture', { str: 'clip' }],
    ['general.name', { str: 'freehold tiny vision projector (random weights)' }],
    ['general.description', { str: 'llava-style mlp projector for stories260K; seeded random weights, for tests' }],
    ['general.file_type', { u32: 0 }],
    ['clip.has_vision_encoder', { bool: true }],
    ['clip.projector_type', { str: 'mlp' }],
    ['clip.use_gelu', { bool: true }],
    ['clip.vision.image_size', { u32: spec.imageSize }],
    ['clip.vision.patch_size', { u32: patchSize }],
    ['clip.vision.embedding_length', { u32: width }],
    ['clip.vision.feed_forward_length', { u32: feedForward }],
    ['clip.vision.block_count', { u32: spec.blocks }],
    ['clip.vision.attention.head_count', { u32: spec.heads }],
    ['clip.vision.attention.layer_norm_epsilon', { f32: 1e-5 }],
    ['clip.vision.projection_dim', { u32: projection }],
    ['clip.vision.image_mean', { f32s: [0.5, 0.5, 0.5] }],
    ['clip.vision.image_std', { f32s: [0.5, 0.5, 0.5] }],
  ];
  return serializeGguf({
    version: 3,
    metadata: metadata.map(([key, value]) => ({ key, raw: metaRaw(value) })),
    tensors,
  });
}

function writeAtomically(file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

let pending: Promise<{ model: string; mmproj: string }> | undefined;

/**
 * stories260K (the real text model, as testModelPath finds it) and a tiny
 * random projector for it, for `llama-server -m model --mmproj mmproj`. The
 * projector is written once into ~/.cache/freehold-test/vision/ (to a
 * temporary name, then renamed) under a name that carries a hash of this
 * generator's source and its shape; older ones are removed.
 */
export function tinyVisionModel(cacheDir = defaultVisionCacheDir()): Promise<{ model: string; mmproj: string }> {
  if (pending && cacheDir === defaultVisionCacheDir()) return pending;
  const made = Promise.resolve().then(() => {
    const hash = createHash('sha256')
      .update(JSON.stringify(TINY_VISION))
      .update(readFileSync(fileURLToPath(import.meta.url)))
      .digest('hex')
      .slice(0, 16);
    const mmproj = path.join(cacheDir, `mmproj-tiny-${hash}.gguf`);
    if (!existsSync(mmproj)) {
      mkdirSync(cacheDir, { recursive: true });
      writeAtomically(mmproj, tinyProjectorGguf());
      for (const name of readdirSync(cacheDir))
        if (name.startsWith('mmproj-tiny-') && name !== path.basename(mmproj)) rmSync(path.join(cacheDir, name), { force: true });
    }
    return { model: testModelPath(), mmproj };
  });
  if (cacheDir === defaultVisionCacheDir()) {
    pending = made;
    made.catch(() => (pending = undefined));
  }
  return made;
}

/** An RGB colour, each part 0-255. */
export type Rgb = readonly [number, number, number];

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A truecolour 8-bit PNG (no alpha) of `width`×`height`, each pixel from `pixel(x, y)`. */
export function pngImage(width: number, height: number, pixel: (x: number, y: number) => Rgb): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8); // bit depth
  header.writeUInt8(2, 9); // colour type: RGB
  // compression, filter, interlace: 0
  const stride = 1 + width * 3;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y += 1) {
    raw[y * stride] = 0; // filter: none
    for (let x = 0; x < width; x += 1) {
      const [r, g, b] = pixel(x, y);
      const at = y * stride + 1 + x * 3;
      raw[at] = r;
      raw[at + 1] = g;
      raw[at + 2] = b;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A PNG as a data: URL, for an OpenAI `image_url` content part. */
export function pngDataUrl(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}
