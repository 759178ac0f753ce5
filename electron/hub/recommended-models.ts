import type { RecommendedModel, StarterChoice } from '../../shared/hub';
import type { HardwareReport } from '../../shared/inference';
import { formatGb } from '../../shared/format';
import { estimateFitOf } from './fit';

/**
 * Open models worth starting with, in the order shown: the families people run
 * locally now first (Qwen 3.5/3.6, Gemma 4, gpt-oss, the DeepSeek-R1 distills),
 * then the established ones. Repos and quantizations follow node-llama-cpp's
 * own curated list (dist/cli/recommendedModels.js) where it has the family
 * (Mistral Small 3.2 is not there yet), which is tested against
 * the llama.cpp it bundles. Sizes are the files' approximate sizes; the KV
 * cache per token (f16, all layers) is what the fit estimate adds for the
 * context, rounded up where the architecture needs less (hybrid and sliding-
 * window attention), so an estimate errs on the safe side.
 */
interface Entry extends Omit<RecommendedModel, 'fit'> {
  kvBytesPerToken: number;
}

const GB = 1e9;

export const recommendedCatalog: Entry[] = [
  {
    repo: 'unsloth/Qwen3.5-9B-GGUF',
    family: 'Qwen 3.5',
    parameters: '9B',
    quantization: 'Q4_K_M',
    sizeBytes: 5.7 * GB,
    kvBytesPerToken: 147_456,
    note: "Qwen's current generation: strong chat, code and tool use, thinks when it helps. The best all-rounder for an 8 GB GPU or a 16 GB Mac.",
  },
  {
    repo: 'unsloth/Qwen3.5-4B-GGUF',
    family: 'Qwen 3.5',
    parameters: '4B',
    quantization: 'Q4_K_M',
    sizeBytes: 2.7 * GB,
    kvBytesPerToken: 147_456,
    note: 'A modern reasoning Qwen light enough for laptops and CPUs; good for everyday chat and code.',
  },
  {
    repo: 'unsloth/Qwen3.5-0.8B-GGUF',
    family: 'Qwen 3.5',
    parameters: '0.8B',
    quantization: 'Q8_0',
    sizeBytes: 0.9 * GB,
    kvBytesPerToken: 114_688,
    note: 'Tiny and quick: runs on almost anything, for simple tasks (Q8_0, since small models suffer most from 4-bit).',
  },
  {
    repo: 'unsloth/Qwen3.6-35B-A3B-GGUF',
    family: 'Qwen 3.6',
    parameters: '35B (3B active)',
    quantization: 'Q4_K_M',
    sizeBytes: 21.4 * GB,
    kvBytesPerToken: 98_304,
    note: 'Mixture of experts with 3B active parameters: near-flagship coding and agents at small-model speed. For 24 GB GPUs or 32 GB Macs.',
  },
  {
    repo: 'unsloth/Qwen3.6-27B-GGUF',
    family: 'Qwen 3.6',
    parameters: '27B',
    quantization: 'Q4_K_M',
    sizeBytes: 16.5 * GB,
    kvBytesPerToken: 262_144,
    note: 'Dense 27B, a strong local coding model; needs a 24 GB GPU to run well.',
  },
  {
    repo: 'giladgd/gemma-4-E4B-it-GGUF',
    family: 'Gemma 4',
    parameters: '8B (4.5B effective)',
    quantization: 'Q4_K_M',
    sizeBytes: 4.9 * GB,
    kvBytesPerToken: 139_264,
    note: "Google's Gemma 4 made for laptops: reasoning, coding and function calling, 128K context.",
  },
  {
    repo: 'giladgd/gemma-4-E2B-it-GGUF',
    family: 'Gemma 4',
    parameters: '5B (2.3B effective)',
    quantization: 'Q4_K_M',
    sizeBytes: 3.1 * GB,
    kvBytesPerToken: 139_264,
    note: 'The smallest, fastest Gemma 4, for modest hardware.',
  },
  {
    repo: 'giladgd/gemma-4-12B-it-GGUF',
    family: 'Gemma 4',
    parameters: '12B',
    quantization: 'Q4_K_M',
    sizeBytes: 7.3 * GB,
    kvBytesPerToken: 393_216,
    note: 'A clear step up from the 8B class; for 12–16 GB GPUs or unified memory.',
  },
  {
    repo: 'giladgd/gemma-4-26B-A4B-it-GGUF',
    family: 'Gemma 4',
    parameters: '25B (3.8B active)',
    quantization: 'Q4_K_M',
    sizeBytes: 15.4 * GB,
    kvBytesPerToken: 393_216,
    note: 'Mixture of experts: high-end Gemma 4 quality, much faster than a dense model of its size.',
  },
  {
    repo: 'giladgd/gpt-oss-20b-GGUF',
    family: 'gpt-oss',
    parameters: '21B (3.6B active)',
    quantization: 'MXFP4',
    sizeBytes: 12.1 * GB,
    kvBytesPerToken: 49_152,
    note: "OpenAI's open-weight reasoning model; 3.6B active parameters make it fast on a 16 GB GPU. Native tool use.",
  },
  {
    repo: 'mradermacher/DeepSeek-R1-Distill-Qwen-14B-GGUF',
    family: 'DeepSeek-R1 distill',
    parameters: '14B',
    quantization: 'Q4_K_M',
    sizeBytes: 9.0 * GB,
    kvBytesPerToken: 196_608,
    note: "DeepSeek-R1's reasoning distilled into Qwen 14B: shows its thinking, strong at maths and logic.",
  },
  {
    repo: 'mradermacher/DeepSeek-R1-Distill-Qwen-7B-GGUF',
    family: 'DeepSeek-R1 distill',
    parameters: '7B',
    quantization: 'Q4_K_M',
    sizeBytes: 4.7 * GB,
    kvBytesPerToken: 57_344,
    note: 'The R1 reasoning style in a 7B that fits 6 GB GPUs.',
  },
  {
    repo: 'unsloth/Mistral-Small-3.2-24B-Instruct-2506-GGUF',
    family: 'Mistral Small 3.2',
    parameters: '24B',
    quantization: 'Q4_K_M',
    sizeBytes: 14.3 * GB,
    kvBytesPerToken: 163_840,
    note: "Mistral's current open model: precise instruction following and function calling, Apache 2.0.",
  },
  {
    repo: 'mradermacher/Mistral-Nemo-Instruct-2407-GGUF',
    family: 'Mistral Nemo',
    parameters: '12B',
    quantization: 'Q4_K_M',
    sizeBytes: 7.5 * GB,
    kvBytesPerToken: 163_840,
    note: 'Mistral and NVIDIA’s 12B, good at European languages and long context.',
  },
  {
    repo: 'mradermacher/Meta-Llama-3.1-8B-Instruct-GGUF',
    family: 'Llama 3.1',
    parameters: '8B',
    quantization: 'Q4_K_M',
    sizeBytes: 4.9 * GB,
    kvBytesPerToken: 131_072,
    note: "Meta's widely used 8B: solid general chat, 128K context, huge ecosystem of fine-tunes.",
  },
  {
    repo: 'mradermacher/Llama-3.2-3B-Instruct-GGUF',
    family: 'Llama 3.2',
    parameters: '3B',
    quantization: 'Q4_K_M',
    sizeBytes: 2.0 * GB,
    kvBytesPerToken: 114_688,
    note: 'A capable small Llama for older laptops.',
  },
  {
    repo: 'Qwen/Qwen3-8B-GGUF',
    family: 'Qwen 3',
    parameters: '8B',
    quantization: 'Q4_K_M',
    sizeBytes: 5.0 * GB,
    kvBytesPerToken: 147_456,
    note: 'The previous Qwen generation, from the Qwen team itself; thinking can be switched off with /no_think.',
  },
  {
    repo: 'mradermacher/phi-4-GGUF',
    family: 'Phi-4',
    parameters: '14B',
    quantization: 'Q4_K_M',
    sizeBytes: 9.1 * GB,
    kvBytesPerToken: 204_800,
    note: "Microsoft's 14B, strong at reasoning and maths for its size.",
  },
];

/**
 * First models, best first. On a GPU the best that fits in VRAM; without one
 * (or when none fits there) the best that fits in RAM and is small enough to
 * answer at a pleasant speed on a CPU.
 */
const starterLadder = ['unsloth/Qwen3.5-9B-GGUF', 'unsloth/Qwen3.5-4B-GGUF', 'unsloth/Qwen3.5-0.8B-GGUF'];
const CPU_COMFORT_BYTES = 3 * GB;
const CONTEXT = 4096;

export function recommendedModels(hardware: HardwareReport | null): RecommendedModel[] {
  return recommendedCatalog.map(({ kvBytesPerToken, ...entry }) => ({
    ...entry,
    fit: hardware ? estimateFitOf(entry.sizeBytes, kvBytesPerToken * CONTEXT, CONTEXT, hardware) : null,
  }));
}

export function chooseStarter(hardware: HardwareReport | null): StarterChoice {
  const models = recommendedModels(hardware);
  const ladder = starterLadder.map((repo) => models.find((m) => m.repo === repo)!);
  if (!hardware) {
    const small = ladder[1]!;
    return {
      model: small,
      reason: `The hardware is not known yet, so this is the small model most machines run well (about ${formatGb(small.sizeBytes)}).`,
    };
  }
  const onGpu = ladder.find((m) => m.fit?.verdict === 'gpu');
  if (onGpu) return { model: onGpu, reason: `Fits on your GPU: ${onGpu.fit!.explanation}` };
  const inRam = ladder.find((m) => m.fit?.verdict === 'ram' && m.sizeBytes <= CPU_COMFORT_BYTES);
  if (inRam) {
    return {
      model: inRam,
      reason: `Runs from RAM at a usable speed: ${inRam.fit!.explanation} Larger models would fit only on a GPU or answer slowly.`,
    };
  }
  const smallest = ladder.at(-1)!;
  return {
    model: null,
    reason: `Even the smallest recommended model (${smallest.family} ${smallest.parameters}, about ${formatGb(smallest.sizeBytes)}) does not fit the memory free now: ${smallest.fit!.explanation} Close other programs and try again, or search for a smaller model.`,
  };
}

/**
 * Embedding models for documents in chat, best first: Qwen3-Embedding 0.6B
 * (top of its size on the MTEB retrieval boards, 32K context, 100+ languages)
 * and Google's EmbeddingGemma 300M (half the size, for small machines). Both
 * are current (2025), run in llama.cpp, and are tiny beside a chat model.
 */
export const embeddingCatalog: Entry[] = [
  {
    repo: 'Qwen/Qwen3-Embedding-0.6B-GGUF',
    family: 'Qwen3-Embedding',
    parameters: '0.6B',
    quantization: 'Q8_0',
    sizeBytes: 0.64 * GB,
    kvBytesPerToken: 114_688,
    note: 'Finds the passages of your documents by meaning, in over 100 languages; small beside a chat model.',
  },
  {
    repo: 'ggml-org/embeddinggemma-300M-GGUF',
    family: 'EmbeddingGemma',
    parameters: '300M',
    quantization: 'Q8_0',
    sizeBytes: 0.33 * GB,
    kvBytesPerToken: 49_152,
    note: "Google's small embedding model: good retrieval for its size, for machines with little memory free.",
  },
];

/** The embedding model to offer when documents are first used: the best that fits the memory free now beside a chat model. */
export function chooseEmbeddingStarter(hardware: HardwareReport | null): StarterChoice {
  const models = embeddingCatalog.map(({ kvBytesPerToken, ...entry }) => ({
    ...entry,
    fit: hardware ? estimateFitOf(entry.sizeBytes, kvBytesPerToken * 2048, 2048, hardware) : null,
  }));
  const best = models[0]!;
  if (!hardware) return { model: best, reason: `About ${formatGb(best.sizeBytes)}; it runs beside your chat model.` };
  const fits = models.find((m) => m.fit?.verdict !== 'no' && (m.fit?.freeRamBytes ?? 0) + (m.fit?.freeVramBytes ?? 0) > 4 * m.sizeBytes);
  if (fits) return { model: fits, reason: `Fits beside your chat model: ${fits.fit!.explanation}` };
  const smallest = models.at(-1)!;
  return {
    model: smallest,
    reason: `Memory is short now (${smallest.fit?.explanation ?? ''}); this is the smallest good embedding model. Until one is there, documents are found by keywords.`,
  };
}
