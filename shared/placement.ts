/**
 * Where a model's layers go: the user's placement per model (which devices,
 * how to split, the most memory on each GPU), the devices llama.cpp sees, and
 * the plan Freehold makes of them (layers and memory per device, the context
 * that fits), shown before loading and checked against what llama.cpp reports
 * after. Shared by the host, the CLI and the UI.
 */
import { z } from 'zod';
import type { BackendName } from './inference';

/** A device as llama.cpp names it: "Vulkan0", "CUDA1", "Metal" (any case). */
export const deviceIdSchema = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a device name such as Vulkan0 or CUDA1');

export const splitModes = ['layers', 'rows'] as const;
export type SplitMode = (typeof splitModes)[number];

/** The fewest bytes a cap may give a GPU (1 MiB): below that nothing fits. */
export const MIN_DEVICE_CAP = 1024 * 1024;

export const placementSchema = z
  .object({
    /** auto: every GPU llama.cpp sees; cpu: none; or the GPUs named, in order (the first is the main GPU). */
    devices: z.union([z.enum(['auto', 'cpu']), z.array(deviceIdSchema).min(1).max(16)]),
    /** By layers (each GPU holds whole layers, the default) or by rows (each matrix split across GPUs: CUDA only). */
    split: z.enum(splitModes).optional(),
    /** The most bytes Freehold lets the model use on a GPU, by device name; GPUs not named take the global cap, if any. */
    maxMemory: z
      .record(
        deviceIdSchema,
        z
          .number()
          .int()
          .min(MIN_DEVICE_CAP)
          .max(2 ** 50),
      )
      .optional(),
  })
  .strict();
export type Placement = z.infer<typeof placementSchema>;

export const AUTO_PLACEMENT: Placement = { devices: 'auto' };

/** A device llama.cpp can put layers on, with the memory it reports. */
export interface ComputeDevice {
  /** llama.cpp's name: "Vulkan0", "CUDA0". */
  id: string;
  /** What the device says it is: "NVIDIA GeForce RTX 4090", "llvmpipe (LLVM 15.0.6, 256 bits)". */
  name: string;
  backend: BackendName;
  totalBytes: number;
  freeBytes: number;
}

/** One device's share in a plan (the CPU's too: id "CPU"). */
export interface DevicePlan {
  id: string;
  name: string;
  /** Units placed here: repeating layers, and the output layer (counted as one more, as llama.cpp counts it). */
  layers: number;
  weightBytes: number;
  kvBytes: number;
  /** llama.cpp's scratch buffers for a batch (an estimate). */
  computeBytes: number;
  /** weights + KV + compute. */
  plannedBytes: number;
  /** What the plan may use here: the free memory, within the cap. */
  budgetBytes: number;
  capBytes: number | null;
  freeBytes: number;
}

/** Why a plan cannot be run: the device that is short, and by how much. */
export interface PlanShortfall {
  device: string;
  neededBytes: number;
  availableBytes: number;
  shortBytes: number;
  message: string;
}

export interface PlacementPlan {
  /** What was asked, as given. */
  placement: Placement;
  /** layers: whole layers per device; rows: every matrix split; none: one GPU or none. */
  split: 'layers' | 'rows' | 'none';
  /** llama.cpp's -ngl: units on GPUs (repeating layers + output). */
  gpuLayers: number;
  /** Repeating layers + the output layer. */
  totalLayers: number;
  /** The GPUs, in the order given (the first is the main GPU). */
  devices: DevicePlan[];
  cpu: DevicePlan;
  /** Tokens of context one reply gets. */
  contextSize: number;
  /** Tokens of KV cache in all (llama.cpp's unified cache shared by the replies at once): at least contextSize. */
  contextPool: number;
  parallel: number;
  fits: boolean;
  short?: PlanShortfall;
  /** One line: "6/6 layers on GPUs: Vulkan0 4 (1.2 MiB), Vulkan1 2 (0.8 MiB); 8192-token context". */
  summary: string;
  notes: string[];
}

/** What llama.cpp reported per device after loading (its buffer sizes), against the plan. */
export interface MeasuredDevice {
  id: string;
  modelBytes: number;
  kvBytes: number;
  computeBytes: number;
  totalBytes: number;
  /** Layers llama.cpp assigned here, where its log said. */
  layers?: number;
  plannedBytes?: number;
  budgetBytes?: number;
}

export interface PlacementCheck {
  devices: MeasuredDevice[];
  /** "offloaded 6/6 layers to GPU". */
  offloaded?: { layers: number; of: number };
  /** Whether every GPU stayed within its budget and got the layers planned. */
  asPlanned: boolean;
  note: string;
}

/** "vulkan0" → the device of that name, any case. */
export function findDevice<T extends { id: string }>(devices: readonly T[], id: string): T | undefined {
  return devices.find((d) => d.id.toLowerCase() === id.toLowerCase());
}

/**
 * Whether only llama.cpp's server can run a placement: node-llama-cpp takes
 * every GPU (its own split) or none, with one cap for all; it has no choice of
 * devices, per-GPU caps or split by rows.
 */
export function placementNeedsServer(placement: Placement | undefined): boolean {
  if (!placement) return false;
  return Array.isArray(placement.devices) || placement.split === 'rows' || Object.keys(placement.maxMemory ?? {}).length > 0;
}

/** The placement in a few words: "CPU only", "Vulkan0, Vulkan1 by layers (Vulkan0 ≤ 1.0 GiB)". */
export function describePlacement(placement: Placement | undefined, formatSize: (bytes: number) => string): string {
  if (!placement || placement.devices === 'auto') {
    const caps = Object.entries(placement?.maxMemory ?? {});
    return `Automatic (every GPU)${caps.length ? `, ${caps.map(([id, b]) => `${id} ≤ ${formatSize(b)}`).join(', ')}` : ''}`;
  }
  if (placement.devices === 'cpu') return 'CPU only';
  const caps = Object.entries(placement.maxMemory ?? {});
  return `${placement.devices.join(', ')}${placement.devices.length > 1 ? ` by ${placement.split ?? 'layers'}` : ''}${caps.length ? ` (${caps.map(([id, b]) => `${id} ≤ ${formatSize(b)}`).join(', ')})` : ''}`;
}

/** Asking for a plan: a library model by id, placed as given (else as its placement says), with a context size or the automatic one. */
export const planInputSchema = z
  .object({
    id: z.string().min(1).max(100),
    placement: placementSchema.optional(),
    contextSize: z.number().int().min(64).max(1_048_576).optional(),
  })
  .strict();
export type PlanInput = z.infer<typeof planInputSchema>;

/** A plan as the UI and CLI show it: the plan, the engine that would run the model, and every GPU there is. */
export interface PlanView {
  id: string;
  plan: PlacementPlan;
  /** The engine the model runs on, placed so, and why ("Auto: its placement … only llama.cpp’s server runs"). */
  engine: 'worker' | 'server';
  engineReason: string;
  /** The GPUs llama.cpp's server sees now (the devices a placement can name). */
  devices: ComputeDevice[];
}
