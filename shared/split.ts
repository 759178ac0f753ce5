/** A model split across machines with llama.cpp's RPC backend, and the llama.cpp programs that run it. */
import { z } from 'zod';

export interface EnginesInfo {
  /** The llama.cpp release node-llama-cpp bundles (what a build here is made from). */
  version: string;
  found: {
    llamaServer: string;
    rpcServer: string;
    source: 'path' | 'download' | 'build' | 'bundled';
    version: string;
    /** What it was built for: cuda, vulkan, metal or cpu. */
    backend: string;
    reason: string;
  } | null;
  attempts: Array<{ source: 'path' | 'download' | 'build' | 'bundled'; outcome: 'used' | 'unavailable' | 'available'; reason: string }>;
  buildDir: string;
  /** Whether a build can be made here, and for which backend (cuda, vulkan, metal, cpu). */
  canBuild: { ok: boolean; reason: string; backend?: string };
  /** A build under way: its step and progress. */
  building: { step: string; fraction: number; line: string } | null;
}

export interface SplitDevice {
  /** null: this machine. */
  machineId: string | null;
  name: string;
  /** Memory it can give now (VRAM where it has a GPU, else RAM), after its cap. */
  budgetBytes: number;
  capBytes: number | null;
  layers: number;
  /** Expected memory on it: its layers' weights and their share of the context. */
  bytes: number;
}

export interface SplitPlan {
  modelId: string;
  modelName: string;
  sizeBytes: number;
  totalLayers: number;
  contextSize: number;
  devices: SplitDevice[];
  /** A machine that could run it alone (the plan splits only when asked). */
  fitsOn: string | null;
  /** Whether the layers fit in the memory given. */
  fits: boolean;
  note: string;
}

export interface SplitStatus {
  state: 'stopped' | 'starting' | 'running' | 'failed';
  plan: SplitPlan | null;
  /** What a conversation uses to chat with the split model (a model ref, see shared/machines.ts). */
  ref: string | null;
  /** What is happening, or what went wrong, in words. */
  detail: string;
  /**
   * After a machine's part went away: where the model can go on. On this
   * machine alone (its library model, chatted with directly), or split again
   * on the machines left, when the plan fits there.
   */
  fallback?:
    { kind: 'local'; modelId: string; name: string } | { kind: 'split'; modelId: string; machineIds: string[]; names: string[] } | null;
}

const machineList = z.array(z.string().min(1).max(40)).min(1).max(8);
export const splitPlanSchema = z
  .object({
    modelId: z.string().min(1).max(100),
    /** The machines to split across; "this" is this machine. */
    machineIds: machineList,
    /** Layers per machine, in the order of machineIds, to adjust the proposal. */
    layers: z.array(z.number().int().min(0).max(10_000)).max(8).optional(),
    contextSize: z.number().int().min(256).max(1_048_576).optional(),
  })
  .strict();
export type SplitPlanInput = z.infer<typeof splitPlanSchema>;
