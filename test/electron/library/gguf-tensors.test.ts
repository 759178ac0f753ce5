import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GgufError, readGgufHeader, type GgufHeader, type GgufValue } from '../../../electron/formats/gguf-header';
import { checkModelTensors } from '../../../electron/formats/gguf-tensors';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { bufferSource } from '../../helpers/gguf-bytes';
import { setUint32, tensor, writeEditedGguf, type EditableGguf } from '../../helpers/gguf-edit';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

const model = testModelPath();

/**
 * Copies of stories260K (llama: 5 layers, embedding 64, 512 tokens) whose
 * metadata promises more than their tensors hold, each with the reason a user
 * should read. llama.cpp refuses every one of them with "Failed to load model".
 */
const mismatches: Array<[string, (gguf: EditableGguf) => void, RegExp]> = [
  [
    'more-layers.gguf',
    (g) => setUint32(g, 'llama.block_count', 7),
    /This file is damaged or incomplete: its metadata says 7 layers \(llama\.block_count\) but it holds tensors for 5 \(blk\.5 and blk\.6 are missing\)\./,
  ],
  [
    'layer-gone.gguf',
    (g) => (g.tensors = g.tensors.filter((t) => !t.name.startsWith('blk.2.'))),
    /its metadata says 5 layers \(llama\.block_count\) but it holds tensors for 4 \(blk\.2 is missing\)\./,
  ],
  [
    'layer-beyond.gguf',
    (g) =>
      g.tensors.push(
        ...g.tensors.filter((t) => t.name.startsWith('blk.4.')).map((t) => ({ ...t, name: t.name.replace('blk.4.', 'blk.5.') })),
      ),
    /This file is damaged or mislabelled: its metadata says 5 layers \(llama\.block_count\) but it also holds blk\.5\.attn_q\.weight, beyond the last layer \(blk\.4\); llama\.cpp refuses such a file\./,
  ],
  [
    'no-ffn-up.gguf',
    (g) => (g.tensors = g.tensors.filter((t) => t.name !== 'blk.3.ffn_up.weight')),
    /This file cannot be loaded: llama models need blk\.3\.ffn_up\.weight, which is missing\./,
  ],
  [
    'no-output-norm.gguf',
    (g) => (g.tensors = g.tensors.filter((t) => t.name !== 'output_norm.weight')),
    /This file cannot be loaded: llama models need output_norm\.weight, which is missing\./,
  ],
  [
    'no-attention.gguf',
    (g) => (g.tensors = g.tensors.filter((t) => !/^blk\.0\.attn_[qkv]\./.test(t.name))),
    /llama models need blk\.0\.attn_q\.weight, blk\.0\.attn_k\.weight and blk\.0\.attn_v\.weight \(or blk\.0\.attn_qkv\.weight\), which are missing\./,
  ],
  [
    'short-vocabulary.gguf',
    (g) => (tensor(g, 'token_embd.weight').dims = [64, 500]),
    /This file is damaged or inconsistent: its tokenizer has 512 tokens, but token_embd\.weight is sized for 500\./,
  ],
  [
    'narrow-embedding.gguf',
    (g) => (tensor(g, 'token_embd.weight').dims = [32, 512]),
    /its metadata says each token is embedded in 64 values \(llama\.embedding_length\), but token_embd\.weight holds 32 per token\./,
  ],
  [
    'vocabulary-only.gguf',
    (g) => (g.tensors = []),
    /This file holds no weights \(0 tensors; a vocabulary-only GGUF\?\), so it cannot be loaded as a model\./,
  ],
  [
    'output-vocabulary.gguf',
    (g) => (tensor(g, 'output.weight').dims = [64, 256]),
    /its tokenizer has 512 tokens, but output\.weight is sized for 256\./,
  ],
];

function writeMismatches(dir: string): Array<[string, RegExp]> {
  return mismatches.map(([name, edit, reason]) => {
    writeEditedGguf(model, path.join(dir, name), edit);
    return [path.join(dir, name), reason];
  });
}

const open: HostServices[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function host(dataDir = tempDir()) {
  const services = await createHostServices({ dataDir, host: 'cli', log: () => undefined, watchFolders: false });
  open.push(services);
  return services;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describe('import checks metadata against tensors', () => {
  it('refuses each mismatch with its reason, in place or copied, and adds nothing to the library', async () => {
    const dataDir = tempDir();
    const services = await host(dataDir);
    const files = writeMismatches(tempDir());
    for (const mode of ['reference', 'copy'] as const) {
      const results = await services.handlers['models.import']({ paths: files.map(([file]) => file), mode });
      expect(results).toHaveLength(files.length);
      for (const [i, [file, reason]] of files.entries()) {
        expect(results[i], `${path.basename(file)} (${mode})`).toMatchObject({
          path: file,
          ok: false,
          error: expect.stringMatching(reason),
        });
        expect(results[i]!.error).toMatch(/^Not a usable GGUF model: /);
      }
    }
    expect((await services.handlers['models.list'](undefined)).models).toEqual([]);
    // Nothing was copied, not even in part.
    expect(filesUnder(path.join(dataDir, 'models'))).toEqual([]);
    // The untouched model still imports: the check is not what refuses them.
    const [good] = await services.handlers['models.import']({ paths: [model], mode: 'reference' });
    expect(good).toMatchObject({ ok: true, model: { architecture: 'llama' } });
  });

  it('refuses an upload with a mismatch and leaves no file behind', async () => {
    const dataDir = tempDir();
    const services = await host(dataDir);
    const [[file, reason]] = writeMismatches(tempDir()) as [[string, RegExp]];
    await expect(services.library.importStream('upload.gguf', createReadStream(file))).rejects.toMatchObject({
      code: 'invalid_model',
      message: expect.stringMatching(reason),
    });
    expect((await services.handlers['models.list'](undefined)).models).toEqual([]);
    expect(filesUnder(path.join(dataDir, 'models'))).toEqual([]);
  });

  it('skips such files when indexing a folder in place', async () => {
    const services = await host();
    const root = tempDir();
    mkdirSync(path.join(root, 'damaged'));
    writeMismatches(path.join(root, 'damaged'));
    writeEditedGguf(model, path.join(root, 'good.gguf'), () => undefined);
    const folder = await services.handlers['folders.add']({ path: root });
    expect(folder.modelCount).toBe(1);
    expect((await services.handlers['models.list'](undefined)).models.map((m) => path.basename(m.files[0]!))).toEqual(['good.gguf']);
  });
});

// ---- tensor layouts of real models, for the architectures that matter ----

const layerTensors: Record<string, string[]> = {
  // Qwen3-0.6B (tied output)
  qwen3: [
    'attn_k',
    'attn_k_norm',
    'attn_norm',
    'attn_output',
    'attn_q',
    'attn_q_norm',
    'attn_v',
    'ffn_down',
    'ffn_gate',
    'ffn_norm',
    'ffn_up',
  ],
  // Qwen2.5 and the DeepSeek-R1 Qwen distills: Q/K/V biases
  qwen2: [
    'attn_k',
    'attn_k.bias',
    'attn_norm',
    'attn_output',
    'attn_q',
    'attn_q.bias',
    'attn_v',
    'attn_v.bias',
    'ffn_down',
    'ffn_gate',
    'ffn_norm',
    'ffn_up',
  ],
  // Qwen3-30B-A3B
  qwen3moe: [
    'attn_k',
    'attn_k_norm',
    'attn_norm',
    'attn_output',
    'attn_q',
    'attn_q_norm',
    'attn_v',
    'ffn_down_exps',
    'ffn_gate_exps',
    'ffn_gate_inp',
    'ffn_norm',
    'ffn_up_exps',
  ],
  // Gemma 2 and Gemma 3 (tied output); Gemma 3 adds Q/K norms
  gemma2: [
    'attn_k',
    'attn_norm',
    'attn_output',
    'attn_q',
    'attn_v',
    'ffn_down',
    'ffn_gate',
    'ffn_norm',
    'ffn_up',
    'post_attention_norm',
    'post_ffw_norm',
  ],
  gemma3: [
    'attn_k',
    'attn_k_norm',
    'attn_norm',
    'attn_output',
    'attn_q',
    'attn_q_norm',
    'attn_v',
    'ffn_down',
    'ffn_gate',
    'ffn_norm',
    'ffn_up',
    'post_attention_norm',
    'post_ffw_norm',
  ],
  // gpt-oss-20b: biases everywhere, attention sinks, experts
  'gpt-oss': [
    'attn_k',
    'attn_k.bias',
    'attn_norm',
    'attn_output',
    'attn_output.bias',
    'attn_q',
    'attn_q.bias',
    'attn_sinks',
    'attn_v',
    'attn_v.bias',
    'ffn_down_exps',
    'ffn_down_exps.bias',
    'ffn_gate_exps',
    'ffn_gate_exps.bias',
    'ffn_gate_inp',
    'ffn_gate_inp.bias',
    'ffn_up_exps',
    'ffn_up_exps.bias',
    'post_attention_norm',
  ],
  // Phi-3.5-mini: fused QKV, fused gate/up
  phi3: ['attn_norm', 'attn_output', 'attn_qkv', 'ffn_down', 'ffn_norm', 'ffn_up'],
  // Mistral 7B / Llama 3 / SmolLM
  llama: ['attn_k', 'attn_norm', 'attn_output', 'attn_q', 'attn_v', 'ffn_down', 'ffn_gate', 'ffn_norm', 'ffn_up'],
  // Ministral 3 / Mistral Small 3.x
  mistral3: ['attn_k', 'attn_norm', 'attn_output', 'attn_q', 'attn_v', 'ffn_down', 'ffn_gate', 'ffn_norm', 'ffn_up'],
  // nomic-embed-text-v1.5
  'nomic-bert': [
    'attn_output',
    'attn_output_norm',
    'attn_output_norm.bias',
    'attn_qkv',
    'ffn_down',
    'ffn_gate',
    'ffn_up',
    'layer_output_norm',
    'layer_output_norm.bias',
  ],
  // bge / all-MiniLM
  bert: [
    'attn_k',
    'attn_k.bias',
    'attn_output',
    'attn_output.bias',
    'attn_output_norm',
    'attn_output_norm.bias',
    'attn_q',
    'attn_q.bias',
    'attn_v',
    'attn_v.bias',
    'ffn_down',
    'ffn_down.bias',
    'ffn_up',
    'ffn_up.bias',
    'layer_output_norm',
    'layer_output_norm.bias',
  ],
};

const modelTensors: Record<string, string[]> = {
  qwen3: ['token_embd', 'output_norm'],
  qwen2: ['token_embd', 'output_norm', 'output'],
  qwen3moe: ['token_embd', 'output_norm', 'output'],
  gemma2: ['token_embd', 'output_norm'],
  gemma3: ['token_embd', 'output_norm'],
  'gpt-oss': ['token_embd', 'output_norm', 'output'],
  phi3: ['token_embd', 'output_norm', 'output', 'rope_factors_long', 'rope_factors_short'],
  llama: ['token_embd', 'output_norm', 'output', 'rope_freqs'],
  mistral3: ['token_embd', 'output_norm', 'output'],
  'nomic-bert': ['token_embd', 'token_embd_norm', 'token_embd_norm.bias', 'token_types'],
  bert: ['token_embd', 'position_embd', 'token_embd_norm', 'token_embd_norm.bias', 'token_types'],
};

const WIDTH = 64;
const VOCABULARY = 1000;

function name(base: string): string {
  return base.includes('.') ? base : `${base}.weight`;
}

/** A header with these tensors (token_embd and output shaped [64, 1000]) and the usual metadata. */
function synthetic(arch: string, tensors: string[], extra: Record<string, GgufValue> = {}): GgufHeader {
  const metadata = new Map<string, GgufValue>([
    ['general.architecture', arch],
    [`${arch}.embedding_length`, WIDTH],
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.tokens', { type: 'array', elementType: 8, length: VOCABULARY }],
    ...Object.entries(extra),
  ]);
  return {
    version: 3,
    tensorCount: tensors.length,
    metadata,
    tensors: tensors.map((n) => ({
      name: n,
      dims: /^(token_embd|output)\.weight$/.test(n) ? [WIDTH, VOCABULARY] : [WIDTH],
      type: 0,
      offset: 0,
      bytes: 0,
    })),
    alignment: 32,
    dataOffset: 0,
    requiredBytes: 0,
  };
}

function layout(arch: string, blocks: number, perLayer = layerTensors[arch]!, global = modelTensors[arch]!): string[] {
  const names = global.map(name);
  for (let i = 0; i < blocks; i += 1) names.push(...perLayer.map((t) => `blk.${i}.${name(t)}`));
  return names;
}

function problem(headers: GgufHeader[]): string {
  try {
    checkModelTensors(headers);
  } catch (error) {
    if (!(error instanceof GgufError)) throw error;
    return error.message;
  }
  return 'accepted';
}

describe('checkModelTensors', () => {
  it('accepts stories260K and the tensor layouts of real Qwen, Gemma, gpt-oss, Phi, Llama, Mistral and BERT models', async () => {
    expect(problem([await readGgufHeader(bufferSource(readFileSync(model)))])).toBe('accepted');
    for (const arch of Object.keys(layerTensors)) {
      expect(problem([synthetic(arch, layout(arch, 4), { [`${arch}.block_count`]: 4 })]), arch).toBe('accepted');
    }
    // Mixtral (llama with experts, gate and up fused or not) and a tied llama.
    const mixtral = ['attn_k', 'attn_norm', 'attn_output', 'attn_q', 'attn_v', 'ffn_norm', 'ffn_gate_inp', 'ffn_down_exps'];
    expect(
      problem([synthetic('llama', layout('llama', 2, [...mixtral, 'ffn_gate_exps', 'ffn_up_exps']), { 'llama.block_count': 2 })]),
    ).toBe('accepted');
    expect(problem([synthetic('llama', layout('llama', 2, [...mixtral, 'ffn_gate_up_exps']), { 'llama.block_count': 2 })])).toBe(
      'accepted',
    );
    expect(problem([synthetic('llama', layout('llama', 2, undefined, ['token_embd', 'output_norm']), { 'llama.block_count': 2 })])).toBe(
      'accepted',
    );
  });

  it('accepts DeepSeek layouts: dense lead layers, experts, MLA attention, with or without the MTP layer', () => {
    const attention = [
      'attn_kv_a_mqa',
      'attn_kv_a_norm',
      'attn_k_b',
      'attn_v_b',
      'attn_norm',
      'attn_output',
      'attn_q_a',
      'attn_q_a_norm',
      'attn_q_b',
      'ffn_norm',
    ];
    const dense = [...attention, 'ffn_gate', 'ffn_up', 'ffn_down'];
    const moe = [
      ...attention,
      'ffn_gate_inp',
      'exp_probs_b.bias',
      'ffn_gate_exps',
      'ffn_up_exps',
      'ffn_down_exps',
      'ffn_gate_shexp',
      'ffn_up_shexp',
      'ffn_down_shexp',
    ];
    const mtp = [...moe, 'nextn.eh_proj', 'nextn.enorm', 'nextn.hnorm', 'nextn.shared_head_norm'];
    const names = ['token_embd.weight', 'output_norm.weight', 'output.weight'];
    const layers = (from: number, to: number, tensors: string[]) => {
      for (let i = from; i < to; i += 1) names.push(...tensors.map((t) => `blk.${i}.${name(t)}`));
    };
    layers(0, 1, dense);
    layers(1, 4, moe);
    const meta = { 'deepseek2.block_count': 5, 'deepseek2.nextn_predict_layers': 1 };
    // Converted without the MTP layer: llama.cpp loads the trunk alone.
    expect(problem([synthetic('deepseek2', names, meta)])).toBe('accepted');
    layers(4, 5, mtp);
    expect(problem([synthetic('deepseek2', names, meta)])).toBe('accepted');
    // Older files with the unsplit kv_b and no q LoRA.
    const lite = [
      'attn_kv_a_mqa',
      'attn_kv_a_norm',
      'attn_kv_b',
      'attn_norm',
      'attn_output',
      'attn_q',
      'ffn_norm',
      'ffn_gate',
      'ffn_up',
      'ffn_down',
    ];
    expect(
      problem([
        synthetic('deepseek2', layout('deepseek2', 3, lite, ['token_embd', 'output_norm', 'output']), { 'deepseek2.block_count': 3 }),
      ]),
    ).toBe('accepted');
    // A trunk layer missing is still refused.
    const gap = names.filter((n) => !n.startsWith('blk.2.'));
    expect(problem([synthetic('deepseek2', gap, meta)])).toMatch(
      /says 5 layers \(deepseek2\.block_count\) but it holds tensors for 4 \(blk\.2 is missing\)/,
    );
  });

  it('names what a modelled architecture is missing', () => {
    const qwen3 = layout('qwen3', 8).filter((n) => n !== 'blk.7.attn_q_norm.weight');
    expect(problem([synthetic('qwen3', qwen3, { 'qwen3.block_count': 8 })])).toBe(
      'This file cannot be loaded: qwen3 models need blk.7.attn_q_norm.weight, which is missing.',
    );
    const oss = layout('gpt-oss', 2).filter((n) => n !== 'output.weight');
    expect(problem([synthetic('gpt-oss', oss, { 'gpt-oss.block_count': 2 })])).toBe(
      'This file cannot be loaded: gpt-oss models need output.weight, which is missing.',
    );
    const moe = layout('qwen3moe', 2).filter((n) => n !== 'blk.1.ffn_up_exps.weight');
    expect(problem([synthetic('qwen3moe', moe, { 'qwen3moe.block_count': 2 })])).toMatch(
      /models need blk\.1\.ffn_up_exps\.weight, which is missing/,
    );
    const gemma = layout('gemma3', 2).filter((n) => !/^blk\.0\.post_ffw_norm/.test(n));
    expect(problem([synthetic('gemma3', gemma, { 'gemma3.block_count': 2 })])).toMatch(
      /gemma3 models need blk\.0\.post_ffw_norm\.weight, which is missing/,
    );
    const phi = layout('phi3', 2).filter((n) => n !== 'blk.1.attn_qkv.weight');
    expect(problem([synthetic('phi3', phi, { 'phi3.block_count': 2 })])).toMatch(
      /models need blk\.1\.attn_q\.weight, blk\.1\.attn_k\.weight and blk\.1\.attn_v\.weight \(or blk\.1\.attn_qkv\.weight\)/,
    );
    const bert = layout('bert', 2).filter((n) => n !== 'position_embd.weight');
    expect(problem([synthetic('bert', bert, { 'bert.block_count': 2 })])).toMatch(/bert models need position_embd\.weight/);
    expect(problem([synthetic('qwen3', layout('qwen3', 3), { 'qwen3.block_count': 12 })])).toMatch(
      /says 12 layers .* holds tensors for 3 \(blk\.3 to blk\.11 are missing\)/,
    );
  });

  it('checks only what holds for every architecture when it does not model one', () => {
    // Layers shared across loops (nanbeige, hrm-text): block_count counts more layers than the file holds.
    const looped = layout('llama', 4).map((n) => n);
    expect(problem([synthetic('nanbeige', looped, { 'nanbeige.block_count': 8 })])).toBe('accepted');
    // Encoder-decoder layers are named enc.blk / dec.blk.
    expect(
      problem([synthetic('t5', ['token_embd.weight', 'enc.blk.0.attn_q.weight', 'dec.blk.0.attn_q.weight'], { 't5.block_count': 1 })]),
    ).toBe('accepted');
    // But a layer past block_count is refused for any architecture, and so is a missing token_embd.
    expect(problem([synthetic('nanbeige', looped, { 'nanbeige.block_count': 3 })])).toMatch(
      /says 3 layers \(nanbeige\.block_count\) but it also holds blk\.3\.\w+\.weight, beyond the last layer \(blk\.2\)/,
    );
    expect(
      problem([
        synthetic(
          'nanbeige',
          looped.filter((n) => n !== 'token_embd.weight'),
          { 'nanbeige.block_count': 8 },
        ),
      ]),
    ).toMatch(/nanbeige models need token_embd\.weight/);
    // Unknown architectures are not shape-checked.
    const odd = synthetic('falcon-h1', layout('llama', 2), { 'falcon-h1.block_count': 2, 'falcon-h1.embedding_length': 32 });
    expect(problem([odd])).toBe('accepted');
  });

  it('refuses a block_count llama.cpp would abort on, without walking it', () => {
    const started = performance.now();
    expect(problem([synthetic('llama', layout('llama', 2), { 'llama.block_count': 2 ** 31 })])).toBe(
      'llama.block_count is 2147483648, more than the 512 layers llama.cpp supports; llama.cpp would abort loading this model.',
    );
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('never fails with anything but a clear GgufError on random damage to a header that still parses', async () => {
    const original = readFileSync(model);
    const { dataOffset } = await readGgufHeader(bufferSource(original));
    let seed = 777;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const outcomes = { parsed: 0, refused: 0 };
    for (let trial = 0; trial < 800; trial += 1) {
      const data = Buffer.from(original);
      for (let f = 0; f < 1 + Math.floor(random() * 3); f += 1) data[Math.floor(random() * dataOffset)] = Math.floor(random() * 256);
      let header: GgufHeader;
      try {
        header = await readGgufHeader(bufferSource(data));
      } catch {
        continue;
      }
      outcomes.parsed += 1;
      // problem() rethrows anything that is not a GgufError.
      if (problem([header]) !== 'accepted') outcomes.refused += 1;
    }
    expect(outcomes.parsed).toBeGreaterThan(100);
    expect(outcomes.refused).toBeGreaterThan(0);
  }, 60_000);

  it('leaves adapters, projectors, vocabulary-less models and lone shards alone', () => {
    const lora = synthetic('llama', ['blk.0.attn_q.weight.lora_a', 'blk.0.attn_q.weight.lora_b'], {
      'general.type': 'adapter',
      'llama.block_count': 32,
    });
    expect(problem([lora])).toBe('accepted');
    expect(problem([synthetic('clip', ['v.blk.0.attn_q.weight', 'mm.0.weight'], { 'general.type': 'mmproj' })])).toBe('accepted');
    const noVocab = synthetic('llama', layout('llama', 2), {
      'llama.block_count': 2,
      'tokenizer.ggml.model': 'none',
      'tokenizer.ggml.tokens': { type: 'array', elementType: 8, length: 3 },
    });
    expect(problem([noVocab])).toBe('accepted');
    // The first shard of three, read alone, holds only part of the tensors.
    const all = layout('qwen3', 6);
    const first = synthetic('qwen3', all.slice(0, 20), { 'qwen3.block_count': 6, 'split.count': 3 });
    expect(problem([first])).toBe('accepted');
    // Read with its shards, the tensors are counted across all of them.
    const rest = (names: string[]) => ({ ...synthetic('qwen3', names), metadata: new Map<string, GgufValue>([['split.count', 3]]) });
    expect(problem([first, rest(all.slice(20, 40)), rest(all.slice(40))])).toBe('accepted');
    expect(problem([first, rest(all.slice(20, 40)), rest(all.slice(41))])).toMatch(/models need blk\.\d\.\w+\.weight, which is missing/);
  });
});
