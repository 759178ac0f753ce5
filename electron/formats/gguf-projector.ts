/**
 * Multimodal projectors (mmproj GGUF files, llama.cpp's libmtmd): what one is
 * for (images, audio), which model it belongs to (its output width must equal
 * the model's embedding width, or llama.cpp refuses the pair), and what an
 * image costs in tokens where the encoder has a fixed size.
 */
import path from 'node:path';
import { openFileSource } from './file-source';
import { GgufError, readGgufHeader, type GgufHeader, type GgufValue } from './gguf-header';

/** The projector types this llama.cpp (tools/mtmd/clip-impl.h, PROJECTOR_TYPE_NAMES) knows. */
export const KNOWN_PROJECTOR_TYPES: ReadonlySet<string> = new Set([
  'mlp', 'mlp_norm', 'ldp', 'ldpv2', 'resampler', 'adapter', 'qwen2vl_merger', 'qwen2.5vl_merger', 'qwen3vl_merger', 'step3vl',
  'gemma3', 'gemma3nv', 'gemma3na', 'gemma4v', 'gemma4a', 'gemma4uv', 'gemma4ua', 'phi4', 'idefics3', 'pixtral', 'ultravox',
  'internvl', 'llama4', 'qwen2a', 'qwen3a', 'glma', 'qwen2.5o', 'voxtral', 'meralion', 'musicflamingo', 'lfm2', 'kimivl',
  'paddleocr', 'lightonocr', 'cogvlm', 'janus_pro', 'dots_ocr', 'dots3note_v', 'dots3note_a', 'deepseekocr', 'deepseekocr2',
  'deepseek4v', 'lfm2a', 'glm4v', 'youtuvl', 'yasa2', 'kimik25', 'nemotron_v2_vl', 'exaone4_5', 'hunyuanvl', 'minicpmv4_6',
  'granite_speech', 'mimovl', 'minimax_m3', 'granite4_vision', 'mimo_audio', 'parakeet', 'muse-glimmer',
]); // prettier-ignore

/** Projector types whose image tokens are a fixed (image size / patch size)², as llava's mlp family is. */
const FIXED_GRID_TYPES = new Set(['mlp', 'mlp_norm', 'ldp', 'ldpv2']);

export interface ProjectorFacts {
  /** The vision projector's type for a file with both encoders, else the file's. */
  projectorType: string;
  vision: boolean;
  audio: boolean;
  /** Width of the embeddings it hands the model: must equal the model's embedding_length. Null where the file does not say. */
  outputWidth: number | null;
  /** Tokens per image for fixed-grid encoders, else null (it depends on the image). */
  imageTokens: number | null;
}

function num(metadata: Map<string, GgufValue>, key: string): number | null {
  const value = metadata.get(key);
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;
}

function str(metadata: Map<string, GgufValue>, key: string): string | null {
  const value = metadata.get(key);
  return typeof value === 'string' && value.length > 0 ? value : null;
}

/** Output width from the last projection tensor, for files written before projection_dim was. */
function widthFromTensors(header: GgufHeader, type: string): number | null {
  const dims = (name: string) => header.tensors.find((t) => t.name === name)?.dims;
  switch (type) {
    case 'mlp':
    case 'phi4':
    case 'pixtral':
    case 'lightonocr':
    case 'ultravox':
    case 'voxtral':
    case 'lfm2':
    case 'kimivl':
    case 'qwen3a':
      return dims('mm.2.weight')?.[1] ?? dims('mm.a.mlp.2.weight')?.[1] ?? null;
    case 'mlp_norm':
      return dims('mm.3.bias')?.[0] ?? null;
    case 'qwen2vl_merger':
    case 'qwen2.5vl_merger':
      return dims('mm.1.bias')?.[0] ?? null;
    case 'gemma3':
      return dims('mm.input_projection.weight')?.[0] ?? null;
    case 'idefics3':
      return dims('mm.model.fc.weight')?.[1] ?? null;
    case 'qwen2a':
      return dims('mm.a.fc.weight')?.[1] ?? null;
    default:
      return null;
  }
}

/** The facts of a projector's header; null when the GGUF is not a projector (general.architecture is not "clip"). */
export function projectorFacts(header: GgufHeader): ProjectorFacts | null {
  const m = header.metadata;
  if (m.get('general.architecture') !== 'clip') return null;
  const vision = m.get('clip.has_vision_encoder') === true;
  const audio = m.get('clip.has_audio_encoder') === true;
  const type = str(m, 'clip.vision.projector_type') ?? str(m, 'clip.projector_type') ?? str(m, 'clip.audio.projector_type');
  if (!type) throw new GgufError('This projector does not say its type (clip.projector_type), so llama.cpp cannot load it.');
  if (!vision && !audio) throw new GgufError('This projector has neither an image nor an audio encoder (clip.has_vision_encoder).');
  if (!KNOWN_PROJECTOR_TYPES.has(type)) {
    throw new GgufError(`Its projector type “${type}” is not one this llama.cpp knows; a newer Freehold (or llama.cpp) may run it.`);
  }
  const outputWidth = num(m, 'clip.vision.projection_dim') ?? num(m, 'clip.audio.projection_dim') ?? widthFromTensors(header, type);
  const imageSize = num(m, 'clip.vision.image_size');
  const patchSize = num(m, 'clip.vision.patch_size');
  const imageTokens =
    vision && FIXED_GRID_TYPES.has(type) && imageSize && patchSize && imageSize % patchSize === 0 ? (imageSize / patchSize) ** 2 : null;
  return { projectorType: type, vision, audio, outputWidth, imageTokens };
}

/** A projector file's facts with its size; throws GgufError with the reason for a file that is not one. */
export async function readProjector(file: string): Promise<ProjectorFacts & { sizeBytes: number }> {
  const source = await openFileSource(file);
  try {
    const header = await readGgufHeader(source);
    const facts = projectorFacts(header);
    if (!facts) {
      const arch = header.metadata.get('general.architecture');
      throw new GgufError(`${path.basename(file)} is not a projector (its architecture is ${String(arch ?? 'not named')}, not clip).`);
    }
    return { ...facts, sizeBytes: source.size };
  } finally {
    await source.close();
  }
}

/** Whether a GGUF header is a projector's, cheaply, for folder scans. */
export function isProjectorHeader(header: GgufHeader): boolean {
  return header.metadata.get('general.architecture') === 'clip';
}

/**
 * Why a projector cannot go with a model, or null where it can: llama.cpp
 * refuses the pair unless the projector's output width is the model's
 * embedding width.
 */
export function projectorMismatch(
  projector: Pick<ProjectorFacts, 'outputWidth'>,
  model: { name: string; embeddingWidth: number | null },
): string | null {
  if (projector.outputWidth === null) return 'the projector does not say how wide its output is (clip.vision.projection_dim)';
  if (model.embeddingWidth === null) return `${model.name} does not say its embedding width`;
  if (projector.outputWidth !== model.embeddingWidth) {
    return `it hands the model ${projector.outputWidth}-wide embeddings, but ${model.name} takes ${model.embeddingWidth}: it belongs to another model`;
  }
  return null;
}

/** A model's embedding width (`<arch>.embedding_length`), the width its projector must hand it. */
export async function modelEmbeddingWidth(file: string): Promise<number | null> {
  const source = await openFileSource(file);
  try {
    const header = await readGgufHeader(source);
    const arch = header.metadata.get('general.architecture');
    return typeof arch === 'string' ? num(header.metadata, `${arch}.embedding_length`) : null;
  } finally {
    await source.close();
  }
}
