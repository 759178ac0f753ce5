import { describe, expect, it } from 'vitest';
import { estimateFit } from '../../../electron/hub/hub-client';
import { recordedReports } from '../../fixtures/hardware-reports';

const GB = 1024 ** 3;

describe('fit verdicts on machines we do not have here', () => {
  // Without a header the estimate assumes a 32-layer, 4096-wide model: a 7B at a 4,096-token context.
  const cases: Array<[string, number, 'gpu' | 'ram' | 'no']> = [
    ['NVIDIA laptop on CUDA', 4.4 * GB, 'ram'], // 7 GB of VRAM free is short of ~7.3 GB
    ['NVIDIA laptop on CUDA', 2 * GB, 'gpu'],
    ['NVIDIA laptop on CUDA', 40 * GB, 'no'],
    ['AMD GPU on Vulkan', 4.4 * GB, 'gpu'],
    ['AMD GPU on Vulkan', 20 * GB, 'ram'],
    ['Apple M-series on Metal', 4.4 * GB, 'gpu'],
    ['Apple M-series on Metal', 30 * GB, 'no'], // unified memory: RAM is the same memory, not extra
    ['Two GPUs', 30 * GB, 'gpu'],
    ['Two GPUs', 38 * GB, 'ram'], // 46 GB free, but the user capped VRAM at 40 GB
    ['CPU-only box', 4.4 * GB, 'ram'],
    ['CPU-only box', 12 * GB, 'no'],
  ];
  for (const [machine, weights, verdict] of cases) {
    it(`${machine}: ${(weights / GB).toFixed(1)} GB of weights → ${verdict}`, () => {
      const fit = estimateFit(weights, null, recordedReports[machine]!);
      expect(fit.verdict).toBe(verdict);
      expect(fit.explanation.length).toBeGreaterThan(20);
    });
  }

  it('counts no VRAM when the CPU backend is in use, whatever the GPU has', () => {
    const report = { ...recordedReports['AMD GPU on Vulkan']!, backend: 'cpu' as const };
    expect(estimateFit(4.4 * GB, null, report).freeVramBytes).toBe(0);
  });
});
