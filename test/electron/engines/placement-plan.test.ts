import { describe, expect, it } from 'vitest';
import type { ComputeDevice, Placement } from '../../../shared/placement';
import { checkPlacement } from '../../../electron/engines/placement-check';
import {
  computeEstimate,
  modelShape,
  PlacementError,
  placementArgs,
  planPlacement,
  type ModelShape,
} from '../../../electron/engines/placement-plan';
import { serverArgs } from '../../../electron/engines/server-args';
import { parseDeviceList } from '../../../electron/engines/server-devices';
import { headerOf } from '../../../electron/engines/server-model';
import { testModelPath } from '../../helpers/test-model';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A 7B-like model: 32 layers of 200 MiB, a 250 MiB head, 128 KiB of KV per token. */
const shape7b: ModelShape = {
  blockCount: 32,
  layerBytes: new Array<number>(32).fill(200 * MiB),
  outputBytes: 250 * MiB,
  inputBytes: 250 * MiB,
  kvBytesPerTokenLayer: 4096,
  embd: 4096,
  heads: 32,
  vocab: 32000,
};

function gpu(id: string, freeGiB: number, totalGiB = freeGiB, backend: ComputeDevice['backend'] = 'cuda'): ComputeDevice {
  return { id, name: `GPU ${id}`, backend, totalBytes: totalGiB * GiB, freeBytes: freeGiB * GiB };
}

function plan(devices: ComputeDevice[], placement: Placement, extra: Partial<Parameters<typeof planPlacement>[0]> = {}) {
  return planPlacement({ shape: shape7b, devices, placement, autoContext: 8192, parallel: 1, ramFreeBytes: 64 * GiB, ...extra });
}

describe('placement plans (pure)', () => {
  it('one GPU with room: every layer on it, the whole automatic context', () => {
    const p = plan([gpu('CUDA0', 24)], { devices: 'auto' });
    expect(p).toMatchObject({ split: 'none', gpuLayers: 33, totalLayers: 33, contextSize: 8192, fits: true });
    expect(p.devices[0]!.layers).toBe(33);
    expect(p.cpu.layers).toBe(0);
    expect(placementArgs(p)).toEqual(['--device', 'CUDA0', '-ngl', '33', '-sm', 'none', '-mg', '0']);
  });

  it('one small GPU: as many layers as fit, the first ones on the CPU; the automatic context is not cut below 4,096', () => {
    const p = plan([gpu('CUDA0', 4)], { devices: 'auto' });
    expect(p.gpuLayers).toBeGreaterThan(10);
    expect(p.gpuLayers).toBeLessThan(33);
    expect(p.cpu.layers).toBe(33 - p.gpuLayers);
    expect(p.contextSize).toBe(4096);
    expect(p.devices[0]!.plannedBytes).toBeLessThanOrEqual(4 * GiB);
    expect(p.notes.join(' ')).toMatch(/cut from 8192 to 4096 tokens/);
  });

  it('two equal GPUs split by layers in halves; unequal caps split in their proportion', () => {
    const even = plan([gpu('CUDA0', 24), gpu('CUDA1', 24)], { devices: 'auto' });
    expect(even.devices.map((d) => d.layers)).toEqual([17, 16]);
    const capped = plan([gpu('CUDA0', 24), gpu('CUDA1', 24)], {
      devices: ['CUDA0', 'CUDA1'],
      maxMemory: { CUDA0: 6 * GiB, CUDA1: 2 * GiB },
    });
    expect(capped.fits).toBe(true);
    const [a, b] = capped.devices;
    expect(a!.capBytes).toBe(6 * GiB);
    expect(a!.plannedBytes).toBeLessThanOrEqual(6 * GiB);
    expect(b!.plannedBytes).toBeLessThanOrEqual(2 * GiB);
    expect(a!.layers).toBeGreaterThan(2 * b!.layers);
    expect(placementArgs(capped)).toEqual([
      '--device',
      'CUDA0,CUDA1',
      '-ngl',
      String(capped.gpuLayers),
      '-sm',
      'layer',
      '-mg',
      '0',
      '-ts',
      `${a!.layers},${b!.layers}`,
    ]);
  });

  it('three and four GPUs of different sizes and busy memory: each within what is free, in the order named', () => {
    const devices = [gpu('CUDA0', 3, 8), gpu('CUDA1', 12, 12), gpu('CUDA2', 1, 24), gpu('CUDA3', 6, 6)];
    const four = plan(devices, { devices: 'auto' });
    expect(four.fits).toBe(true);
    expect(four.gpuLayers).toBe(33);
    for (const d of four.devices) expect(d.plannedBytes).toBeLessThanOrEqual(d.budgetBytes);
    // The busiest GPU (1 GiB free of 24) gets the fewest layers.
    expect(four.devices[2]!.layers).toBe(Math.min(...four.devices.map((d) => d.layers)));
    const three = plan(devices, { devices: ['CUDA3', 'CUDA1', 'CUDA0'] });
    expect(three.devices.map((d) => d.id)).toEqual(['CUDA3', 'CUDA1', 'CUDA0']);
    expect(three.devices.reduce((n, d) => n + d.layers, 0)).toBe(three.gpuLayers);
  });

  it('CPU only: no layers on any GPU, and the arguments say so', () => {
    const p = plan([gpu('CUDA0', 24)], { devices: 'cpu' });
    expect(p).toMatchObject({ gpuLayers: 0, devices: [], split: 'none' });
    expect(p.cpu.layers).toBe(33);
    expect(placementArgs(p)).toEqual(['--device', 'none', '-ngl', '0']);
  });

  it('split by rows: every GPU holds a share of every layer, the KV cache on the main GPU; CUDA only', () => {
    const p = plan([gpu('CUDA0', 24), gpu('CUDA1', 8)], { devices: ['CUDA0', 'CUDA1'], split: 'rows' });
    expect(p.split).toBe('rows');
    expect(p.devices[0]!.kvBytes).toBeGreaterThan(0);
    expect(p.devices[1]!.kvBytes).toBe(0);
    expect(p.devices[0]!.weightBytes).toBeGreaterThan(p.devices[1]!.weightBytes * 2);
    expect(placementArgs(p)).toEqual(['--device', 'CUDA0,CUDA1', '-ngl', '33', '-sm', 'row', '-mg', '0', '-ts', '0.7500,0.2500']);
    expect(() => plan([gpu('Vulkan0', 8, 8, 'vulkan'), gpu('Vulkan1', 8, 8, 'vulkan')], { devices: 'auto', split: 'rows' })).toThrow(
      /Splitting by rows needs CUDA GPUs/,
    );
  });

  it('names what is not there: an unknown device, a cap for a device not used, a device twice', () => {
    expect(() => plan([gpu('CUDA0', 8)], { devices: ['CUDA3'] })).toThrow(PlacementError);
    expect(() => plan([gpu('CUDA0', 8)], { devices: ['CUDA3'] })).toThrow(/no device "CUDA3" here; llama.cpp sees CUDA0/);
    expect(() => plan([], { devices: ['Vulkan0'] })).toThrow(/sees no GPU/);
    expect(() => plan([gpu('CUDA0', 8), gpu('CUDA1', 8)], { devices: ['CUDA0'], maxMemory: { CUDA1: 2 * GiB } })).toThrow(
      /cap is set for CUDA1/,
    );
    expect(() => plan([gpu('CUDA0', 8)], { devices: ['CUDA0', 'cuda0'] })).toThrow(/named twice/);
  });

  it('a plan that cannot fit says which device is short and by how much', () => {
    // 40 layers asked of a GPU capped at 2 GiB.
    const gpuShort = plan([gpu('CUDA0', 24)], { devices: ['CUDA0'], maxMemory: { CUDA0: 2 * GiB } }, { gpuLayers: 33 });
    expect(gpuShort.fits).toBe(false);
    expect(gpuShort.short).toMatchObject({ device: 'CUDA0', availableBytes: 2 * GiB });
    expect(gpuShort.short!.shortBytes).toBe(gpuShort.short!.neededBytes - 2 * GiB);
    expect(gpuShort.short!.message).toMatch(
      /^CUDA0 is [\d.]+ GB short: its 33 layers and a 8192-token context need [\d.]+ GB, and it may use 2\.00 GB \(its cap\)\.$/,
    );
    // Not enough RAM for the part left on the CPU.
    const ramShort = plan([gpu('CUDA0', 2)], { devices: 'auto' }, { ramFreeBytes: 1 * GiB });
    expect(ramShort.short).toMatchObject({ device: 'CPU' });
    expect(ramShort.short!.message).toMatch(/^RAM is [\d.]+ GB short: the part on the CPU needs [\d.]+ GB, and 1\.00 GB is free\.$/);
  });

  it('parallel replies share one cache: one reply keeps the whole context, the pool grows only into what is left', () => {
    const roomy = plan([gpu('CUDA0', 24)], { devices: 'auto' }, { parallel: 4 });
    expect(roomy.contextSize).toBe(8192);
    expect(roomy.contextPool).toBe(4 * 8192);
    // Just room for one context and a half beside the weights: the context stays whole, the pool is what fits.
    const weights = 32 * 200 * MiB + 250 * MiB;
    const oneContext = 32 * 4096 * 8192;
    const budget = weights + oneContext * 1.5 + computeEstimate(shape7b, 8192, true);
    const tight = planPlacement({
      shape: shape7b,
      devices: [{ ...gpu('CUDA0', 24), freeBytes: budget }],
      placement: { devices: 'auto' },
      autoContext: 8192,
      parallel: 4,
      ramFreeBytes: 64 * GiB,
    });
    const alone = planPlacement({
      shape: shape7b,
      devices: [{ ...gpu('CUDA0', 24), freeBytes: budget }],
      placement: { devices: 'auto' },
      autoContext: 8192,
      parallel: 1,
      ramFreeBytes: 64 * GiB,
    });
    expect(tight.contextSize).toBe(alone.contextSize);
    expect(tight.gpuLayers).toBe(alone.gpuLayers);
    expect(tight.contextPool).toBeGreaterThan(8192);
    expect(tight.contextPool).toBeLessThan(4 * 8192);
    expect(tight.devices[0]!.plannedBytes).toBeLessThanOrEqual(budget);
    expect(tight.notes.join(' ')).toMatch(/each may use the whole 8192-token context/);
  });

  it("reads a model's shape from its GGUF header: stories260K, 5 layers and a head", async () => {
    const { header } = await headerOf(testModelPath());
    const shape = modelShape([header]);
    expect(shape.blockCount).toBe(5);
    expect(shape.layerBytes.every((b) => b > 0)).toBe(true);
    expect(shape.kvBytesPerTokenLayer).toBe(128);
    expect(shape.vocab).toBe(512);
    const p = planPlacement({
      shape,
      devices: [gpu('Vulkan0', 2, 2, 'vulkan'), gpu('Vulkan1', 2, 2, 'vulkan')],
      placement: { devices: ['Vulkan0', 'Vulkan1'], maxMemory: { Vulkan0: 1 * GiB, Vulkan1: 512 * MiB } },
      autoContext: 512,
      parallel: 1,
      ramFreeBytes: 8 * GiB,
    });
    expect(p.devices.map((d) => d.layers)).toEqual([4, 2]);
  });

  it("the exact arguments llama-server gets: the unified cache, the plan's devices and split", () => {
    const p = plan(
      [gpu('Vulkan0', 2, 2, 'vulkan'), gpu('Vulkan1', 2, 2, 'vulkan')],
      { devices: 'auto' },
      { parallel: 4, contextSize: 1024 },
    );
    const args = serverArgs({ modelPath: '/m.gguf', contextSize: 1024, parallel: 4 }, 1, p);
    expect(args).toEqual([
      '-m',
      '/m.gguf',
      '-c',
      String(p.contextPool),
      '-np',
      '4',
      '-kvu',
      '--kv-unified-per-slot',
      '1024',
      '--no-cache-idle-slots',
      '-t',
      '1',
      '-tb',
      '1',
      '--device',
      'Vulkan0,Vulkan1',
      '-ngl',
      String(p.gpuLayers),
      '-sm',
      'layer',
      '-mg',
      '0',
      '-ts',
      p.devices.map((d) => d.layers).join(','),
      '--jinja',
    ]);
  });
});

describe("llama.cpp's own words", () => {
  it('parses --list-devices', () => {
    const devices = parseDeviceList(
      'Available devices:\n  Vulkan0: llvmpipe (LLVM 15.0.6, 256 bits) (2048 MiB, 2048 MiB free)\n  CUDA0: NVIDIA H100 80GB HBM3 (81079 MiB, 80514 MiB free)\n',
    );
    expect(devices).toEqual([
      { id: 'Vulkan0', name: 'llvmpipe (LLVM 15.0.6, 256 bits)', backend: 'vulkan', totalBytes: 2048 * MiB, freeBytes: 2048 * MiB },
      { id: 'CUDA0', name: 'NVIDIA H100 80GB HBM3', backend: 'cuda', totalBytes: 81079 * MiB, freeBytes: 80514 * MiB },
    ]);
    expect(parseDeviceList('Available devices:\n  (none)\n')).toEqual([]);
  });

  it("checks a plan against llama.cpp's buffer sizes per device", async () => {
    const { header } = await headerOf(testModelPath());
    const p = planPlacement({
      shape: modelShape([header]),
      devices: [gpu('Vulkan0', 2, 2, 'vulkan'), gpu('Vulkan1', 2, 2, 'vulkan')],
      placement: { devices: ['Vulkan0', 'Vulkan1'], maxMemory: { Vulkan0: 1 * GiB, Vulkan1: 512 * MiB } },
      contextSize: 1024,
      autoContext: 1024,
      parallel: 1,
      ramFreeBytes: 8 * GiB,
    });
    const log = [
      '0.00.081.172 I load_tensors: offloaded 6/6 layers to GPU',
      '0.00.081.175 I load_tensors:   CPU_Mapped model buffer size =     0.12 MiB',
      '0.00.081.176 I load_tensors:      Vulkan0 model buffer size =     0.69 MiB',
      '0.00.081.176 I load_tensors:      Vulkan1 model buffer size =     0.30 MiB',
      '0.00.081.605 I llama_context: Vulkan_Host  output buffer size =     0.00 MiB',
      '0.00.081.641 I llama_kv_cache:    Vulkan0 KV buffer size =     0.50 MiB',
      '0.00.081.972 I llama_kv_cache:    Vulkan1 KV buffer size =     0.12 MiB',
      '0.00.085.097 I sched_reserve:    Vulkan0 compute buffer size =     5.80 MiB',
      '0.00.085.114 I sched_reserve:    Vulkan1 compute buffer size =     4.91 MiB',
      '0.00.085.115 I sched_reserve: Vulkan_Host compute buffer size =     4.30 MiB',
    ];
    const check = checkPlacement(p, log);
    expect(check.asPlanned).toBe(true);
    expect(check.offloaded).toEqual({ layers: 6, of: 6 });
    const v0 = check.devices.find((d) => d.id === 'Vulkan0')!;
    expect(v0).toMatchObject({ modelBytes: Math.round(0.69 * MiB), kvBytes: Math.round(0.5 * MiB), computeBytes: Math.round(5.8 * MiB) });
    expect(check.devices.find((d) => d.id === 'CPU')!.computeBytes).toBe(Math.round(4.3 * MiB));
    expect(check.note).toMatch(/^As planned: Vulkan0 [\d.]+ MB of 1\.00 GB, Vulkan1 [\d.]+ MB of 512\.0 MB \(6\/6 layers offloaded\)\.$/);
    // A device over its budget, or layers where none were planned, is not as planned.
    const over = checkPlacement(p, [...log, 'llama_kv_cache:    Vulkan1 KV buffer size =   600.00 MiB']);
    expect(over.asPlanned).toBe(false);
    expect(over.note).toMatch(/Vulkan1 holds [\d.]+ MB, more than the 512\.0 MB planned for it/);
    expect(checkPlacement(p, ['load_tensors: offloaded 3/6 layers to GPU', ...log.slice(1)]).note).toMatch(
      /offloaded 3\/6 layers, the plan 6/,
    );
  });
});
