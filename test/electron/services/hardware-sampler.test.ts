import { afterEach, describe, expect, it } from 'vitest';
import type { HardwareSample } from '../../../shared/contract';
import { HardwareSampler } from '../../../electron/services/hardware-sampler';
import type { HostServices } from '../../../electron/services/host-services';
import { inferenceHost } from '../../helpers/inference-host';
import { testModelPath } from '../../helpers/test-model';

const open: HostServices[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

describe('live hardware samples', () => {
  it('samples while watched, with the worker, the model and tokens/s, and stops when nobody watches', async () => {
    const { services } = await inferenceHost();
    open.push(services);
    await services.handlers['inference.load']({ modelPath: testModelPath() });
    const samples: HardwareSample[] = [];
    services.events.subscribeAll((event, payload) => event === 'onHardwareSample' && samples.push(payload as HardwareSample));
    const sampler = new HardwareSampler(services.inference, services.events, 50);
    sampler.watch(600);
    const generating = services.handlers['chat.generate']({
      requestId: 'live',
      messages: [{ role: 'user', text: 'Once' }],
      sampling: { temperature: 0, maxTokens: 1800 },
    });
    await expect.poll(() => samples.some((s) => s.tokensPerSecond !== null), { timeout: 10_000 }).toBe(true);
    await generating;
    const first = samples[0]!;
    expect(first.ramTotalBytes).toBeGreaterThan(0);
    expect(first.workerRssBytes).toBeGreaterThan(10 * 1024 * 1024);
    const { backend } = await services.handlers['inference.hardware'](undefined);
    expect(first.model).toMatchObject({ contextSize: 2048 });
    // No layer offloaded on the CPU; this tiny model fits whole on any GPU.
    if (backend === 'cpu') expect(first.model!.gpuLayers).toBe(0);
    else expect(first.model!.gpuLayers).toBeGreaterThan(0);
    expect(samples.find((s) => s.tokensPerSecond !== null)!.tokensPerSecond).toBeGreaterThan(10);
    // The watch lapses: no more samples.
    await new Promise((r) => setTimeout(r, 800));
    const count = samples.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(samples.length).toBe(count);
    sampler.stop();
  });
});
