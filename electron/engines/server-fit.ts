/**
 * Whether a model fits the memory free now, checked before llama-server is
 * started for it, with the estimate the library and Discover use
 * (hub/fit.ts): the weights (every shard, the projector, the draft model)
 * and an f16 KV cache for every slot's context, a tenth more and 300 MB for
 * compute buffers, against the free RAM, and the free VRAM within the cap
 * when layers go to the GPU. A load that cannot fit is refused with the
 * numbers before anything is spawned ("out_of_memory", as on the worker).
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import { formatSize } from '../../shared/format';
import type { Fit } from '../../shared/hub';
import type { HardwareReport } from '../../shared/inference';
import type { GgufHeader } from '../formats/gguf-header';
import { shardPaths } from '../formats/gguf-split';
import { estimateFitOf } from '../hub/fit';

/** The memory free now, as the fit compares it (the worker's hardware report has these). */
export interface FreeMemory {
  ramFreeBytes: number;
  /** 0 without a GPU in use. */
  vramFreeBytes: number;
  /** The user's VRAM cap (max-vram-per-gpu, times the GPUs), if set. */
  vramCapBytes?: number | null;
  /** The same cap for one GPU (the setting as it is). */
  vramCapPerGpuBytes?: number | null;
  /** Whether the GPU shares the RAM (Apple silicon). */
  unified?: boolean;
}

/** RAM free now, no GPU: the default where the host gives nothing better. */
export const systemFreeMemory = (): FreeMemory => ({ ramFreeBytes: os.freemem(), vramFreeBytes: 0 });

/** What a token of context costs in K and V, f16, over all layers: n_layer × (n_embd_k_gqa + n_embd_v_gqa) × 2 bytes. */
export function kvBytesPerToken(header: GgufHeader): number {
  const meta = (key: string) => header.metadata.get(key);
  const arch = String(meta('general.architecture') ?? 'llama');
  const num = (key: string, fallback: number) => {
    const v = Number(meta(`${arch}.${key}`));
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  const layers = num('block_count', 1);
  const embd = num('embedding_length', 4096);
  const heads = num('attention.head_count', 32);
  // head_count_kv may be an array (a count per layer): its largest then.
  const kvRaw = meta(`${arch}.attention.head_count_kv`);
  const kvHeads = typeof kvRaw === 'number' && kvRaw > 0 ? kvRaw : heads;
  const keyLength = num('attention.key_length', embd / heads);
  const valueLength = num('attention.value_length', embd / heads);
  return layers * kvHeads * (keyLength + valueLength) * 2;
}

/** A model file's bytes with all its shards (those missing count as the first). */
export async function weightBytesOf(modelPath: string): Promise<number> {
  const shards = shardPaths(modelPath);
  const sizes = await Promise.all(
    shards.map((file) =>
      stat(file).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  const first = sizes[0] ?? 0;
  return sizes.reduce((sum, size) => sum + (size || first), 0);
}

export interface ServerMemoryNeed {
  /** The model's weights, its projector's and its draft model's. */
  weightBytes: number;
  /** The KV cache of every slot (the draft model's too). */
  kvBytes: number;
  /** Tokens of context in all (per reply × replies at once). */
  contextTokens: number;
}

/** The fit of a need against the memory free, with `gpuLayers` of the model's on the GPU. */
export function serverFit(need: ServerMemoryNeed, free: FreeMemory, gpuLayers: number): Fit {
  const onGpu = gpuLayers > 0 && free.vramFreeBytes > 0;
  // estimateFitOf reads the backend, VRAM and RAM of the report, nothing else.
  const hardware = {
    backend: onGpu ? 'cuda' : 'cpu',
    vram: {
      totalBytes: 0,
      usedBytes: 0,
      freeBytes: free.vramFreeBytes,
      unifiedBytes: free.unified ? free.vramFreeBytes : 0,
      capBytes: free.vramCapBytes ?? null,
    },
    ram: { totalBytes: 0, freeBytes: free.ramFreeBytes },
  } as HardwareReport;
  return estimateFitOf(need.weightBytes, need.kvBytes, need.contextTokens, hardware);
}

/**
 * The refusal of a load that does not fit, or null: what it needs and what is
 * free, in the words the worker uses.
 */
export function fitRefusal(modelPath: string, need: ServerMemoryNeed, fit: Fit, parallel: number): RpcError | null {
  if (fit.verdict !== 'no') return null;
  const replies = parallel > 1 ? ` (${parallel} replies at once, ${need.contextTokens / parallel} tokens each)` : '';
  return new RpcError(
    'out_of_memory',
    `Not enough memory to load ${path.basename(modelPath)} on llama.cpp’s server: with a ${need.contextTokens}-token context${replies} ` +
      `it needs about ${formatSize(fit.neededBytes)} (weights ${formatSize(need.weightBytes)}, context ${formatSize(need.kvBytes)}), ` +
      `but only ${formatSize(fit.freeRamBytes)} of RAM${fit.freeVramBytes > 0 ? ` and ${formatSize(fit.freeVramBytes)} of VRAM` : ''} are free now. ` +
      'Try a smaller quantization or context, or fewer parallel replies.',
    { neededBytes: fit.neededBytes, freeRamBytes: fit.freeRamBytes, freeVramBytes: fit.freeVramBytes, contextSize: need.contextTokens },
  );
}
