/**
 * The placement plan: a model's layers and memory per device, and the context
 * that fits, from its GGUF header, the devices llama.cpp sees (their free
 * memory) and the user's placement (devices, split, caps). Pure: the host
 * shows it before loading (`freehold plan`, Models → Options → Placement) and
 * the server engine runs it with llama-server's --device, --tensor-split,
 * --split-mode, --main-gpu and -ngl (placementArgs), which place layers the
 * way this plan counts them (llama.cpp's own rule: the last -ngl units go to
 * the GPUs, in the proportions of --tensor-split; the output layer is one unit
 * more; the input embeddings stay on the CPU).
 */
import { formatSize } from '../../shared/format';
import { findDevice, type ComputeDevice, type DevicePlan, type Placement, type PlacementPlan } from '../../shared/placement';
import type { GgufHeader } from '../formats/gguf-header';

/** What the plan needs of a model, read from its header(s). */
export interface ModelShape {
  blockCount: number;
  /** The weights of each repeating layer. */
  layerBytes: number[];
  /** The output layer's weights (output norm and head). */
  outputBytes: number;
  /** What stays on the CPU: the token embeddings and anything not in a layer. */
  inputBytes: number;
  /** f16 K and V for one token in one layer. */
  kvBytesPerTokenLayer: number;
  embd: number;
  heads: number;
  vocab: number;
}

/** Tokens in a batch as llama.cpp evaluates them (its default n_ubatch). */
const UBATCH = 512;
/** What a GPU backend keeps beside the graph's buffers (staging and scratch: ggml-vulkan's was 4 to 6 MiB on a tiny model). */
const GPU_OVERHEAD = 8 * 1024 * 1024;
/** The automatic context is not cut below this to offload more layers. */
const MIN_AUTO_CONTEXT = 4096;

export function modelShape(headers: readonly GgufHeader[]): ModelShape {
  const header = headers[0]!;
  const meta = (key: string) => header.metadata.get(key);
  const arch = String(meta('general.architecture') ?? 'llama');
  const num = (key: string, fallback: number) => {
    const v = Number(meta(`${arch}.${key}`));
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  const blockCount = num('block_count', 1);
  const embd = num('embedding_length', 4096);
  const heads = num('attention.head_count', 32);
  const kvRaw = meta(`${arch}.attention.head_count_kv`);
  const kvHeads = typeof kvRaw === 'number' && kvRaw > 0 ? kvRaw : heads;
  const keyLength = num('attention.key_length', embd / heads);
  const valueLength = num('attention.value_length', embd / heads);
  const layerBytes = new Array<number>(blockCount).fill(0);
  let outputBytes = 0;
  let inputBytes = 0;
  let vocab = 0;
  for (const tensor of headers.flatMap((h) => h.tensors)) {
    const block = /^blk\.(\d+)\./.exec(tensor.name);
    if (block && Number(block[1]) < blockCount) layerBytes[Number(block[1])]! += tensor.bytes;
    else if (tensor.name.startsWith('output')) outputBytes += tensor.bytes;
    else inputBytes += tensor.bytes;
    if (tensor.name === 'token_embd.weight') vocab = tensor.dims[1] ?? 0;
  }
  // A model without an output head ties it to the embeddings: llama.cpp then keeps a copy with the output layer.
  if (!headers.some((h) => h.tensors.some((t) => t.name === 'output.weight'))) {
    const embeddings = headers.flatMap((h) => h.tensors).find((t) => t.name === 'token_embd.weight');
    outputBytes += embeddings?.bytes ?? 0;
  }
  return {
    blockCount,
    layerBytes,
    outputBytes,
    inputBytes,
    kvBytesPerTokenLayer: kvHeads * (keyLength + valueLength) * 2,
    embd,
    heads,
    vocab,
  };
}

/**
 * llama.cpp's scratch buffers on a device for one batch (an estimate): the
 * activations, the attention scores over the context, and the logits where
 * the output layer is.
 */
export function computeEstimate(shape: ModelShape, contextSize: number, holdsOutput: boolean): number {
  // Attention over the context in tiles (flash attention, llama.cpp's default where the backend has it).
  const attention = UBATCH * shape.heads * Math.min(contextSize, 8192);
  return UBATCH * 4 * 8 * shape.embd + attention + (holdsOutput ? UBATCH * 4 * shape.vocab : 0);
}

export interface PlanInput {
  shape: ModelShape;
  /** The GPUs llama.cpp sees (empty on a CPU build or a machine without one). */
  devices: readonly ComputeDevice[];
  placement: Placement;
  /** The global cap per GPU (Settings → max VRAM per GPU), for GPUs the placement gives none. */
  globalCapBytes?: number | null;
  /** Tokens per reply: as asked, or undefined for automatic (autoContext, cut to fit). */
  contextSize?: number;
  /** The automatic context: the model's trained size, at most what the engine allows. */
  autoContext: number;
  /** Replies at once: their slots share one KV cache, each up to contextSize. */
  parallel: number;
  ramFreeBytes: number;
  /** RAM kept spare beside the model (the engine's margin), out of ramFreeBytes. */
  ramReserveBytes?: number;
  /** Weights beside the model (projector, draft model), in RAM or on the main GPU. */
  extraBytes?: number;
  /** Layers on GPUs as asked (a load's gpuLayers), rather than as many as fit. */
  gpuLayers?: number;
}

/** Why a placement cannot be planned at all (an unknown device, rows off CUDA): a sentence. */
export class PlacementError extends Error {}

interface Target {
  device: ComputeDevice;
  budget: number;
  cap: number | null;
}

function unitBytes(shape: ModelShape, unit: number, context: number): number {
  return unit < shape.blockCount ? shape.layerBytes[unit]! + shape.kvBytesPerTokenLayer * context : shape.outputBytes;
}

/**
 * Units per device for the last `count` units, in proportion to what each can
 * hold (llama.cpp's order: the first device gets the earliest of them), or
 * null when they do not fit.
 */
function assignLayers(shape: ModelShape, targets: Target[], count: number, context: number): number[] | null {
  const units = shape.blockCount + 1;
  if (count === 0) return targets.map(() => 0);
  const room = targets.map((t, i) => t.budget - GPU_OVERHEAD - computeEstimate(shape, context, i === targets.length - 1));
  if (room.some((r) => r <= 0)) return null;
  // Largest remainder on the proportions, then walk the units and move any that overflow to the next device.
  const counts = proportional(room, count);
  const placed = new Array<number>(targets.length).fill(0);
  let device = 0;
  let used = 0;
  for (let unit = units - count; unit < units; unit += 1) {
    const bytes = unitBytes(shape, unit, context);
    while (device < targets.length && (placed[device]! >= counts[device]! || used + bytes > room[device]!)) {
      if (placed[device]! < counts[device]!) {
        // This device is full before its share: the rest of its share goes to the next ones.
        const rest = counts[device]! - placed[device]!;
        counts[device] = placed[device]!;
        if (device + 1 < targets.length) counts[device + 1]! += rest;
        else return null;
      }
      device += 1;
      used = 0;
    }
    if (device >= targets.length) return null;
    placed[device]! += 1;
    used += bytes;
  }
  return placed;
}

/** `count` split in proportion to `weights`, by largest remainder. */
function proportional(weights: number[], count: number): number[] {
  const total = weights.reduce((a, b) => a + b, 0) || 1;
  const exact = weights.map((w) => (w / total) * count);
  const counts = exact.map(Math.floor);
  let left = count - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    counts[i]! += 1;
  }
  return counts;
}

/** The bytes of units [from, to) at this context: weights and KV apart. */
function span(shape: ModelShape, from: number, to: number, context: number): { weights: number; kv: number } {
  let weights = 0;
  let kv = 0;
  for (let unit = from; unit < to; unit += 1) {
    if (unit < shape.blockCount) {
      weights += shape.layerBytes[unit]!;
      kv += shape.kvBytesPerTokenLayer * context;
    } else weights += shape.outputBytes;
  }
  return { weights, kv };
}

function targetsOf(input: PlanInput): Target[] {
  const { placement, devices } = input;
  let chosen: ComputeDevice[];
  if (placement.devices === 'cpu') chosen = [];
  else if (placement.devices === 'auto') chosen = [...devices];
  else {
    chosen = placement.devices.map((id) => {
      const device = findDevice(devices, id);
      if (!device)
        throw new PlacementError(
          `There is no device "${id}" here; ${devices.length ? `llama.cpp sees ${devices.map((d) => d.id).join(', ')}` : 'llama.cpp sees no GPU (a CPU build, or no GPU driver)'}.`,
        );
      return device;
    });
    const twice = chosen.find((d, i) => chosen.indexOf(d) !== i);
    if (twice) throw new PlacementError(`${twice.id} is named twice.`);
  }
  for (const id of Object.keys(placement.maxMemory ?? {}))
    if (!findDevice(chosen, id)) throw new PlacementError(`A cap is set for ${id}, which this placement does not use.`);
  return chosen.map((device) => {
    const own = Object.entries(placement.maxMemory ?? {}).find(([id]) => id.toLowerCase() === device.id.toLowerCase())?.[1];
    const cap = own ?? input.globalCapBytes ?? null;
    return { device, cap, budget: Math.min(device.freeBytes, cap ?? Infinity) };
  });
}

/** The plan for a placement: see the file's comment. Throws PlacementError for a placement that names what is not there. */
export function planPlacement(input: PlanInput): PlacementPlan {
  const { shape, placement } = input;
  const targets = targetsOf(input);
  const split: PlacementPlan['split'] =
    targets.length === 0 ? 'none' : placement.split === 'rows' ? 'rows' : targets.length > 1 ? 'layers' : 'none';
  if (split === 'rows' && targets.some((t) => t.device.backend !== 'cuda'))
    throw new PlacementError(`Splitting by rows needs CUDA GPUs; ${targets.map((t) => t.device.id).join(', ')} can be split by layers.`);
  const units = shape.blockCount + 1;
  const parallel = Math.max(1, input.parallel);
  const notes: string[] = [];

  const wanted = input.contextSize ?? input.autoContext;
  const floor = input.contextSize ?? Math.min(input.autoContext, MIN_AUTO_CONTEXT);
  let context = wanted;
  let counts = targets.map(() => 0);
  const fixedLayers = input.gpuLayers === undefined ? undefined : Math.min(Math.max(0, input.gpuLayers), units);
  const fitAt = (ctx: number): { counts: number[]; n: number } => {
    if (split === 'rows') {
      // Rows: every matrix split across the GPUs in proportion; the KV cache and scratch on the main GPU.
      for (let n = fixedLayers ?? units; n >= 0; n -= 1) {
        const { weights, kv } = span(shape, units - n, units, ctx);
        const room = targets.map((t) => t.budget);
        const total = room.reduce((a, b) => a + b, 0);
        const ok = targets.every((t, i) => {
          const share = (room[i]! / total) * weights + GPU_OVERHEAD + (i === 0 ? kv + computeEstimate(shape, ctx, true) : 0);
          return share <= t.budget;
        });
        if (ok || fixedLayers !== undefined) return { counts: targets.map(() => n), n };
      }
      return { counts: targets.map(() => 0), n: 0 };
    }
    for (let n = fixedLayers ?? (targets.length ? units : 0); n >= 0; n -= 1) {
      const assigned = assignLayers(shape, targets, n, ctx);
      if (assigned) return { counts: assigned, n };
      if (fixedLayers !== undefined) break;
    }
    // Layers asked for that do not fit: placed in proportion all the same, so that the plan says who is short.
    if (fixedLayers !== undefined && targets.length)
      return {
        counts: proportional(
          targets.map((t) => t.budget),
          fixedLayers,
        ),
        n: fixedLayers,
      };
    return { counts: targets.map(() => 0), n: 0 };
  };
  let fit = fitAt(context);
  // An automatic context is cut (by halves, not below 4,096 tokens or what was asked) while that puts more layers on the GPUs.
  while (targets.length && fixedLayers === undefined && fit.n < units && context / 2 >= floor) {
    const smaller = fitAt(Math.floor(context / 2));
    if (smaller.n <= fit.n) break;
    context = Math.floor(context / 2);
    fit = smaller;
  }
  if (context < wanted) notes.push(`The context was cut from ${wanted} to ${context} tokens to put more layers on the GPU.`);
  counts = fit.counts;
  const gpuLayers = split === 'rows' ? fit.n : counts.reduce((a, b) => a + b, 0);

  // Each device's share, with the units in llama.cpp's order.
  const devices: DevicePlan[] = [];
  let from = units - gpuLayers;
  targets.forEach((t, i) => {
    let weights: number;
    let kv: number;
    let layers: number;
    if (split === 'rows') {
      const all = span(shape, units - gpuLayers, units, context);
      const total = targets.reduce((a, x) => a + x.budget, 0);
      weights = Math.round((t.budget / total) * all.weights);
      kv = i === 0 ? all.kv : 0;
      layers = gpuLayers;
    } else {
      layers = counts[i]!;
      ({ weights, kv } = span(shape, from, from + layers, context));
      from += layers;
    }
    const holdsOutput = split === 'rows' ? i === 0 : i === targets.length - 1 && gpuLayers === units;
    const computeBytes = layers > 0 || i === 0 ? GPU_OVERHEAD + computeEstimate(shape, context, holdsOutput) : 0;
    devices.push({
      id: t.device.id,
      name: t.device.name,
      layers,
      weightBytes: weights,
      kvBytes: kv,
      computeBytes,
      plannedBytes: weights + kv + computeBytes,
      budgetBytes: t.budget,
      capBytes: t.cap,
      freeBytes: t.device.freeBytes,
    });
  });
  const onCpu = span(shape, 0, units - gpuLayers, context);
  const cpuCompute = gpuLayers < units ? computeEstimate(shape, context, true) : UBATCH * 4 * shape.embd * 4;
  const cpuWeights = onCpu.weights + shape.inputBytes + (input.extraBytes ?? 0);
  const cpu: DevicePlan = {
    id: 'CPU',
    name: 'CPU (RAM)',
    layers: units - gpuLayers,
    weightBytes: cpuWeights,
    kvBytes: onCpu.kv,
    computeBytes: cpuCompute,
    plannedBytes: cpuWeights + onCpu.kv + cpuCompute,
    budgetBytes: Math.max(0, input.ramFreeBytes - (input.ramReserveBytes ?? 0)),
    capBytes: null,
    freeBytes: input.ramFreeBytes,
  };

  // The replies at once share what is left where the KV cache lives, up to a whole context each.
  let pool = context;
  if (parallel > 1) {
    const perToken = [...devices, cpu].map((d) => ({ d, perToken: d.kvBytes / context }));
    const extra = Math.min(
      context * (parallel - 1),
      ...perToken.filter((x) => x.perToken > 0).map((x) => Math.floor(Math.max(0, x.d.budgetBytes - x.d.plannedBytes) / x.perToken)),
    );
    pool = context + Math.max(0, extra);
    for (const x of perToken) {
      const more = Math.round(x.perToken * (pool - context));
      x.d.kvBytes += more;
      x.d.plannedBytes += more;
    }
    if (pool < context * parallel)
      notes.push(
        `${parallel} replies at once share a ${pool}-token cache: each may use the whole ${context}-token context; when several long ones outgrow it, idle conversations' cached tokens go first.`,
      );
  }

  const reserve = input.ramReserveBytes ?? 0;
  const over = [...devices, cpu].find((d) => d.plannedBytes > d.budgetBytes);
  // The CPU's need counts the RAM kept spare, against all that is free.
  const needed = over ? over.plannedBytes + (over.id === 'CPU' ? reserve : 0) : 0;
  const available = over ? (over.id === 'CPU' ? over.freeBytes : over.budgetBytes) : 0;
  const short = over
    ? {
        device: over.id,
        neededBytes: needed,
        availableBytes: available,
        shortBytes: needed - available,
        message:
          over.id === 'CPU'
            ? `RAM is ${formatSize(needed - available)} short: the part on the CPU needs ${formatSize(over.plannedBytes)}${reserve ? ` and ${formatSize(reserve)} is kept spare` : ''}, and ${formatSize(available)} is free.`
            : `${over.id} is ${formatSize(needed - available)} short: its ${over.layers} layer${over.layers === 1 ? '' : 's'} and a ${context}-token context need ${formatSize(needed)}, and it may use ${formatSize(available)}${over.capBytes !== null && over.capBytes < over.freeBytes ? ` (its cap)` : ' (free now)'}.`,
      }
    : undefined;

  const where =
    targets.length === 0
      ? 'CPU only'
      : split === 'rows'
        ? `${gpuLayers}/${units} layers split by rows over ${devices.map((d) => `${d.id} (${formatSize(d.plannedBytes)})`).join(', ')}`
        : `${gpuLayers}/${units} layers on ${devices.map((d) => `${d.id} ${d.layers} (${formatSize(d.plannedBytes)})`).join(', ')}`;
  const summary = `${where}${gpuLayers < units && targets.length ? `, ${units - gpuLayers} on the CPU` : ''}; ${context}-token context${pool > context ? ` (${pool} tokens shared by ${parallel} replies)` : ''}.`;
  return {
    placement,
    split,
    gpuLayers,
    totalLayers: units,
    devices,
    cpu,
    contextSize: context,
    contextPool: pool,
    parallel,
    fits: !short,
    ...(short ? { short } : {}),
    summary,
    notes,
  };
}

/** llama-server's arguments for a plan: the devices, the split, the main GPU and the layers. */
export function placementArgs(plan: PlacementPlan): string[] {
  if (plan.devices.length === 0) return ['--device', 'none', '-ngl', '0'];
  const args = ['--device', plan.devices.map((d) => d.id).join(','), '-ngl', String(plan.gpuLayers)];
  if (plan.split === 'none') return [...args, '-sm', 'none', '-mg', '0'];
  if (plan.split === 'rows') {
    const total = plan.devices.reduce((a, d) => a + d.budgetBytes, 0);
    return [...args, '-sm', 'row', '-mg', '0', '-ts', plan.devices.map((d) => (d.budgetBytes / total).toFixed(4)).join(',')];
  }
  return [...args, '-sm', 'layer', '-mg', '0', '-ts', plan.devices.map((d) => String(d.layers)).join(',')];
}
