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
import os from 'node:os';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { cachedProjector, projectorGguf, randomTensors, type Meta } from './projector-gguf';

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

/** The projector GGUF's bytes (F32 tensors; deterministic for a given TINY_VISION). */
export function tinyProjectorGguf(spec: { [K in keyof typeof TINY_VISION]: number } = TINY_VISION): Buffer {
  const { width, feedForward, projection, patchSize } = spec;
  const patches = (spec.imageSize / patchSize) ** 2;
  const { tensors, add, uniform, signed, small, linear, norm } = randomTensors(spec.seed, width);

  // conv2d kernel [kw, kh, channels in, channels out]
  add('v.patch_embd.weight', [patchSize, patchSize, 3, width], uniform(patchSize * patchSize * 3));
  add('v.patch_embd.bias', [width], small);
  add('v.position_embd.weight', [width, patches], signed);
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
  return projectorGguf(metadata, tensors);
}

/**
 * stories260K (the real text model, as testModelPath finds it) and a tiny
 * random projector for it, for `llama-server -m model --mmproj mmproj`. The
 * projector is written once into ~/.cache/freehold-test/vision/ (to a
 * temporary name, then renamed) under a name that carries a hash of this
 * generator's source and its shape; older ones are removed.
 */
export function tinyVisionModel(cacheDir = defaultVisionCacheDir()): Promise<{ model: string; mmproj: string }> {
  return cachedProjector({
    cacheDir,
    prefix: 'mmproj-tiny-',
    spec: TINY_VISION,
    sourceUrl: import.meta.url,
    build: () => tinyProjectorGguf(),
    memoize: cacheDir === defaultVisionCacheDir(),
  });
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
