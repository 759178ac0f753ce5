/**
 * What llama.cpp says it put on each device once a model is loaded (its
 * "model buffer", "KV buffer" and "compute buffer" lines, and "offloaded N/M
 * layers to GPU"), set against the placement plan: whether every GPU stayed
 * within the memory it was given and holds the layers planned.
 */
import { formatSize } from '../../shared/format';
import type { MeasuredDevice, PlacementCheck, PlacementPlan } from '../../shared/placement';

const MiB = 1024 * 1024;

/** Buffer sizes per llama.cpp buffer name ("Vulkan0", "CPU_Mapped"), and the layers offloaded, from its log. */
export function buffersFromLog(lines: readonly string[]): {
  buffers: Map<string, { model: number; kv: number; compute: number }>;
  offloaded?: { layers: number; of: number };
} {
  const buffers = new Map<string, { model: number; kv: number; compute: number }>();
  let offloaded: { layers: number; of: number } | undefined;
  for (const line of lines) {
    const sized = /\s([A-Za-z][\w]*?)\s+(model|KV|compute|output)\s+buffer size\s*=\s*([\d.]+)\s*MiB/.exec(line);
    if (sized) {
      const [, name, kind, size] = sized;
      const entry = buffers.get(name!) ?? { model: 0, kv: 0, compute: 0 };
      const bytes = Math.round(Number(size) * MiB);
      if (kind === 'model') entry.model += bytes;
      else if (kind === 'KV') entry.kv += bytes;
      else entry.compute += bytes;
      buffers.set(name!, entry);
      continue;
    }
    const layers = /offloaded (\d+)\/(\d+) layers to GPU/.exec(line);
    if (layers) offloaded = { layers: Number(layers[1]), of: Number(layers[2]) };
  }
  return { buffers, ...(offloaded ? { offloaded } : {}) };
}

/**
 * The plan checked against llama.cpp's log. A buffer named for a GPU of the
 * plan counts there; every other (CPU, CPU_Mapped, Vulkan_Host, CUDA_Host) is
 * the CPU's.
 */
export function checkPlacement(plan: PlacementPlan, lines: readonly string[]): PlacementCheck {
  const { buffers, offloaded } = buffersFromLog(lines);
  const measured = new Map<string, MeasuredDevice>();
  const entryFor = (id: string): MeasuredDevice => {
    let entry = measured.get(id);
    if (!entry) {
      const planned = id === 'CPU' ? plan.cpu : plan.devices.find((d) => d.id === id);
      entry = {
        id,
        modelBytes: 0,
        kvBytes: 0,
        computeBytes: 0,
        totalBytes: 0,
        ...(planned ? { plannedBytes: planned.plannedBytes, budgetBytes: planned.budgetBytes, layers: planned.layers } : {}),
      };
      measured.set(id, entry);
    }
    return entry;
  };
  for (const device of plan.devices) entryFor(device.id);
  for (const [name, sizes] of buffers) {
    const device = plan.devices.find((d) => d.id.toLowerCase() === name.toLowerCase());
    const entry = entryFor(device ? device.id : 'CPU');
    entry.modelBytes += sizes.model;
    entry.kvBytes += sizes.kv;
    entry.computeBytes += sizes.compute;
    entry.totalBytes += sizes.model + sizes.kv + sizes.compute;
  }
  const devices = [...measured.values()];
  const problems: string[] = [];
  for (const device of plan.devices) {
    const got = measured.get(device.id)!;
    if (got.totalBytes > device.budgetBytes)
      problems.push(`${device.id} holds ${formatSize(got.totalBytes)}, more than the ${formatSize(device.budgetBytes)} planned for it`);
    if (device.layers > 0 && got.modelBytes === 0) problems.push(`${device.id} got none of the ${device.layers} layers planned for it`);
    if (device.layers === 0 && got.modelBytes > 0 && plan.split !== 'rows')
      problems.push(`${device.id} got layers it was not planned to hold`);
  }
  if (offloaded && plan.devices.length && offloaded.layers !== plan.gpuLayers)
    problems.push(`llama.cpp offloaded ${offloaded.layers}/${offloaded.of} layers, the plan ${plan.gpuLayers}`);
  if (!buffers.size) problems.push('llama.cpp’s log did not say what it put on each device');
  const shares = devices
    .filter((d) => d.id !== 'CPU')
    .map((d) => `${d.id} ${formatSize(d.totalBytes)}${d.budgetBytes !== undefined ? ` of ${formatSize(d.budgetBytes)}` : ''}`);
  const note = problems.length
    ? `Not as planned: ${problems.join('; ')}.`
    : plan.devices.length
      ? `As planned: ${shares.join(', ')}${offloaded ? ` (${offloaded.layers}/${offloaded.of} layers offloaded)` : ''}.`
      : 'As planned: on the CPU.';
  return { devices, ...(offloaded ? { offloaded } : {}), asPlanned: problems.length === 0, note };
}
