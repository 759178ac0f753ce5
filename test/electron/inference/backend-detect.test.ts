import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { getLlamaGpuTypes } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import {
  binaryLoadTestError,
  explainNoBinary,
  noGpuReason,
  vulkanDriverPaths,
  vulkanDrivers,
  type VulkanDriver,
} from '../../../electron/worker/backend-detect';
import type { HardwareReport } from '../../../shared/inference';
import { tempDir } from '../../helpers/temp';

const run = promisify(execFile);

function manifest(dir: string, name: string, library: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: library, api_version: '1.3.0' } }));
  return file;
}

/** Mesa's lavapipe (llvmpipe), a Vulkan driver that renders on the CPU, where installed (mesa-vulkan-drivers). */
const lavapipe = vulkanDrivers()?.find((d) => d.cpuRenderer === 'llvmpipe');
const supported = await getLlamaGpuTypes('supported');
/** node-llama-cpp's prebuilt Vulkan binary exists for this platform and the Vulkan loader (libvulkan) is installed. */
const vulkanLoads = process.platform === 'linux' && process.arch === 'x64' && supported.includes('vulkan');

/** `freehold hardware --json` in its own process (llama.cpp reads the Vulkan variables once per process). */
async function hardware(env: NodeJS.ProcessEnv, backend?: string): Promise<HardwareReport> {
  const dir = tempDir();
  const all = { ...process.env, FREEHOLD_DATA_DIR: dir, ...env };
  if (backend) await run(process.execPath, ['dist/electron/cli.mjs', 'settings', 'set', `backend=${backend}`], { env: all });
  const { stdout } = await run(process.execPath, ['dist/electron/cli.mjs', 'hardware', '--json'], { env: all });
  return JSON.parse(stdout) as HardwareReport;
}

describe('Vulkan drivers, from the manifests the Vulkan loader reads', () => {
  it('searches what VK_DRIVER_FILES (or VK_ICD_FILENAMES) names, else the XDG folders and /etc', () => {
    expect(vulkanDriverPaths({ VK_DRIVER_FILES: '/a.json:/b', VK_ADD_DRIVER_FILES: '/c.json' }, '/home/u')).toEqual([
      '/a.json',
      '/b',
      '/c.json',
    ]);
    expect(vulkanDriverPaths({ VK_ICD_FILENAMES: '/old.json' }, '/home/u')).toEqual(['/old.json']);
    expect(vulkanDriverPaths({}, '/home/u')).toEqual([
      '/home/u/.config/vulkan/icd.d',
      '/etc/xdg/vulkan/icd.d',
      '/etc/vulkan/icd.d',
      '/home/u/.local/share/vulkan/icd.d',
      '/usr/local/share/vulkan/icd.d',
      '/usr/share/vulkan/icd.d',
    ]);
  });

  it('reads each driver and knows the CPU renderers; cannot tell off Linux', () => {
    const dir = tempDir();
    manifest(dir, 'lvp_icd.x86_64.json', '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so');
    manifest(dir, 'radeon_icd.x86_64.json', 'libvulkan_radeon.so');
    writeFileSync(path.join(dir, 'broken.json'), '{ not json');
    writeFileSync(path.join(dir, 'README'), 'not a manifest');
    expect(vulkanDrivers({ VK_DRIVER_FILES: dir }, 'linux')).toEqual([
      { manifest: path.join(dir, 'lvp_icd.x86_64.json'), library: 'libvulkan_lvp.so', cpuRenderer: 'llvmpipe' },
      { manifest: path.join(dir, 'radeon_icd.x86_64.json'), library: 'libvulkan_radeon.so' },
    ]);
    expect(vulkanDrivers({ VK_DRIVER_FILES: path.join(dir, 'none.json') }, 'linux')).toEqual([]);
    expect(vulkanDrivers({}, 'win32')).toBeUndefined();
    expect(vulkanDrivers({}, 'darwin')).toBeUndefined();
  });
});

describe('why a GPU backend that loaded is not used', () => {
  const lvp: VulkanDriver = { manifest: '/x/lvp_icd.json', library: 'libvulkan_lvp.so', cpuRenderer: 'llvmpipe' };
  const radeon: VulkanDriver = { manifest: '/x/radeon_icd.json', library: 'libvulkan_radeon.so' };

  it('names the CPU renderer Vulkan found instead of a GPU, or what it knows', () => {
    expect(noGpuReason('vulkan', {}, [lvp, radeon])).toBe('found no GPU (only llvmpipe, a CPU renderer)');
    expect(noGpuReason('vulkan', {}, [radeon])).toBe('found no GPU (its drivers, libvulkan_radeon.so, found no device)');
    expect(noGpuReason('vulkan', {}, [])).toBe('found no GPU (no Vulkan driver is installed)');
    expect(noGpuReason('vulkan', {}, undefined)).toBe('found no GPU (llama.cpp skips CPU renderers)');
    expect(noGpuReason('vulkan', { GGML_VK_VISIBLE_DEVICES: '3' }, [lvp])).toBe(
      'found no GPU among the devices that GGML_VK_VISIBLE_DEVICES=3 selects',
    );
    expect(noGpuReason('cuda', {}, undefined)).toBe('found no GPU');
    expect(noGpuReason('cuda', { CUDA_VISIBLE_DEVICES: '' }, undefined)).toBe(
      'found no GPU among the devices that CUDA_VISIBLE_DEVICES= selects',
    );
  });
});

describe('why a backend has no binary that works (node-llama-cpp says only NoBinaryFoundError)', () => {
  it('says the package is missing when it is', async () => {
    // No platform has both Metal and Vulkan packages: the other one is missing here.
    const backend = process.platform === 'darwin' ? 'vulkan' : 'metal';
    const reason = await explainNoBinary(backend);
    expect(reason).toMatch(/no (Metal|Vulkan) build of llama\.cpp is installed/);
    expect(reason).toContain(
      `the @node-llama-cpp/${process.platform === 'darwin' ? 'mac' : process.platform}-${process.arch}-${backend} package is missing`,
    );
  });

  it.skipIf(!vulkanLoads)('says there is no Vulkan driver, not that the installed package is missing', async () => {
    const reason = await explainNoBinary('vulkan', { ...process.env, VK_DRIVER_FILES: '/nonexistent/vulkan/icd.json' });
    expect(reason).toMatch(/^no Vulkan driver is installed \(libvulkan, the Vulkan loader, is there, but there is no driver manifest/);
    expect(reason).toContain('VK_DRIVER_FILES=/nonexistent/vulkan/icd.json');
    expect(reason).not.toMatch(/package is missing/);
  });

  it.skipIf(!vulkanLoads)("runs node-llama-cpp's load test and names the driver that did not start", async () => {
    const dir = tempDir();
    const file = manifest(dir, 'broken_icd.json', path.join(dir, 'libvulkan_broken.so'));
    const reason = await explainNoBinary('vulkan', { ...process.env, VK_DRIVER_FILES: file });
    expect(reason).toBe(
      "the @node-llama-cpp/linux-x64-vulkan binary loaded, but llama.cpp's Vulkan backend did not start: " +
        'the Vulkan driver installed (libvulkan_broken.so) could not be started',
    );
  });

  it("keeps the load test's own error when a binary does not load", async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'bins'));
    const error = await binaryLoadTestError(path.join(dir, 'bins', 'llama-addon.node'), undefined, 'vulkan');
    expect(error).toMatch(/Cannot find module .*llama-addon\.node/);
  });
});

describe.skipIf(!vulkanLoads || !lavapipe)('Vulkan with only lavapipe, a CPU renderer (mesa-vulkan-drivers, no GPU)', () => {
  const onlyLavapipe = { VK_DRIVER_FILES: lavapipe?.manifest, GGML_VK_VISIBLE_DEVICES: undefined };

  // CUDA, where it works, comes before Vulkan: then the automatic choice is not about Vulkan.
  it.skipIf(supported.includes('cuda'))('is not chosen: the CPU is, and the report says why', async () => {
    const report = await hardware(onlyLavapipe);
    expect(report.backend).toBe('cpu');
    expect(report.gpus).toEqual([]);
    expect(report.attempts.find((a) => a.backend === 'vulkan')).toEqual({
      backend: 'vulkan',
      outcome: 'unavailable',
      reason: 'loaded but found no GPU (only llvmpipe, a CPU renderer)',
    });
    expect(report.reason).toMatch(/^Vulkan loaded but found no GPU \(only llvmpipe, a CPU renderer\): running on the CPU\. Not used: /);
  });

  it('is not used when chosen in the settings either, and the report says so', async () => {
    const report = await hardware(onlyLavapipe, 'vulkan');
    expect(report.backend).not.toBe('vulkan');
    expect(report.reason).toMatch(/^Vulkan was selected in settings, but it found no GPU \(only llvmpipe, a CPU renderer\); fell back to /);
  });

  it('is used, as a GPU, when GGML_VK_VISIBLE_DEVICES asks for lavapipe', async () => {
    const report = await hardware({ ...onlyLavapipe, GGML_VK_VISIBLE_DEVICES: '0' }, 'vulkan');
    expect(report.backend).toBe('vulkan');
    expect(report.gpus).toEqual([{ name: expect.stringMatching(/^llvmpipe/) as string }]);
    expect(report.vram.totalBytes).toBeGreaterThan(0);
    expect(report.reason).toMatch(/^Vulkan was selected in settings\. GGML_VK_VISIBLE_DEVICES=0 selects its devices: llvmpipe/);
  });
});
