import os from 'node:os';
import type { HardwareSample } from '../../shared/contract';
import type { InferenceService } from '../inference/inference-service';
import type { EventBus } from '../platform/events';

/**
 * Live hardware readings, every `intervalMs` while someone watches (the open
 * hardware panel renews its watch); nothing is sampled when nobody looks.
 */
export class HardwareSampler {
  private watchUntil = 0;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly inference: InferenceService,
    private readonly events: EventBus,
    private readonly intervalMs = 2000,
  ) {}

  watch(forMs = 10_000): { untilMs: number } {
    this.watchUntil = Date.now() + forMs;
    if (!this.timer) {
      void this.sample();
      this.timer = setInterval(() => {
        if (Date.now() > this.watchUntil) return this.stop();
        void this.sample();
      }, this.intervalMs);
      this.timer.unref?.();
    }
    return { untilMs: this.watchUntil };
  }

  async sample(): Promise<HardwareSample> {
    const { worker, model } = await this.inference.sample();
    const sample: HardwareSample = {
      at: new Date().toISOString(),
      ramTotalBytes: os.totalmem(),
      ramFreeBytes: os.freemem(),
      vramTotalBytes: worker?.vramTotalBytes ?? 0,
      vramUsedBytes: worker?.vramUsedBytes ?? 0,
      workerRssBytes: worker?.rssBytes ?? null,
      model: model
        ? {
            name: model.name,
            gpuLayers: model.gpuLayers,
            totalLayers: model.totalLayers,
            contextSize: model.contextSize,
            parallel: model.parallel ?? 1,
          }
        : null,
      tokensPerSecond: worker?.tokensPerSecond ?? null,
      running: worker?.running ?? 0,
    };
    this.events.emit('onHardwareSample', sample);
    return sample;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
