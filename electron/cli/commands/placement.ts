/**
 * `freehold plan <id>` and `freehold load <id>`: where a model's layers go on
 * this machine's GPUs, placed as the options say (else as the model's
 * placement in the settings says), shown before loading; `load` then loads it
 * and prints what llama.cpp reported per device against the plan.
 */
import { formatSize } from '../../../shared/format';
import type { LoadedModel } from '../../../shared/inference';
import { placementSchema, type DevicePlan, type Placement, type PlacementCheck, type PlacementPlan } from '../../../shared/placement';
import { numberOption, UsageError, type CliContext, type Command, type Options } from '../command';

const UNITS: Record<string, number> = { '': 1024 ** 2, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2 };
UNITS.g = UNITS.gb = UNITS.gib = 1024 ** 3;
UNITS.t = UNITS.tb = UNITS.tib = 1024 ** 4;

/** "1GiB", "512MiB", "1.5g", "800" (MiB) → bytes. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new UsageError(`"${text}" is not a size (such as 1GiB, 512MiB or 800 for MiB).`);
  return Math.round(Number(match[1]) * unit);
}

export const placementOptions: Options = {
  devices: { type: 'string' },
  'max-memory-per-gpu': { type: 'string' },
  split: { type: 'string' },
  context: { type: 'string' },
};

/** The placement the options give, or undefined when they give none (the model's own is used). */
export function placementFrom(values: CliContext['values']): Placement | undefined {
  const devicesText = values.devices;
  const capsText = values['max-memory-per-gpu'];
  const split = values.split;
  if (devicesText === undefined && capsText === undefined && split === undefined) return undefined;
  if (split !== undefined && split !== 'layers' && split !== 'rows') throw new UsageError('--split is layers or rows.');
  const raw = typeof devicesText === 'string' ? devicesText.trim() : 'auto';
  const devices =
    raw === 'auto' || raw === 'cpu'
      ? raw
      : raw
          .split(',')
          .map((d) => d.trim())
          .filter(Boolean);
  const placement: Record<string, unknown> = { devices, ...(split ? { split } : {}) };
  if (typeof capsText === 'string') {
    if (!Array.isArray(devices)) throw new UsageError('--max-memory-per-gpu needs --devices naming the GPUs it caps (vulkan0,vulkan1).');
    const caps = capsText.split(',').map(parseSize);
    if (caps.length !== 1 && caps.length !== devices.length)
      throw new UsageError(`--max-memory-per-gpu takes one size for all, or one per device (${devices.length}).`);
    placement.maxMemory = Object.fromEntries(devices.map((id, i) => [id, caps[caps.length === 1 ? 0 : i]!]));
  }
  const parsed = placementSchema.safeParse(placement);
  if (!parsed.success)
    throw new UsageError(`Not a placement: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

function deviceLine(d: DevicePlan): string {
  const parts = `weights ${formatSize(d.weightBytes)}, KV ${formatSize(d.kvBytes)}, compute ${formatSize(d.computeBytes)}`;
  return `  ${d.id.padEnd(10)} ${String(d.layers).padStart(4)} layers  ${formatSize(d.plannedBytes).padStart(9)} of ${formatSize(d.budgetBytes)}${d.capBytes !== null ? ` (cap ${formatSize(d.capBytes)})` : ''}  [${parts}]`;
}

export function planLines(plan: PlacementPlan): string[] {
  const lines = [plan.summary, ...plan.devices.map(deviceLine), deviceLine(plan.cpu), ...plan.notes];
  if (plan.short) lines.push(`Does not fit: ${plan.short.message}`);
  return lines;
}

function checkLines(check: PlacementCheck): string[] {
  return [
    check.note,
    ...check.devices.map(
      (d) =>
        `  ${d.id.padEnd(10)} measured ${formatSize(d.totalBytes)} (model ${formatSize(d.modelBytes)}, KV ${formatSize(d.kvBytes)}, compute ${formatSize(d.computeBytes)})${d.plannedBytes !== undefined ? `, planned ${formatSize(d.plannedBytes)}` : ''}`,
    ),
  ];
}

async function modelPathOf(ctx: CliContext, what: string): Promise<{ id: string; path: string }> {
  const id = ctx.args[0];
  if (!id) throw new UsageError(`${what} needs a model id (see models list).`);
  const host = await ctx.services();
  const model = host.library.get(id);
  if (!model) throw new UsageError(`There is no model "${id}" in the library (see models list).`);
  return { id, path: model.files[0]! };
}

const usageTail = '[--devices auto|cpu|vulkan0,vulkan1] [--max-memory-per-gpu 1GiB,512MiB] [--split layers|rows] [--context N] [--json]';

export const planCommand: Command = {
  summary: 'Where a model’s layers would go on this machine’s GPUs (layers and memory per device), without loading it',
  usage: `plan <id> ${usageTail}`,
  options: placementOptions,
  async run(ctx) {
    const { id } = await modelPathOf(ctx, 'plan');
    const placement = placementFrom(ctx.values);
    const contextSize = numberOption(ctx.values, 'context', true);
    const host = await ctx.services();
    const view = await host.handlers['placement.plan']({
      id,
      ...(placement ? { placement } : {}),
      ...(contextSize ? { contextSize } : {}),
    });
    if (ctx.json) ctx.io.out(JSON.stringify(view));
    else {
      for (const line of planLines(view.plan)) ctx.io.out(line);
      ctx.io.out(`Runs on ${view.engine === 'server' ? 'llama.cpp’s server' : 'node-llama-cpp'} (${view.engineReason}).`);
    }
    return view.plan.fits ? 0 : 1;
  },
};

export const loadCommand: Command = {
  summary:
    'Load a model placed as the options say, and show what llama.cpp put on each device against the plan (--save keeps the placement)',
  usage: `load <id> ${usageTail} [--save]`,
  options: { ...placementOptions, save: { type: 'boolean' } },
  async run(ctx) {
    const { id, path } = await modelPathOf(ctx, 'load');
    const placement = placementFrom(ctx.values);
    const contextSize = numberOption(ctx.values, 'context', true);
    const host = await ctx.services();
    if (ctx.values.save) {
      const placements = { ...(host.settings.get().inference.placements ?? {}) };
      if (placement && !(placement.devices === 'auto' && !placement.maxMemory && !placement.split)) placements[id] = placement;
      else delete placements[id];
      await host.handlers['settings.update']({ inference: { placements } });
    }
    const loaded: LoadedModel = await host.handlers['inference.load']({
      modelPath: path,
      ...(placement ? { placement } : {}),
      ...(contextSize ? { contextSize } : {}),
    });
    if (ctx.json) ctx.io.out(JSON.stringify(loaded));
    else {
      ctx.io.out(
        `Loaded ${loaded.name} on ${loaded.engine === 'server' ? 'llama.cpp’s server' : 'node-llama-cpp'}: ${loaded.gpuLayers}/${loaded.totalLayers} layers on the GPU, ${loaded.contextSize}-token context.`,
      );
      if (loaded.placement) {
        for (const line of planLines(loaded.placement.plan)) ctx.io.out(line);
        if (loaded.placement.check) for (const line of checkLines(loaded.placement.check)) ctx.io.out(line);
      }
    }
    await host.handlers['inference.unload'](undefined);
    return loaded.placement?.check && !loaded.placement.check.asPlanned ? 1 : 0;
  },
};
