/**
 * A model's metadata checked against the tensors it holds, so that a file
 * llama.cpp would refuse ("Failed to load model") is refused at import and at
 * load with the reason. It mirrors what llama.cpp's loader requires: every
 * tensor in the file must belong to a layer below `<arch>.block_count` (an
 * unused tensor fails the load), each architecture needs certain tensors
 * (src/models/<arch>.cpp, create_tensor without TENSOR_NOT_REQUIRED), and
 * token_embd is [embedding_length, vocabulary size]. Architectures not modelled
 * here get only the checks that hold for all of them.
 */
import { GgufError, type GgufHeader, type GgufTensorInfo, type GgufValue } from './gguf-header';

/** One requirement: any one of its alternatives, each a set of tensors that go together (names without ".weight"). */
type Need = ReadonlyArray<readonly string[]>;

interface ArchitectureTensors {
  /** Tensors outside the layers. */
  model: Need[];
  /** Tensors every layer needs, named after its "blk.N." prefix. */
  layer: Need[];
  /** output.weight, when present (else tied to token_embd), is [embedding_length, vocabulary] too. */
  output: boolean;
}

const need = (...names: string[]): Need => [names];
/** Separate Q, K and V, or one fused QKV (create_tensor_qkv). */
const attention: Need = [['attn_q', 'attn_k', 'attn_v'], ['attn_qkv']];
/** Experts' gate and up are separate or fused (create_tensor_gate_up_exps). */
const experts: Need = [['ffn_gate_exps', 'ffn_up_exps'], ['ffn_gate_up_exps']];
/** A dense feed-forward, or a mixture of experts (n_expert > 0). */
const denseOrExperts: Need = [
  ['ffn_gate', 'ffn_down', 'ffn_up'],
  ['ffn_gate_inp', 'ffn_down_exps', 'ffn_up_exps'],
  ['ffn_gate_inp', 'ffn_down_exps', 'ffn_gate_up_exps'],
];
const decoder = [need('token_embd'), need('output_norm')];

/** Architectures modelled exactly: llama.cpp's own requirements, kept to the ones every variant shares. */
const architectures: Record<string, ArchitectureTensors> = {
  llama: { model: decoder, layer: [need('attn_norm'), attention, need('attn_output'), need('ffn_norm'), denseOrExperts], output: true },
  mistral3: { model: decoder, layer: [need('attn_norm'), attention, need('attn_output'), need('ffn_norm'), denseOrExperts], output: true },
  qwen2: {
    model: decoder,
    layer: [need('attn_norm'), attention, need('attn_output'), need('ffn_norm'), need('ffn_gate', 'ffn_down', 'ffn_up')],
    output: true,
  },
  qwen3: {
    model: decoder,
    layer: [
      need('attn_norm'),
      attention,
      need('attn_output'),
      need('attn_q_norm', 'attn_k_norm'),
      need('ffn_norm'),
      need('ffn_gate', 'ffn_down', 'ffn_up'),
    ],
    output: true,
  },
  qwen3moe: {
    model: decoder,
    layer: [
      need('attn_norm'),
      attention,
      need('attn_output'),
      need('attn_q_norm', 'attn_k_norm'),
      need('ffn_norm'),
      need('ffn_gate_inp', 'ffn_down_exps'),
      experts,
    ],
    output: true,
  },
  gemma2: {
    model: decoder,
    layer: [
      need('attn_norm'),
      attention,
      need('attn_output'),
      need('post_attention_norm'),
      need('ffn_norm'),
      need('ffn_gate', 'ffn_up', 'ffn_down'),
      need('post_ffw_norm'),
    ],
    // Always tied: llama.cpp reads token_embd twice and never output.weight.
    output: false,
  },
  gemma3: {
    model: decoder,
    layer: [
      need('attn_norm'),
      attention,
      need('attn_output'),
      need('post_attention_norm'),
      need('attn_q_norm', 'attn_k_norm'),
      need('ffn_norm'),
      need('ffn_gate', 'ffn_up', 'ffn_down'),
      need('post_ffw_norm'),
    ],
    output: true,
  },
  // llama.cpp loads phi3's attention as optional, but its graph needs one of the two forms.
  phi3: {
    model: decoder,
    layer: [need('attn_norm'), attention, need('attn_output'), need('ffn_norm'), need('ffn_down', 'ffn_up')],
    output: true,
  },
  deepseek2: {
    model: decoder,
    // Attention is MLA in several layouts (q_a/q_b or q, k_b/v_b or kv_b); these are in all of them.
    layer: [
      need('attn_norm'),
      need('attn_kv_a_mqa'),
      need('attn_output'),
      need('ffn_norm'),
      [
        ['ffn_gate', 'ffn_down', 'ffn_up'],
        ['ffn_gate_inp', 'ffn_down_exps'],
      ],
    ],
    output: true,
  },
  'gpt-oss': {
    model: [...decoder, need('output')],
    layer: [
      need('attn_norm'),
      need('post_attention_norm'),
      attention,
      need('attn_output'),
      need('attn_sinks'),
      need('ffn_gate_inp', 'ffn_down_exps'),
      experts,
    ],
    output: true,
  },
  bert: {
    model: [need('token_embd'), need('position_embd'), need('token_embd_norm')],
    layer: [attention, need('attn_output'), need('attn_output_norm'), need('ffn_up', 'ffn_down'), need('layer_output_norm')],
    output: false,
  },
  'nomic-bert': {
    model: [need('token_embd'), need('token_embd_norm')],
    layer: [attention, need('attn_output'), need('attn_output_norm'), need('ffn_up', 'ffn_down', 'ffn_gate'), need('layer_output_norm')],
    output: false,
  },
};

/** Architectures whose token_embd is optional (llama.cpp: TENSOR_NOT_REQUIRED, or draft models that borrow their target's). */
const embeddingOptional = new Set(['codeshell', 'dflash', 'eagle3']);

const LAYER = /^blk\.(\d+)\./;
/** llama.cpp's LLAMA_MAX_LAYERS: more aborts the process (GGML_ASSERT in load_hparams). */
const MAX_LAYERS = 512;

function count(metadata: Map<string, GgufValue>, key: string): number | undefined {
  const value = metadata.get(key);
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** "blk.5", "blk.5 and blk.7", "blk.5 to blk.9", "blk.2, blk.5, blk.7 and 4 more". */
function describeLayers(indices: number[]): string {
  const names = indices.map((i) => `blk.${i}`);
  if (names.length === 1) return names[0]!;
  const contiguous = indices.every((value, i) => i === 0 || value === indices[i - 1]! + 1);
  if (contiguous && names.length > 2) return `${names[0]} to ${names.at(-1)}`;
  if (names.length <= 3) return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  return `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

function listNames(names: string[]): string {
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** The first requirement the file does not meet, as "a, b and c (or d)", with how many are missing. */
function unmet(requirement: Need, prefix: string, has: (name: string) => boolean): { names: string; missing: number } | undefined {
  const options = requirement.map((names) => names.map((name) => `${prefix}${name}.weight`));
  if (options.some((names) => names.every(has))) return undefined;
  // Name what is missing from the form the file comes closest to.
  const present = options.map((names) => names.filter(has).length);
  const best = present.indexOf(Math.max(...present));
  const missing = options[best]!.filter((name) => !has(name));
  const others = present[best] === 0 ? options.filter((_, i) => i !== best).map((names) => listNames(names)) : [];
  return { names: listNames(missing) + others.map((o) => ` (or ${o})`).join(''), missing: missing.length };
}

function checkLayers(
  arch: string,
  metadata: Map<string, GgufValue>,
  tensors: Map<string, GgufTensorInfo>,
  modelled: ArchitectureTensors | undefined,
): void {
  const blockCount = count(metadata, `${arch}.block_count`);
  if (blockCount === undefined || blockCount === 0) return;
  if (blockCount > MAX_LAYERS) {
    throw new GgufError(
      `${arch}.block_count is ${blockCount}, more than the ${MAX_LAYERS} layers llama.cpp supports; llama.cpp would abort loading this model.`,
    );
  }
  const layers = new Map<number, string>();
  for (const name of tensors.keys()) {
    const match = LAYER.exec(name);
    if (match && !layers.has(Number(match[1]))) layers.set(Number(match[1]), name);
  }
  // llama.cpp creates tensors for layers below block_count only, and refuses a file with any tensor left over.
  const beyond = [...layers.keys()].filter((i) => i >= blockCount).sort((a, b) => a - b);
  if (beyond.length > 0) {
    throw new GgufError(
      `This file is damaged or mislabelled: its metadata says ${blockCount} layers (${arch}.block_count) but it also holds ${layers.get(beyond[0]!)}, ` +
        `beyond the last layer (blk.${blockCount - 1}); llama.cpp refuses such a file.`,
    );
  }
  if (!modelled) return; // some architectures share or skip layers; only the modelled ones need every layer
  // Multi-token-prediction layers (counted in block_count) may be left out, or be all the file holds.
  const trunk = blockCount - Math.min(count(metadata, `${arch}.nextn_predict_layers`) ?? 0, blockCount);
  const trunkPresent = [...layers.keys()].filter((i) => i < trunk).length;
  if (trunk < blockCount && trunkPresent === 0) return;
  const missing: number[] = [];
  for (let i = 0; i < trunk; i += 1) if (!layers.has(i)) missing.push(i);
  if (missing.length > 0) {
    const holds = [...layers.keys()].length;
    throw new GgufError(
      `This file is damaged or incomplete: its metadata says ${blockCount} layers (${arch}.block_count) but it holds tensors for ${holds} ` +
        `(${describeLayers(missing)} ${missing.length === 1 ? 'is' : 'are'} missing).`,
    );
  }
  const has = (name: string) => tensors.has(name);
  for (let i = 0; i < trunk; i += 1) {
    for (const requirement of modelled.layer) {
      const problem = unmet(requirement, `blk.${i}.`, has);
      if (problem)
        throw new GgufError(
          `This file cannot be loaded: ${arch} models need ${problem.names}, which ${problem.missing === 1 ? 'is' : 'are'} missing.`,
        );
    }
  }
}

/** token_embd (and an untied output) are [embedding_length, vocabulary size]; llama.cpp refuses any other shape. */
function checkEmbeddingShape(
  arch: string,
  metadata: Map<string, GgufValue>,
  tensors: Map<string, GgufTensorInfo>,
  modelled: ArchitectureTensors,
): void {
  const width = count(metadata, `${arch}.embedding_length`);
  const tokens = metadata.get('tokenizer.ggml.tokens');
  const tokenizer = metadata.get('tokenizer.ggml.model');
  // Without a vocabulary ("none", "no_vocab") llama.cpp sizes it from <arch>.vocab_size instead.
  const vocabulary = typeof tokens === 'object' && tokenizer !== 'none' && tokenizer !== 'no_vocab' ? tokens.length : undefined;
  for (const name of modelled.output ? ['token_embd.weight', 'output.weight'] : ['token_embd.weight']) {
    const tensor = tensors.get(name);
    if (!tensor) continue;
    const [columns, rows = 1] = tensor.dims;
    if (width !== undefined && columns !== width) {
      throw new GgufError(
        `This file is damaged or inconsistent: its metadata says each token is embedded in ${width} values (${arch}.embedding_length), but ${name} holds ${columns} per token.`,
      );
    }
    if (vocabulary !== undefined && rows !== vocabulary) {
      throw new GgufError(
        `This file is damaged or inconsistent: its tokenizer has ${vocabulary} tokens, but ${name} is sized for ${rows}.`,
      );
    }
  }
}

/**
 * Checks a model's metadata against its tensors, across all its shards (the
 * first holds the metadata). Throws GgufError naming the first problem.
 * Adapters, projectors and shards read alone are left alone.
 */
export function checkModelTensors(headers: GgufHeader[]): void {
  const metadata = headers[0]?.metadata;
  if (!metadata) return;
  const arch = metadata.get('general.architecture');
  const type = metadata.get('general.type');
  if (typeof arch !== 'string' || arch === 'clip' || type === 'adapter' || type === 'mmproj') return;
  const splitCount = count(metadata, 'split.count');
  if (splitCount !== undefined && splitCount > headers.length) return;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const header of headers) for (const tensor of header.tensors) if (!tensors.has(tensor.name)) tensors.set(tensor.name, tensor);

  if (tensors.size === 0)
    throw new GgufError('This file holds no weights (0 tensors; a vocabulary-only GGUF?), so it cannot be loaded as a model.');
  const modelled = Object.hasOwn(architectures, arch) ? architectures[arch] : undefined;
  const model = modelled?.model ?? (embeddingOptional.has(arch) ? [] : [need('token_embd')]);
  for (const requirement of model) {
    const problem = unmet(requirement, '', (name) => tensors.has(name));
    if (problem)
      throw new GgufError(
        `This file cannot be loaded: ${arch} models need ${problem.names}, which ${problem.missing === 1 ? 'is' : 'are'} missing.`,
      );
  }
  checkLayers(arch, metadata, tensors, modelled);
  if (modelled) checkEmbeddingShape(arch, metadata, tensors, modelled);
}
