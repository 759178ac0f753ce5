/**
 * The GPU rig: Mesa's lavapipe, a Vulkan device that llama.cpp uses when
 * GGML_VK_VISIBLE_DEVICES names it (=0,0 gives two, 2 GiB each). A real GPU
 * code path without a GPU: llama.cpp's server in its Vulkan build (the build
 * `freehold engines --build` makes here, with node-llama-cpp's Vulkan
 * backend) places stories260K's layers as planned, per-device caps hold
 * (measured from llama.cpp's own buffer sizes), the greedy text is the CPU's,
 * and a device that cannot be used falls back to the CPU with the reason. The
 * worker's node-llama-cpp offloads every layer there too. And the host, the
 * CLI and the settings carry a model's placement.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateInput } from '../../../shared/inference';
import type { Placement } from '../../../shared/placement';
import { ServerEngine } from '../../../electron/engines/server-engine';
import { inferenceHost } from '../../helpers/inference-host';
import { ensureTestEngines, TEST_ENGINES_DIR } from '../../helpers/llama-engines';
import { testModelPath } from '../../helpers/test-model';

const MiB = 1024 * 1024;
const lavapipe = ['/usr/share/vulkan/icd.d/lvp_icd.x86_64.json', '/usr/share/vulkan/icd.d/lvp_icd.aarch64.json'].find((f) => existsSync(f));

// Two lavapipe devices for every llama.cpp this file starts (llama-server inherits the environment).
process.env.GGML_VK_VISIBLE_DEVICES = '0,0';

const ask = (requestId: string): GenerateInput => ({
  requestId,
  messages: [{ role: 'user', text: 'Once upon a time' }],
  sampling: { temperature: 0, maxTokens: 48 },
});

describe.skipIf(!lavapipe)('the GPU rig (lavapipe as two Vulkan devices)', () => {
  let llamaServer: string;
  let engine: ServerEngine;
  let cpuText: string;
  let dir: string;

  beforeAll(async () => {
    ({ llamaServer } = await ensureTestEngines('vulkan'));
    engine = new ServerEngine({ binary: async () => llamaServer, threads: () => 1, log: () => undefined });
    dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-rig-'));
  }, 40 * 60_000);

  afterAll(async () => {
    await engine?.unload();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function replyWith(placement: Placement | undefined, contextSize = 512) {
    const loaded = await engine.load({ modelPath: testModelPath(), contextSize, ...(placement ? { placement } : {}) });
    const reply = await engine.generate(ask(`r-${Math.random()}`), () => undefined);
    return { loaded, text: reply.text };
  }

  it("llama.cpp's server names each device and its memory", async () => {
    const devices = await engine.devices();
    expect(devices).toEqual([
      {
        id: 'Vulkan0',
        name: expect.stringMatching(/^llvmpipe/) as string,
        backend: 'vulkan',
        totalBytes: 2048 * MiB,
        freeBytes: expect.any(Number) as number,
      },
      {
        id: 'Vulkan1',
        name: expect.stringMatching(/^llvmpipe/) as string,
        backend: 'vulkan',
        totalBytes: 2048 * MiB,
        freeBytes: expect.any(Number) as number,
      },
    ]);
  });

  it('CPU only: no layer on a GPU (the text every placement must give)', async () => {
    const { loaded, text } = await replyWith({ devices: 'cpu' });
    expect(loaded.gpuLayers).toBe(0);
    expect(loaded.placement!.check!.devices.filter((d) => d.id !== 'CPU')).toEqual([]);
    expect(text.length).toBeGreaterThan(20);
    cpuText = text;
  });

  it('automatic: every layer offloaded over both devices, within what they have, the same greedy text', async () => {
    const { loaded, text } = await replyWith(undefined);
    expect(loaded.gpuLayers).toBe(6);
    const check = loaded.placement!.check!;
    expect(check.offloaded).toEqual({ layers: 6, of: 6 });
    expect(check.asPlanned).toBe(true);
    for (const id of ['Vulkan0', 'Vulkan1']) expect(check.devices.find((d) => d.id === id)!.modelBytes).toBeGreaterThan(0);
    expect(text).toBe(cpuText);
  });

  it('unequal caps split the layers in their proportion; each device stays under its cap (llama.cpp’s buffers)', async () => {
    const placement: Placement = { devices: ['Vulkan0', 'Vulkan1'], maxMemory: { Vulkan0: 64 * MiB, Vulkan1: 32 * MiB } };
    const { loaded, text } = await replyWith(placement);
    const { plan, check } = loaded.placement!;
    expect(plan.devices.map((d) => [d.id, d.layers])).toEqual([
      ['Vulkan0', 4],
      ['Vulkan1', 2],
    ]);
    expect(check!.asPlanned).toBe(true);
    const [v0, v1] = ['Vulkan0', 'Vulkan1'].map((id) => check!.devices.find((d) => d.id === id)!);
    // Four layers' weights and KV on the first, a layer and the output head on the second.
    expect(Math.round(v0!.kvBytes / v1!.kvBytes)).toBe(4);
    expect(v0!.modelBytes).toBeGreaterThan(v1!.modelBytes);
    expect(v0!.totalBytes).toBeLessThanOrEqual(64 * MiB);
    expect(v1!.totalBytes).toBeLessThanOrEqual(32 * MiB);
    expect(text).toBe(cpuText);
  });

  it('a tight cap lowers the layers offloaded, and the device stays under it', async () => {
    // The smallest cap (in quarter MiB) under which the plan offloads some layers but not all.
    let cap = 0;
    for (let mib = 8; mib <= 32 && !cap; mib += 0.25) {
      const planned = await engine.plan({
        modelPath: testModelPath(),
        contextSize: 512,
        placement: { devices: ['Vulkan1'], maxMemory: { Vulkan1: mib * MiB } },
      });
      if (planned.gpuLayers > 0 && planned.gpuLayers < 6) cap = mib * MiB;
    }
    expect(cap).toBeGreaterThan(0);
    const placement: Placement = { devices: ['Vulkan1'], maxMemory: { Vulkan1: cap } };
    const { loaded, text } = await replyWith(placement);
    expect(loaded.gpuLayers).toBeGreaterThan(0);
    expect(loaded.gpuLayers).toBeLessThan(6);
    const check = loaded.placement!.check!;
    expect(check.offloaded).toEqual({ layers: loaded.gpuLayers, of: 6 });
    expect(check.asPlanned).toBe(true);
    expect(check.devices.find((d) => d.id === 'Vulkan1')!.totalBytes).toBeLessThanOrEqual(cap);
    expect(check.devices.find((d) => d.id === 'Vulkan0')).toBeUndefined();
    expect(text).toBe(cpuText);
  });

  it('a cap that cannot hold what is asked is refused before anything starts, naming the device and the shortfall', async () => {
    const failure = await engine
      .load({
        modelPath: testModelPath(),
        contextSize: 512,
        gpuLayers: 6,
        placement: { devices: ['Vulkan0'], maxMemory: { Vulkan0: 2 * MiB } },
      })
      .catch((error: Error) => error);
    expect((failure as Error).message).toMatch(
      /Vulkan0 is [\d.]+ MB short: its 6 layers and a 512-token context need [\d.]+ MB, and it may use 2\.0 MB \(its cap\)\./,
    );
    expect(engine.model).toBeUndefined();
  });

  it('a device that cannot be used (an invalid GGML_VK_VISIBLE_DEVICES, a removed driver) falls back to the CPU with the reason', async () => {
    for (const env of [{ GGML_VK_VISIBLE_DEVICES: '7' }, { VK_DRIVER_FILES: '/nonexistent/icd.json' }]) {
      const saved = { ...process.env };
      Object.assign(process.env, env);
      const fallback = new ServerEngine({ binary: async () => llamaServer, threads: () => 1, log: () => undefined });
      try {
        expect(await fallback.devices()).toEqual([]);
        const loaded = await fallback.load({ modelPath: testModelPath(), contextSize: 512 });
        expect(loaded.gpuLayers).toBe(0);
        expect(loaded.placement!.plan.notes[0]).toMatch(
          env.GGML_VK_VISIBLE_DEVICES
            ? /^llama\.cpp’s server is a Vulkan build, but none of the devices GGML_VK_VISIBLE_DEVICES=7 selects is one it can use: it runs on the CPU\.$/
            : /^llama\.cpp’s server is a Vulkan build, but the Vulkan driver VK_DRIVER_FILES names \(\/nonexistent\/icd\.json\) is not there: it runs on the CPU\.$/,
        );
        expect((await fallback.generate(ask('fallback'), () => undefined)).text).toBe(cpuText);
      } finally {
        await fallback.unload();
        process.env = saved;
      }
    }
  });

  it("node-llama-cpp's worker offloads every layer to lavapipe too, and writes the text it writes on the CPU", async () => {
    const host = await inferenceHost({ env: { GGML_VK_VISIBLE_DEVICES: '0' } });
    try {
      await host.services.settings.update({ inference: { backend: 'cpu' } });
      await host.services.inference.settingsChanged(host.services.settings.get());
      await host.services.inference.load({ modelPath: testModelPath(), contextSize: 512 });
      const onCpu = await host.services.handlers['chat.generate'](ask('worker-cpu'));
      await host.services.settings.update({ inference: { backend: 'vulkan' } });
      await host.services.inference.settingsChanged(host.services.settings.get());
      const report = await host.services.inference.hardware();
      expect(report.backend).toBe('vulkan');
      expect(report.gpus).toEqual([{ name: expect.stringMatching(/^llvmpipe/) as string }]);
      const loaded = await host.services.inference.load({ modelPath: testModelPath(), contextSize: 512 });
      expect(loaded.engine).toBe('worker');
      expect(loaded.gpuLayers).toBe(loaded.totalLayers);
      const reply = await host.services.handlers['chat.generate'](ask('worker-rig'));
      expect(reply.text).toBe(onCpu.text);
    } finally {
      await host.services.close();
    }
  }, 120_000);

  it('a model placed in its options runs on llama.cpp’s server as placed; `freehold plan` and `load` show it', async () => {
    const model = path.join(dir, 'stories260K.gguf');
    copyFileSync(testModelPath(), model);
    const env = { FREEHOLD_ENGINES_DIR: TEST_ENGINES_DIR, FREEHOLD_IGNORE_PATH_ENGINES: '1', FREEHOLD_ENGINES_BACKEND: 'vulkan' };
    const host = await inferenceHost({ dataDir: path.join(dir, 'data'), hostEnv: { ...process.env, ...env } });
    let id: string;
    try {
      const [imported] = await host.services.handlers['models.import']({ paths: [model], mode: 'reference' });
      id = imported!.model!.id;
      const placement: Placement = { devices: ['Vulkan1', 'Vulkan0'], maxMemory: { Vulkan1: 64 * MiB, Vulkan0: 32 * MiB } };
      const view = await host.services.handlers['placement.plan']({ id, placement, contextSize: 512 });
      expect(view.engine).toBe('server');
      expect(view.engineReason).toMatch(/^Auto: its placement/);
      expect(view.plan.devices.map((d) => [d.id, d.layers])).toEqual([
        ['Vulkan1', 4],
        ['Vulkan0', 2],
      ]);
      await host.services.handlers['settings.update']({ inference: { placements: { [id]: placement } } });
      const loaded = await host.services.inference.load({ modelPath: model, contextSize: 512 });
      expect(loaded.engine).toBe('server');
      expect(loaded.placement!.check!.asPlanned).toBe(true);
      expect(host.services.inference.status().model?.placement?.plan.devices[0]!.id).toBe('Vulkan1');
      expect((await host.services.handlers['chat.generate'](ask('placed'))).text).toBe(cpuText);
    } finally {
      await host.services.close();
    }
    // The CLI on the same data folder: the plan, then a load with the placement given on the command line.
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['dist/electron/cli.mjs', ...args, '--data-dir', path.join(dir, 'data')], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 120_000,
      });
    const planned = cli('plan', id!, '--devices', 'vulkan0,vulkan1', '--max-memory-per-gpu', '64MiB,32MiB', '--context', '512', '--json');
    expect(planned.status).toBe(0);
    expect((JSON.parse(planned.stdout) as { plan: { devices: Array<{ layers: number }> } }).plan.devices.map((d) => d.layers)).toEqual([
      4, 2,
    ]);
    const short = cli('plan', id!, '--devices', 'vulkan0', '--max-memory-per-gpu', '1MiB', '--context', '512');
    expect(short.status).toBe(1);
    expect(short.stdout).toMatch(/Does not fit: Vulkan0 is [\d.]+ MB short/);
    const loaded = cli('load', id!, '--devices', 'vulkan0,vulkan1', '--max-memory-per-gpu', '64MiB,32MiB', '--context', '512');
    expect(loaded.stderr).toBe('');
    expect(loaded.status).toBe(0);
    expect(loaded.stdout).toMatch(/^Loaded \S+ on llama\.cpp’s server: 6\/6 layers on the GPU, 512-token context\./);
    expect(loaded.stdout).toMatch(/As planned: Vulkan0 [\d.]+ MB of 64\.0 MB, Vulkan1 [\d.]+ MB of 32\.0 MB \(6\/6 layers offloaded\)\./);
    const unknown = cli('plan', id!, '--devices', 'cuda3');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/There is no device "cuda3" here; llama\.cpp sees Vulkan0, Vulkan1\./);
  }, 300_000);
});
