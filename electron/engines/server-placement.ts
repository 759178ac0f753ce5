/**
 * The server engine's placement: the plan for a load (placement-plan.ts) from
 * the model's headers, the GPUs its llama-server sees and the RAM free, and
 * the refusal of a plan that does not fit, naming the device that is short.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import { AUTO_PLACEMENT, type ComputeDevice, type Placement, type PlacementPlan } from '../../shared/placement';
import type { GgufHeader } from '../formats/gguf-header';
import { shardPaths } from '../formats/gguf-split';
import { modelShape, PlacementError, planPlacement } from './placement-plan';
import type { ServerEngineOptions, ServerLoadInput } from './server-engine';
import { listServerDevices } from './server-devices';
import { kvBytesPerToken, systemFreeMemory, weightBytesOf, type ServerMemoryNeed } from './server-fit';
import { headerOf } from './server-model';

/** RAM kept free beside a model on llama.cpp's server (the library's fit estimate keeps as much). */
export const SERVER_RAM_RESERVE = 300 * 1024 * 1024;

export interface ServerPlanInput {
  modelPath: string;
  header: GgufHeader;
  devices: readonly ComputeDevice[];
  placement?: Placement;
  globalCapBytes?: number | null;
  /** Tokens per reply: fixed, or the automatic size that the plan may cut to offload more. */
  contextSize: number;
  autoContext: boolean;
  parallel: number;
  ramFreeBytes: number;
  extraBytes: number;
  gpuLayers?: number;
}

/** Every shard's header (the first is given): a split model's layers are in all of them. */
async function allHeaders(modelPath: string, first: GgufHeader): Promise<GgufHeader[]> {
  const shards = shardPaths(modelPath);
  if (shards.length < 2) return [first];
  const rest = await Promise.all(shards.slice(1).map((file) => headerOf(file).then((h) => h.header)));
  return [first, ...rest];
}

export async function planServerLoad(input: ServerPlanInput): Promise<PlacementPlan> {
  const shape = modelShape(await allHeaders(input.modelPath, input.header));
  try {
    return planPlacement({
      shape,
      devices: input.devices,
      placement: input.placement ?? AUTO_PLACEMENT,
      globalCapBytes: input.globalCapBytes ?? null,
      ...(input.autoContext ? {} : { contextSize: input.contextSize }),
      autoContext: input.contextSize,
      parallel: input.parallel,
      ramFreeBytes: input.ramFreeBytes,
      ramReserveBytes: SERVER_RAM_RESERVE,
      extraBytes: input.extraBytes,
      ...(input.gpuLayers !== undefined ? { gpuLayers: input.gpuLayers } : {}),
    });
  } catch (error) {
    if (error instanceof PlacementError) throw new RpcError('invalid_input', error.message);
    throw error;
  }
}

/** The refusal of a plan that does not fit, or null. */
export function planRefusal(modelPath: string, plan: PlacementPlan): RpcError | null {
  if (plan.fits || !plan.short) return null;
  return new RpcError(
    'out_of_memory',
    `Not enough memory to load ${path.basename(modelPath)} on llama.cpp’s server (${plan.summary.replace(/\.$/, '')}): ${plan.short.message} ` +
      'Try a smaller quantization or context, fewer layers on the GPU, or another placement.',
    {
      device: plan.short.device,
      neededBytes: plan.short.neededBytes,
      availableBytes: plan.short.availableBytes,
      shortBytes: plan.short.shortBytes,
      contextSize: plan.contextSize,
    },
  );
}

/** Plans the server engine's loads: the devices its llama-server sees, the memory a load needs, the plan. */
export class ServerPlanner {
  /** llama-server programs that list no GPU (CPU builds): not asked again. */
  private readonly gpuless = new Set<string>();

  constructor(private readonly options: Pick<ServerEngineOptions, 'binary' | 'freeMemory' | 'devices' | 'log'>) {}

  /** The GPUs llama-server sees now, with their free memory; none where it cannot say. */
  async devices(): Promise<ComputeDevice[]> {
    if (this.options.devices) return this.options.devices();
    const binary = await this.options.binary();
    if (this.gpuless.has(binary)) return [];
    const devices = await listServerDevices(binary).catch((error: unknown) => {
      this.options.log(`server engine: could not list llama-server's devices (${(error as Error).message}); planning for the CPU`);
      return null;
    });
    if (devices?.length === 0) this.gpuless.add(binary);
    return devices ?? [];
  }

  /**
   * What the model needs with `contextSize` tokens of context: its weights
   * (every shard), its projector's and draft model's, and their KV caches.
   */
  async memoryNeed(input: ServerLoadInput, header: GgufHeader, contextSize: number): Promise<ServerMemoryNeed> {
    let weightBytes = await weightBytesOf(input.modelPath);
    let kvBytes = kvBytesPerToken(header) * contextSize;
    if (input.projectorPath) weightBytes += await weightBytesOf(input.projectorPath);
    if (input.speculative?.kind === 'draft') {
      const draft = await headerOf(input.speculative.modelPath).catch(() => null);
      if (draft) {
        weightBytes += await weightBytesOf(input.speculative.modelPath);
        kvBytes += kvBytesPerToken(draft.header) * contextSize;
      }
    }
    return { weightBytes, kvBytes, contextTokens: contextSize };
  }

  /**
   * Why a GPU build of llama-server sees no GPU, in a sentence, or null (a CPU
   * build, or one that sees a GPU): the plan then runs on the CPU and says so.
   */
  async noGpuNote(): Promise<string | null> {
    if (this.options.devices) return null;
    const binary = await this.options.binary();
    let backend: string;
    try {
      backend = String(
        (JSON.parse(await readFile(path.join(path.dirname(binary), '..', 'engine.json'), 'utf8')) as { backend?: string }).backend,
      );
    } catch {
      return null;
    }
    if (backend === 'cpu') return null;
    const label = backend === 'cuda' ? 'CUDA' : backend === 'vulkan' ? 'Vulkan' : backend === 'metal' ? 'Metal' : backend;
    const selector = backend === 'cuda' ? 'CUDA_VISIBLE_DEVICES' : backend === 'vulkan' ? 'GGML_VK_VISIBLE_DEVICES' : null;
    const driverVar = ['VK_DRIVER_FILES', 'VK_ICD_FILENAMES'].find((name) => process.env[name]);
    const missingDriver =
      backend === 'vulkan' && driverVar ? process.env[driverVar]!.split(path.delimiter).filter((file) => file && !existsSync(file)) : [];
    const why = missingDriver.length
      ? `the Vulkan driver ${driverVar} names (${missingDriver.join(', ')}) is not there`
      : selector && process.env[selector] !== undefined
        ? `none of the devices ${selector}=${process.env[selector]} selects is one it can use`
        : backend === 'vulkan'
          ? 'it found no GPU (it skips CPU renderers such as llvmpipe, and needs a GPU driver for Vulkan)'
          : 'it found no GPU (or its driver did not start)';
    return `llama.cpp’s server is a ${label} build, but ${why}: it runs on the CPU.`;
  }

  /** The plan for a load, and what it needs (its KV cache counted for the plan's whole pool). */
  async planWith(input: ServerLoadInput, header: GgufHeader): Promise<{ plan: PlacementPlan; need: ServerMemoryNeed }> {
    const free = await (this.options.freeMemory ?? systemFreeMemory)();
    const need = await this.memoryNeed(input, header, input.contextSize);
    const devices = input.placement?.devices === 'cpu' ? [] : await this.devices();
    const plan = await planServerLoad({
      modelPath: input.modelPath,
      header,
      devices,
      ...(input.placement ? { placement: input.placement } : {}),
      globalCapBytes: free.vramCapPerGpuBytes ?? null,
      contextSize: input.contextSize,
      autoContext: input.autoContext === true,
      parallel: Math.max(1, input.parallel ?? 1),
      ramFreeBytes: free.ramFreeBytes,
      extraBytes: need.weightBytes - (await weightBytesOf(input.modelPath)),
      ...(input.gpuLayers !== undefined ? { gpuLayers: input.gpuLayers } : {}),
    });
    if (devices.length === 0 && input.placement?.devices !== 'cpu') {
      const note = await this.noGpuNote();
      if (note) plan.notes.unshift(note);
    }
    need.kvBytes = (need.kvBytes / Math.max(1, need.contextTokens)) * plan.contextPool;
    need.contextTokens = plan.contextPool;
    return { plan, need };
  }
}
