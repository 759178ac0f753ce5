import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import type { WorkerSupervisor } from '../../../electron/inference/supervisor';
import { backendLabels, type ChatDelta } from '../../../shared/inference';
import { writePatchedGguf } from '../../helpers/gguf';
import { inferenceHost, textOf } from '../../helpers/inference-host';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

const model = testModelPath();
const greedy = { temperature: 0, maxTokens: 64 };
const ask = (text: string) => [{ role: 'user' as const, text }];

describe('inference worker with stories260K', () => {
  let services: HostServices;
  let deltas: ChatDelta[];

  beforeAll(async () => {
    ({ services, deltas } = await inferenceHost());
  });
  afterAll(() => services.close());

  /** Each test may run alone (vitest -t): load the model if an earlier test did not. */
  async function ensureLoaded() {
    if (!(await services.handlers['inference.status'](undefined)).model) await services.handlers['inference.load']({ modelPath: model });
  }

  it('detects the hardware and explains the backend it chose', async () => {
    const report = await services.handlers['inference.hardware'](undefined);
    // Whatever this machine has: the first backend in the order that loads is chosen, and every one before it says why not.
    expect(report.attempts.map((a) => a.backend)).toEqual(['cuda', 'vulkan', 'metal', 'cpu']);
    expect(report.attempts.filter((a) => a.outcome === 'chosen').map((a) => a.backend)).toEqual([report.backend]);
    const chosenAt = report.attempts.findIndex((a) => a.outcome === 'chosen');
    expect(report.attempts.slice(0, chosenAt).every((a) => a.outcome === 'unavailable')).toBe(true);
    for (const attempt of report.attempts.filter((a) => a.outcome === 'unavailable')) expect(attempt.reason.length).toBeGreaterThan(5);
    // A GPU backend is chosen only with a GPU to run on; one that loads without (Vulkan with only lavapipe, a CPU renderer) says so.
    if (report.backend !== 'cpu') expect(report.gpus.length).toBeGreaterThan(0);
    const deviceless = report.attempts.find((a) => a.outcome === 'unavailable' && a.reason.startsWith('loaded but found no GPU'));
    const where = report.backend === 'cpu' ? 'the CPU' : backendLabels[report.backend];
    expect(report.reason).toMatch(
      deviceless
        ? new RegExp(`^${backendLabels[deviceless.backend]} loaded but found no GPU.*: running on ${where}\\.`)
        : new RegExp(`^${backendLabels[report.backend]} is the first that loaded`),
    );
    expect(report.threads).toEqual({ used: 1, reason: 'set in settings' });
    expect(report.ram.totalBytes).toBeGreaterThan(0);
    expect(report.cpu.logicalCores).toBeGreaterThan(0);
    expect(report.versions.nodeLlamaCpp).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('says there is no model before one is loaded', async () => {
    await expect(services.handlers['chat.generate']({ requestId: 'n0', messages: ask('Hi') })).rejects.toMatchObject({
      code: 'no_model_loaded',
    });
  });

  it('loads the model with progress and a context fitted to memory', async () => {
    const progress: number[] = [];
    const off = services.events.subscribeAll((event, payload) => {
      if (event === 'onLoadProgress') progress.push((payload as { progress: number }).progress);
    });
    const loaded = await services.handlers['inference.load']({ modelPath: model });
    off();
    const { backend } = await services.handlers['inference.hardware'](undefined);
    // On the CPU no layer is offloaded; on a GPU this tiny model fits whole.
    expect(loaded).toMatchObject({
      path: model,
      architecture: 'llama',
      gpuLayers: backend === 'cpu' ? 0 : loaded.totalLayers,
      contextSize: 2048,
    });
    expect(progress.at(-1)).toBe(1);
    expect(services.handlers['inference.status'](undefined)).toMatchObject({ state: 'ready', backend, model: { path: model } });
  });

  it('streams a reply in batches whose text is the whole reply, with stats', async () => {
    await ensureLoaded();
    const result = await services.handlers['chat.generate']({
      requestId: 'g1',
      system: 'You tell short stories.',
      messages: ask('Once upon a time'),
      sampling: { temperature: 0, maxTokens: 200 },
    });
    expect(result.text.length).toBeGreaterThan(50);
    expect(textOf(deltas, 'g1')).toBe(result.text);
    const batches = deltas.filter((d) => d.requestId === 'g1').length;
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThan(result.stats.generatedTokens);
    expect(result.stats).toMatchObject({ generatedTokens: 200, stopReason: 'max-tokens' });
    expect(result.stats.promptTokens).toBeGreaterThan(0);
    expect(result.stats.tokensPerSecond).toBeGreaterThan(0);
    expect(result.stats.timeToFirstTokenMs).toBeGreaterThan(0);
  });

  it('is deterministic with greedy sampling and honours a seed', async () => {
    await ensureLoaded();
    const a = await services.handlers['chat.generate']({ requestId: 'd1', messages: ask('Lily'), sampling: greedy });
    const b = await services.handlers['chat.generate']({ requestId: 'd2', messages: ask('Lily'), sampling: greedy });
    expect(b.text).toBe(a.text);
    const seeded = { temperature: 1, seed: 42, maxTokens: 40 };
    const c = await services.handlers['chat.generate']({ requestId: 'd3', messages: ask('Lily'), sampling: seeded });
    const d = await services.handlers['chat.generate']({ requestId: 'd4', messages: ask('Lily'), sampling: seeded });
    expect(d.text).toBe(c.text);
  });

  it('continues a conversation with history', async () => {
    await ensureLoaded();
    const result = await services.handlers['chat.generate']({
      requestId: 'h1',
      messages: [
        { role: 'user', text: 'Tell me about Tom.' },
        { role: 'assistant', text: 'Tom was a big dog.' },
        { role: 'user', text: 'What did Tom do?' },
      ],
      sampling: greedy,
    });
    expect(result.stats.generatedTokens).toBeGreaterThan(0);
    // Ending with the assistant's words continues them (a prefill); ending with a system message is refused.
    const continued = await services.handlers['chat.generate']({
      requestId: 'h2',
      messages: [
        { role: 'user', text: 'Tell me a story.' },
        { role: 'assistant', text: 'Once upon a time, there was a' },
      ],
      sampling: { ...greedy, maxTokens: 8 },
    });
    expect(continued.stats.generatedTokens).toBe(8);
    await expect(
      services.handlers['chat.generate']({
        requestId: 'h3',
        messages: [
          { role: 'user', text: 'Hi' },
          { role: 'system', text: 'Be brief.' },
        ],
        sampling: greedy,
      }),
    ).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('stops at once when aborted, keeping what it had', async () => {
    await ensureLoaded();
    const running = services.handlers['chat.generate']({
      requestId: 'a1',
      messages: ask('Once'),
      sampling: { temperature: 0, maxTokens: 1800 },
    });
    await expect.poll(() => deltas.some((d) => d.requestId === 'a1'), { timeout: 10_000, interval: 1 }).toBe(true);
    expect(await services.handlers['chat.abort']({ requestId: 'a1' })).toEqual({ aborted: true });
    const result = await running;
    expect(result.stats.stopReason).toBe('abort');
    expect(result.stats.generatedTokens).toBeLessThan(1800);
    expect(await services.handlers['chat.abort']({ requestId: 'unknown' })).toEqual({ aborted: false });
    // Stopped at once, before the first token: still a stop, not an error.
    const early = services.handlers['chat.generate']({
      requestId: 'a2',
      messages: ask('A long history '.repeat(200)),
      sampling: { temperature: 0, maxTokens: 1800 },
    });
    await expect
      .poll(async () => (await services.handlers['chat.abort']({ requestId: 'a2' })).aborted, { timeout: 10_000, interval: 1 })
      .toBe(true);
    expect((await early).stats.stopReason).toBe('abort');
  });

  it('answers bad model paths with clear errors and keeps serving', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'dir.gguf'));
    writeFileSync(path.join(dir, 'notes.gguf'), 'these are my notes');
    writeFileSync(path.join(dir, 'cut.gguf'), readFileSync(model).subarray(0, 4096));
    const load = (modelPath: string) => services.handlers['inference.load']({ modelPath });
    await expect(load(path.join(dir, 'missing.gguf'))).rejects.toThrow(/not found/);
    await expect(load(path.join(dir, 'dir.gguf'))).rejects.toThrow(/is a folder/);
    await expect(load(path.join(dir, 'notes.gguf'))).rejects.toThrow(/not a GGUF/);
    await expect(load(path.join(dir, 'cut.gguf'))).rejects.toMatchObject({
      code: 'invalid_model',
      message: expect.stringMatching(/cut\.gguf cannot be used: .*(ends inside the header|more than the \d+ bytes left)/),
    });
    // A file llama.cpp would abort on is refused before it reaches the worker.
    writePatchedGguf(model, path.join(dir, 'no-heads.gguf'), 'llama.attention.head_count', 0);
    await expect(load(path.join(dir, 'no-heads.gguf'))).rejects.toThrow(/head_count is 0; llama\.cpp would abort/);
    // The worker is still the same healthy process: a good model loads and runs.
    await load(model);
    const result = await services.handlers['chat.generate']({ requestId: 'b1', messages: ask('Hi'), sampling: greedy });
    expect(result.stats.generatedTokens).toBeGreaterThan(0);
  });
});

describe('out of memory', () => {
  it('retries once with a smaller context, then explains the shortfall in numbers', async () => {
    // A 4 MB RAM cap in the worker: stories260K fits, with a context of at most about 512 tokens.
    const { services } = await inferenceHost({ env: { FREEHOLD_WORKER_RAM_CAP_BYTES: String(4 * 1024 * 1024) } });
    try {
      const retried = await services.handlers['inference.load']({ modelPath: model, contextSize: 1024 });
      expect(retried.contextSize).toBe(512);
      expect(retried.retried).toMatch(/ran out of memory .*loaded with 0 GPU layers and a 512-token context/);
      const result = await services.handlers['chat.generate']({ requestId: 'm1', messages: ask('Hi'), sampling: greedy });
      expect(result.stats.generatedTokens).toBeGreaterThan(0);

      const failed = services.handlers['inference.load']({ modelPath: model, contextSize: 4096 });
      await expect(failed).rejects.toMatchObject({ code: 'out_of_memory' });
      await expect(failed).rejects.toThrow(
        /Not enough memory to load stories260K\.gguf, even after retrying with 0 GPU layers and a 2048-token context/,
      );
      await expect(failed).rejects.toThrow(
        /needs about [\d.]+ [MG]B of VRAM and [\d.]+ [MG]B of RAM; [\d.]+ [MG]B VRAM and [\d.]+ [MG]B RAM are free now/,
      );
      // The worker is fine: nothing crashed.
      expect((await services.handlers['inference.status'](undefined)).state).toBe('ready');
    } finally {
      await services.close();
    }
  });
});

describe('crash isolation and supervision', () => {
  it('survives a model that makes llama.cpp abort, says which, restarts and serves the next request', async () => {
    let engine!: WorkerSupervisor;
    const { services, logs } = await inferenceHost({ engine: (e) => (engine = e as WorkerSupervisor) });
    try {
      const bad = path.join(tempDir(), 'no-heads.gguf');
      writePatchedGguf(model, bad, 'llama.attention.head_count', 0);
      await services.handlers['inference.hardware'](undefined);
      // Straight to the engine: the header check in inference.load would refuse this file,
      // and this test is about what happens when something does get through to llama.cpp.
      const failed = engine.load({ modelPath: bad });
      await expect(failed).rejects.toMatchObject({ code: 'worker_crashed' });
      const notice = services.notices.list().find((n) => n.level === 'error');
      expect(notice?.message).toMatch(/stopped \(.*(signal|exit code).*\) while loading no-heads\.gguf/);
      expect(notice?.message).toMatch(/no-heads\.gguf was not reloaded/);
      expect(services.handlers['inference.status'](undefined)).toMatchObject({ model: null });

      // It restarts on its own (backoff) and the next request works.
      await expect.poll(async () => (await services.handlers['inference.status'](undefined)).state, { timeout: 20_000 }).toBe('ready');
      expect((await services.handlers['inference.status'](undefined)).model).toBeNull();
      await services.handlers['inference.load']({ modelPath: model });
      const result = await services.handlers['chat.generate']({ requestId: 'after', messages: ask('Hi'), sampling: greedy });
      expect(result.stats.generatedTokens).toBeGreaterThan(0);
      expect(logs.join('\n')).toMatch(/inference engine stopped/);
    } finally {
      await services.close();
    }
  });

  it('fails a reply in flight when the worker dies mid-generation, and recovers', async () => {
    let engine!: WorkerSupervisor;
    const { services } = await inferenceHost({ engine: (e) => (engine = e as WorkerSupervisor) });
    try {
      await services.handlers['inference.load']({ modelPath: model });
      const running = services.handlers['chat.generate']({
        requestId: 'c1',
        messages: ask('Once'),
        sampling: { temperature: 0, maxTokens: 1800 },
      });
      await new Promise((r) => setTimeout(r, 30));
      void engine.call('misbehave', { kind: 'crash' }).catch(() => undefined);
      await expect(running).rejects.toMatchObject({ code: 'worker_crashed', message: expect.stringMatching(/SIGABRT|exit code/) });
      await expect
        .poll(
          () =>
            services.notices
              .list()
              .map((n) => n.message)
              .join(),
          { timeout: 5000 },
        )
        .toMatch(/stories260K\.gguf was not reloaded/);
      await expect.poll(async () => (await services.handlers['inference.status'](undefined)).state, { timeout: 20_000 }).toBe('ready');
    } finally {
      await services.close();
    }
  });

  it('ends a worker that stops answering (watchdog) and starts a fresh one', async () => {
    let engine!: WorkerSupervisor;
    const { services, logs } = await inferenceHost({
      watchdog: { intervalMs: 200, timeoutMs: 1500 },
      engine: (e) => (engine = e as WorkerSupervisor),
    });
    try {
      const chosenBefore = (await services.handlers['inference.hardware'](undefined)).backend;
      const firstPid = engine['running']?.handle.pid;
      void engine.call('misbehave', { kind: 'hang' }).catch(() => undefined);
      await expect.poll(() => logs.join('\n'), { timeout: 10_000 }).toMatch(/stopped answering/);
      await expect
        .poll(
          async () => {
            const { state } = await services.handlers['inference.status'](undefined);
            return state === 'ready' && engine['running']?.handle.pid !== firstPid;
          },
          { timeout: 20_000 },
        )
        .toBe(true);
      expect(
        services.notices
          .list()
          .map((n) => n.message)
          .join(),
      ).toMatch(/stopped \(it stopped answering/);
      expect((await services.handlers['inference.hardware'](undefined)).backend).toBe(chosenBefore);
    } finally {
      await services.close();
    }
  });

  it('applies a backend override by restarting the worker, reloading the model and explaining a fallback', async () => {
    const { services } = await inferenceHost();
    try {
      await services.handlers['inference.load']({ modelPath: model });
      const automatic = (await services.handlers['inference.hardware'](undefined)).backend;
      // A backend that cannot load on this platform, whatever its GPU: Metal off macOS, CUDA on it.
      const impossible = process.platform === 'darwin' ? 'cuda' : 'metal';
      await services.handlers['settings.update']({ inference: { backend: impossible } });
      await expect
        .poll(async () => (await services.handlers['inference.hardware'](undefined)).requested, { timeout: 20_000 })
        .toBe(impossible);
      const report = await services.handlers['inference.hardware'](undefined);
      expect(report.backend).toBe(automatic);
      expect(report.reason).toMatch(
        new RegExp(`${backendLabels[impossible]} was selected in settings but .*; fell back to ${backendLabels[automatic]}`),
      );
      await expect.poll(async () => (await services.handlers['inference.status'](undefined)).model?.path, { timeout: 20_000 }).toBe(model);
      // The override persisted.
      expect(services.settings.get().inference.backend).toBe(impossible);
    } finally {
      await services.close();
    }
  });
});
