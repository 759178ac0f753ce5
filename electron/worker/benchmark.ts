/** The loaded model's speed, measured in the manner of llama-bench. */
import type { Loaded } from './slots';

export interface BenchmarkResult {
  promptTokensPerSecond: number;
  generationTokensPerSecond: number;
  promptTokens: number;
  generatedTokens: number;
}

/**
 * pp/tg in the manner of llama-bench: evaluate `promptTokens` tokens from a
 * clean context, then generate `generateTokens` tokens greedily, timing each.
 * It uses the loaded model's own context (its first slot; nothing else may run meanwhile)
 * and leaves it empty afterwards.
 */
export async function benchmark(loaded: Loaded, promptTokens: number, generateTokens: number): Promise<BenchmarkResult> {
  const sequence = loaded.slots[0]!.sequence;
  loaded.slots[0]!.key = null;
  const maxPrompt = Math.max(16, Math.min(promptTokens, loaded.context.contextSize - generateTokens - 8));
  let tokens = loaded.model.tokenize('Once upon a time, in a small village by the sea, there lived a curious child. ');
  while (tokens.length < maxPrompt) tokens = [...tokens, ...tokens];
  tokens = tokens.slice(0, maxPrompt);
  await sequence.clearHistory();
  let start = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(tokens);
  const promptSeconds = (performance.now() - start) / 1000;
  let generated = 0;
  start = performance.now();
  for await (const _token of sequence.evaluate([tokens[tokens.length - 1]!], { temperature: 0 })) {
    generated += 1;
    if (generated >= generateTokens || sequence.nextTokenIndex >= loaded.context.contextSize - 1) break;
  }
  const generationSeconds = (performance.now() - start) / 1000;
  await sequence.clearHistory();
  return {
    promptTokens: tokens.length,
    promptTokensPerSecond: tokens.length / promptSeconds,
    generatedTokens: generated,
    generationTokensPerSecond: generated / generationSeconds,
  };
}
