import { backendLabel } from '../../../shared/inference';
import { UsageError, type Command } from '../command';

export const benchCommand: Command = {
  summary: 'Measure prompt processing (pp512) and generation (tg128) on the active backend',
  usage: 'bench --model <id> [--all-backends] [--json]',
  options: { model: { type: 'string' }, 'all-backends': { type: 'boolean', default: false } },
  async run({ io, json, values, services }) {
    const modelId = values.model;
    if (typeof modelId !== 'string' || !modelId) throw new UsageError('bench needs --model <id> (see models list).');
    const host = await services();
    const results = await host.handlers['hardware.benchmark']({ modelId, allBackends: Boolean(values['all-backends']) });
    if (json) io.out(JSON.stringify(results.length === 1 ? results[0] : results));
    else {
      for (const result of results) {
        io.out(
          `${result.modelName} on ${backendLabel(result.backend)}${result.gpus.length ? ` (${result.gpus.join(', ')})` : ''}, ${result.threads} thread(s)`,
        );
        io.out(`  pp${result.promptTokens}: ${result.promptTokensPerSecond.toFixed(1)} tokens/s`);
        io.out(`  tg${result.generatedTokens}: ${result.generationTokensPerSecond.toFixed(1)} tokens/s`);
      }
    }
    return 0;
  },
};
