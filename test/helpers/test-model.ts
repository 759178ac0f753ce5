import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const TEST_MODEL_SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';
const HOW =
  'Set FREEHOLD_TEST_MODEL to a copy of stories260K.gguf (Hugging Face ggml-org/models, file tinyllamas/stories260K.gguf, ' +
  `sha256 ${TEST_MODEL_SHA256}), or place it at ../shared/models/stories260K.gguf beside the project.`;

let cached: string | undefined;

/**
 * The real tiny model the inference tests use: $FREEHOLD_TEST_MODEL, else
 * ../shared/models/stories260K.gguf, verified by sha256. Tests that need it
 * fail (never skip) with instructions when it is missing.
 */
export function testModelPath(): string {
  if (cached) return cached;
  const candidates = [process.env.FREEHOLD_TEST_MODEL, path.resolve('..', 'shared', 'models', 'stories260K.gguf')].filter(
    (p): p is string => Boolean(p),
  );
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    const digest = createHash('sha256').update(readFileSync(candidate)).digest('hex');
    if (digest !== TEST_MODEL_SHA256) throw new Error(`${candidate} is not stories260K.gguf (sha256 ${digest}). ${HOW}`);
    cached = path.resolve(candidate);
    return cached;
  }
  throw new Error(`The test model stories260K.gguf was not found (looked at: ${candidates.join(', ')}). ${HOW}`);
}
