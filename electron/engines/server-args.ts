/**
 * llama-server's command line for a model as the server engine loads it: the
 * model, the context of every slot, the thread rule, the GPU layers, the
 * model's own template (`--jinja`), its projector, and speculative decoding
 * (a draft model, or prompt lookup as llama.cpp's n-gram drafting). Host,
 * port, key and web UI are added by llama-server-process.ts.
 */
import type { ServerLoadInput } from './server-engine';

/** Tokens a draft model (or the prompt lookup) proposes at a time. */
export const SERVER_DRAFT_MAX = 16;

/**
 * llama-server's arguments for a load (host, port, key and web UI are added
 * by llama-server-process.ts), without speculative decoding. The bench starts
 * a llama-server of its own with the same.
 */
export function serverArgs(input: ServerLoadInput, threads: number): string[] {
  const parallel = Math.max(1, input.parallel ?? 1);
  const gpuLayers = input.gpuLayers ?? 0;
  const args = [
    '-m',
    input.modelPath,
    // llama-server divides its context among its slots: each reply gets contextSize.
    '-c',
    String(input.contextSize * parallel),
    '-np',
    String(parallel),
    '-t',
    String(threads),
    '-tb',
    String(threads),
    '-ngl',
    String(gpuLayers),
    '--jinja',
  ];
  if (input.projectorPath) args.push('--mmproj', input.projectorPath, ...(gpuLayers === 0 ? ['--no-mmproj-offload'] : []));
  return args;
}

/** Speculative decoding's arguments: a draft model, or prompt lookup as llama.cpp's n-gram drafting. */
export function speculativeArgs(input: ServerLoadInput, threads: number): string[] {
  const spec = input.speculative;
  if (spec?.kind === 'draft')
    return [
      '-md',
      spec.modelPath,
      '--spec-type',
      'draft-simple',
      '--spec-draft-n-max',
      String(SERVER_DRAFT_MAX),
      '-ngld',
      (input.gpuLayers ?? 0) > 0 ? 'all' : '0',
      '-td',
      String(threads),
    ];
  // Prompt lookup: the tokens that followed the last 3 tokens where they appeared before in the context.
  if (spec?.kind === 'prompt-lookup')
    return ['--spec-type', 'ngram-simple', '--spec-ngram-simple-size-n', '3', '--spec-ngram-simple-size-m', String(SERVER_DRAFT_MAX)];
  return [];
}
