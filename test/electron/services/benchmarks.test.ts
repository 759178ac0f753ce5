import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import { inferenceHost } from '../../helpers/inference-host';
import { testModelPath } from '../../helpers/test-model';

const open: HostServices[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

describe('built-in benchmark', () => {
  it('measures pp512 and tg128 on the active backend, keeps the result with the hardware, and runs from the CLI', async () => {
    const { services } = await inferenceHost();
    open.push(services);
    const [imported] = await services.handlers['models.import']({ paths: [testModelPath()], mode: 'reference' });
    const [result] = await services.handlers['hardware.benchmark']({ modelId: imported!.model!.id });
    const { backend } = await services.handlers['inference.hardware'](undefined);
    expect(result!).toMatchObject({ backend, promptTokens: 512, generatedTokens: 128, threads: 1, modelName: 'stories260K' });
    expect(result!.promptTokensPerSecond).toBeGreaterThan(result!.generationTokensPerSecond);
    expect(result!.generationTokensPerSecond).toBeGreaterThan(10);
    expect(result!.versions.nodeLlamaCpp).toMatch(/^\d/);
    // Every backend that works here (only the CPU on a machine without a GPU), each once, the CPU always among them.
    const report = await services.handlers['inference.hardware'](undefined);
    const all = await services.handlers['hardware.benchmark']({ modelId: imported!.model!.id, allBackends: true });
    const working = report.attempts.filter((a) => a.outcome !== 'unavailable').map((a) => a.backend);
    expect(all.map((r) => r.backend)).toContain('cpu');
    expect(new Set(all.map((r) => r.backend)).size).toBe(all.length);
    if (report.backend === 'cpu') expect(all.map((r) => r.backend)).toEqual(['cpu']);
    else expect(all.map((r) => r.backend)).toEqual(expect.arrayContaining(working));
    // Chat still works afterwards (the benchmark leaves the context empty, not broken).
    const reply = await services.handlers['chat.generate']({
      requestId: 'after',
      messages: [{ role: 'user', text: 'Hi' }],
      sampling: { temperature: 0, maxTokens: 8 },
    });
    expect(reply.stats.generatedTokens).toBe(8);
    const dataDir = services.library['options'].dataDir as string;
    await services.close();
    open.pop();
    const cli = JSON.parse(
      execFileSync(process.execPath, ['dist/electron/cli.mjs', 'bench', '--model', imported!.model!.id, '--json', '--data-dir', dataDir], {
        encoding: 'utf8',
      }),
    );
    expect(cli).toMatchObject({ promptTokens: 512, generatedTokens: 128 });
    const list = JSON.parse(
      execFileSync(
        process.execPath,
        ['-e', `console.log(require('fs').readFileSync(${JSON.stringify(`${dataDir}/benchmarks.json`)}, 'utf8'))`],
        { encoding: 'utf8' },
      ),
    );
    expect(list.results).toHaveLength(3);
  });
});
