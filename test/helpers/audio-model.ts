/**
 * A tiny *audio* model for llama.cpp's llama-server (libmtmd, `--mmproj`):
 * the real text model stories260K plus an audio projector GGUF with seeded
 * random weights, generated here because no real audio weights can be
 * downloaded in tests. The projector is Ultravox-style
 * (`clip.projector_type = "ultravox"`), the audio type needing the fewest
 * tensors: llama.cpp turns the audio into an 80-bin whisper log-mel
 * spectrogram, padded to one 30 s window (3000 frames); a whisper encoder of
 * width 32 (two 1-D convolutions, the second with stride 2, then 2
 * transformer blocks over 1500 positions) encodes it; every 30 consecutive
 * positions are stacked into one vector (1500 / 30 = 50 audio tokens per clip
 * of up to 30 s, whatever its length or content); and an RMS-normed SwiGLU MLP
 * (`mm.a.mlp.1`, `mm.a.mlp.2`) maps each to the text model's embedding width
 * (64). The keys and tensor names are the ones llama.cpp's
 * tools/mtmd/clip.cpp reads for that projector (load_hparams, load_tensors,
 * models/whisper-enc.cpp).
 */
import os from 'node:os';
import path from 'node:path';
import { cachedProjector, projectorGguf, randomTensors, type Meta } from './projector-gguf';

/** The projector's shape; the text side (projection) must equal stories260K's n_embd. */
export const TINY_AUDIO = {
  /** Mel bins of the spectrogram llama.cpp computes (whisper: 80). */
  melBins: 80,
  /** Encoder width. */
  width: 32,
  heads: 4,
  feedForward: 64,
  blocks: 2,
  /** Encoder positions: llama.cpp feeds whisper-style encoders 3000 mel frames, halved by the stride-2 convolution. */
  positions: 1500,
  /** Encoder positions stacked into one audio token (must divide `positions`). */
  stackFactor: 30,
  /** Width of the projector's first layer (the SwiGLU halves it). */
  projectorHidden: 128,
  /** The text model's embedding width (stories260K: 64). */
  projection: 64,
  seed: 260_016,
} as const;

/** Audio tokens one clip of up to 30 s becomes (any sample rate, any content): positions / stack factor. */
export const TINY_AUDIO_CLIP_TOKENS = TINY_AUDIO.positions / TINY_AUDIO.stackFactor;

export const defaultAudioCacheDir = () => path.join(os.homedir(), '.cache', 'freehold-test', 'audio');

/** The audio projector GGUF's bytes (F32 tensors; deterministic for a given TINY_AUDIO). */
export function tinyAudioProjectorGguf(spec: { [K in keyof typeof TINY_AUDIO]: number } = TINY_AUDIO): Buffer {
  const { width, feedForward, melBins, stackFactor, projectorHidden, projection } = spec;
  if (spec.positions % stackFactor !== 0) throw new Error('the stack factor must divide the encoder positions');
  if (projectorHidden % 2 !== 0) throw new Error('the SwiGLU needs an even projector width');
  const { tensors, add, uniform, signed, small, near1, linear, norm } = randomTensors(spec.seed, width);

  // whisper's convolutions: kernel [kernel size, channels in, channels out], bias [1, channels out]
  add('a.conv1d.1.weight', [3, melBins, width], uniform(3 * melBins));
  add('a.conv1d.1.bias', [1, width], small);
  add('a.conv1d.2.weight', [3, width, width], uniform(3 * width));
  add('a.conv1d.2.bias', [1, width], small);
  add('a.position_embd.weight', [width, spec.positions], signed);
  for (let block = 0; block < spec.blocks; block += 1) {
    const blk = `a.blk.${block}`;
    norm(`${blk}.ln1`);
    linear(`${blk}.attn_q`, width, width);
    linear(`${blk}.attn_k`, width, width, false); // whisper: no key bias (whisper-enc.cpp asserts it)
    linear(`${blk}.attn_v`, width, width);
    linear(`${blk}.attn_out`, width, width);
    norm(`${blk}.ln2`);
    linear(`${blk}.ffn_up`, width, feedForward);
    linear(`${blk}.ffn_down`, feedForward, width);
  }
  norm('a.post_ln');
  // UltravoxProjector: RMS norm, mlp.1, SwiGLU, RMS norm, mlp.2 (no biases)
  add('mm.a.norm_pre.weight', [width * stackFactor], near1);
  linear('mm.a.mlp.1', width * stackFactor, projectorHidden, false);
  add('mm.a.norm_mid.weight', [projectorHidden / 2], near1);
  linear('mm.a.mlp.2', projectorHidden / 2, projection, false);

  const metadata: Array<[string, Meta]> = [
    ['general.architecture', { str: 'clip' }],
    ['general.name', { str: 'freehold tiny audio projector (random weights)' }],
    ['general.description', { str: 'ultravox-style whisper encoder + projector for stories260K; seeded random weights, for tests' }],
    ['general.file_type', { u32: 0 }],
    ['clip.has_vision_encoder', { bool: false }],
    ['clip.has_audio_encoder', { bool: true }],
    ['clip.projector_type', { str: 'ultravox' }],
    ['clip.audio.num_mel_bins', { u32: melBins }],
    ['clip.audio.embedding_length', { u32: width }],
    ['clip.audio.feed_forward_length', { u32: feedForward }],
    ['clip.audio.block_count', { u32: spec.blocks }],
    ['clip.audio.attention.head_count', { u32: spec.heads }],
    ['clip.audio.attention.layer_norm_epsilon', { f32: 1e-5 }],
    ['clip.audio.projection_dim', { u32: projection }],
    ['clip.audio.projector.stack_factor', { u32: stackFactor }],
  ];
  return projectorGguf(metadata, tensors);
}

/**
 * stories260K (the real text model, as testModelPath finds it) and a tiny
 * random audio projector for it, for `llama-server -m model --mmproj mmproj`.
 * The projector is written once into ~/.cache/freehold-test/audio/ (to a
 * temporary name, then renamed) under a name that carries a hash of this
 * generator's source and its shape; older ones are removed.
 */
export function tinyAudioModel(cacheDir = defaultAudioCacheDir()): Promise<{ model: string; mmproj: string }> {
  return cachedProjector({
    cacheDir,
    prefix: 'mmproj-audio-tiny-',
    spec: TINY_AUDIO,
    sourceUrl: import.meta.url,
    build: () => tinyAudioProjectorGguf(),
    memoize: cacheDir === defaultAudioCacheDir(),
  });
}
