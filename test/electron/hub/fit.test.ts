import { describe, expect, it } from 'vitest';
import { estimateFit } from '../../../electron/hub/hub-client';
import { recordedReports } from '../../fixtures/hardware-reports';

const GB = 1024 ** 3;

describe('fit verdicts on machines we do not have here', () => {
  // Without a header the estimate assumes a 32-layer, 4096-wide model: a 7B at a 4,096-token context.
  // Each verdict with what its explanation must tell the user: what the model needs, and the free memory that decided it.
  const cases: Array<[string, number, 'gpu' | 'ram' | 'no', string[]]> = [
    ['NVIDIA laptop on CUDA', 4.4 * GB, 'ram', ['Needs about 7.3 GB', 'only 7.0 GB of VRAM is free', 'part runs from RAM (20.0 GB free)']], // short of ~7.3 GB
    ['NVIDIA laptop on CUDA', 2 * GB, 'gpu', ['Needs about 4.7 GB with a 4096-token context', '7.0 GB of VRAM is free']],
    ['NVIDIA laptop on CUDA', 40 * GB, 'no', ['Needs about 46.5 GB', 'only 7.0 GB of VRAM and 20.0 GB of RAM are free']],
    ['AMD GPU on Vulkan', 4.4 * GB, 'gpu', ['Needs about 7.3 GB', '15.0 GB of VRAM is free']],
    ['AMD GPU on Vulkan', 20 * GB, 'ram', ['Needs about 24.5 GB', 'only 15.0 GB of VRAM is free', 'part runs from RAM (50.0 GB free)']],
    ['Apple M-series on Metal', 4.4 * GB, 'gpu', ['Needs about 7.3 GB', '18.0 GB of unified memory is free']],
    // Unified memory: RAM is the same memory, not extra.
    ['Apple M-series on Metal', 30 * GB, 'no', ['Needs about 35.5 GB', 'only 18.0 GB']],
    ['Two GPUs', 30 * GB, 'gpu', ['Needs about 35.5 GB', '40.0 GB of VRAM is free']],
    // 46 GB free, but the user capped VRAM at 40 GB.
    ['Two GPUs', 38 * GB, 'ram', ['Needs about 44.3 GB', 'only 40.0 GB of VRAM is free', 'part runs from RAM (100.0 GB free)']],
    ['CPU-only box', 4.4 * GB, 'ram', ['Needs about 7.3 GB', 'no GPU is in use, so it runs from RAM (10.0 GB free)']],
    ['CPU-only box', 12 * GB, 'no', ['Needs about 15.7 GB', '10.0 GB of RAM are free']],
  ];
  for (const [machine, weights, verdict, says] of cases) {
    it(`${machine}: ${(weights / GB).toFixed(1)} GB of weights → ${verdict}`, () => {
      const fit = estimateFit(weights, null, recordedReports[machine]!);
      expect(fit.verdict).toBe(verdict);
      for (const part of says) expect(fit.explanation).toContain(part);
    });
  }

  it('counts no VRAM when the CPU backend is in use, whatever the GPU has', () => {
    const report = { ...recordedReports['AMD GPU on Vulkan']!, backend: 'cpu' as const };
    expect(estimateFit(4.4 * GB, null, report).freeVramBytes).toBe(0);
  });
});
