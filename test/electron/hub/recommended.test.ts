import { describe, expect, it } from 'vitest';
import { chooseStarter, recommendedCatalog, recommendedModels } from '../../../electron/hub/recommended-models';
import { quantizationOf } from '../../../electron/hub/hub-client';
import { recordedReports } from '../../fixtures/hardware-reports';

const GB = 1024 ** 3;

describe('recommended models', () => {
  it('lead with the families people run now, and each names its repo, quantization, size and why', () => {
    const families = recommendedCatalog.slice(0, 10).map((m) => m.family);
    expect(families).toEqual(expect.arrayContaining(['Qwen 3.5', 'Qwen 3.6', 'Gemma 4', 'gpt-oss']));
    expect(recommendedCatalog.map((m) => m.family)).toEqual(
      expect.arrayContaining(['DeepSeek-R1 distill', 'Mistral Small 3.2', 'Llama 3.1']),
    );
    // Nothing from last year's list.
    expect(recommendedCatalog.map((m) => m.family)).not.toEqual(expect.arrayContaining(['Qwen 2.5', 'Phi 3.5', 'Gemma 2']));
    for (const m of recommendedCatalog) {
      expect(m.repo).toMatch(/^[\w.-]+\/[\w.-]+-GGUF$/);
      // The quantization is one the download queue can find among the repo's files by name.
      expect(quantizationOf(`${m.repo.split('/')[1]}-${m.quantization}.gguf`)).toBe(m.quantization);
      expect(m.sizeBytes).toBeGreaterThan(0.5e9);
      expect(m.note.length).toBeGreaterThan(30);
    }
    expect(new Set(recommendedCatalog.map((m) => m.repo)).size).toBe(recommendedCatalog.length);
  });

  it('carry a fit against the memory free now, or none where the hardware is unknown', () => {
    const cpu = recommendedModels(recordedReports['CPU-only box']!);
    expect(cpu.every((m) => m.fit && m.fit.verdict !== 'gpu')).toBe(true);
    expect(cpu.find((m) => m.repo === 'unsloth/Qwen3.6-35B-A3B-GGUF')!.fit!.verdict).toBe('no');
    expect(recommendedModels(null).every((m) => m.fit === null)).toBe(true);
  });
});

describe('the first model offered on each machine', () => {
  const cases: Array<[string, string, RegExp]> = [
    // 8 GB laptop GPU with 7 GB free: the 9B at Q4_K_M fits with a 4,096-token context.
    ['NVIDIA laptop on CUDA', 'unsloth/Qwen3.5-9B-GGUF', /^Fits on your GPU/],
    ['AMD GPU on Vulkan', 'unsloth/Qwen3.5-9B-GGUF', /^Fits on your GPU/],
    ['Apple M-series on Metal', 'unsloth/Qwen3.5-9B-GGUF', /unified memory/],
    ['Two GPUs', 'unsloth/Qwen3.5-9B-GGUF', /^Fits on your GPU/],
    // No GPU: the best that runs from RAM at a usable speed, not the biggest that fits.
    ['CPU-only box', 'unsloth/Qwen3.5-4B-GGUF', /^Runs from RAM/],
  ];
  for (const [machine, repo, reason] of cases) {
    it(`${machine}: ${repo}`, () => {
      const choice = chooseStarter(recordedReports[machine]!);
      expect(choice.model?.repo).toBe(repo);
      expect(choice.reason).toMatch(reason);
    });
  }

  it('a GPU with too little VRAM free for any of them falls back to RAM', () => {
    const base = recordedReports['NVIDIA laptop on CUDA']!;
    const busy = { ...base, vram: { ...base.vram, freeBytes: 0.5 * GB } };
    expect(chooseStarter(busy).model?.repo).toBe('unsloth/Qwen3.5-4B-GGUF');
    expect(chooseStarter(busy).reason).toMatch(/^Runs from RAM/);
  });

  it('a machine with little memory free gets the tiny model, and one with none gets the reason instead of a download', () => {
    const base = recordedReports['CPU-only box']!;
    const tight = { ...base, ram: { ...base.ram, freeBytes: 2 * GB } };
    expect(chooseStarter(tight).model?.repo).toBe('unsloth/Qwen3.5-0.8B-GGUF');
    const full = { ...base, ram: { ...base.ram, freeBytes: 0.5 * GB } };
    const none = chooseStarter(full);
    expect(none.model).toBeNull();
    expect(none.reason).toMatch(/does not fit the memory free now.*Close other programs/);
  });

  it('unknown hardware gets the small model most machines run, and says why', () => {
    const choice = chooseStarter(null);
    expect(choice.model?.repo).toBe('unsloth/Qwen3.5-4B-GGUF');
    expect(choice.reason).toMatch(/hardware is not known/);
  });
});
