import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BenchmarkResult } from '../../shared/inference';
import type { Settings } from '../../shared/settings';
import type { InferenceService } from '../inference/inference-service';
import type { ModelLibrary } from '../library/model-library';
import { SerialFileWriter } from '../platform/atomic-file';

/** pp512/tg128 runs on the active backend, kept with the hardware and versions they ran on. */
export class Benchmarks {
  private results: BenchmarkResult[] = [];
  private readonly writer: SerialFileWriter;

  constructor(
    dataDir: string,
    private readonly inference: InferenceService,
    private readonly library: ModelLibrary,
    private readonly settings: () => Settings['inference'],
  ) {
    this.writer = new SerialFileWriter(path.join(dataDir, 'benchmarks.json'));
  }

  async open(): Promise<void> {
    try {
      const stored = JSON.parse(await fs.readFile(this.writer.file, 'utf8')) as { results?: BenchmarkResult[] };
      this.results = Array.isArray(stored.results) ? stored.results : [];
    } catch {
      this.results = [];
    }
  }

  list(): BenchmarkResult[] {
    return [...this.results].sort((a, b) => b.at.localeCompare(a.at));
  }

  async run(modelId: string, promptTokens = 512, generateTokens = 128): Promise<BenchmarkResult> {
    const model = await this.library.checkBeforeLoad(modelId);
    // A turn in the queue the UI shares with the local API: no request runs while it measures.
    const measured = await this.inference.run(
      'ui',
      undefined,
      { path: model.files[0]! },
      { kind: 'benchmark', input: { promptTokens, generateTokens } },
    );
    const hardware = await this.inference.hardware();
    const result: BenchmarkResult = {
      id: randomBytes(6).toString('hex'),
      at: new Date().toISOString(),
      modelId,
      modelName: model.name,
      backend: hardware.backend,
      gpus: hardware.gpus.map((g) => g.name),
      cpu: hardware.cpu.model,
      threads: hardware.threads.used,
      versions: { nodeLlamaCpp: hardware.versions.nodeLlamaCpp, llamaCpp: hardware.versions.llamaCpp },
      ...measured,
    };
    this.results.push(result);
    await this.writer.write(`${JSON.stringify({ version: 1, results: this.results })}\n`);
    return result;
  }

  /**
   * The same measurement on every other backend that works here, each in a
   * fresh worker started for it alone; the engine returns to the settings after.
   */
  async runOnEachBackend(modelId: string): Promise<BenchmarkResult[]> {
    const report = await this.inference.hardware();
    const usable = report.attempts.filter((a) => a.outcome === 'chosen' || a.outcome === 'available').map((a) => a.backend);
    const results: BenchmarkResult[] = [await this.run(modelId)];
    const settings = this.settings();
    try {
      for (const backend of usable.filter((b) => b !== report.backend)) {
        await this.inference.restart(`benchmarking ${backend}`, { ...settings, backend });
        results.push(await this.run(modelId));
      }
    } finally {
      if (usable.length > 1) await this.inference.restart('benchmarks done');
    }
    return results;
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }
}
