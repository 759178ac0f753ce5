/**
 * llama-server's command line for a model as the server engine loads it: the
 * model, the context of every slot, the thread rule, the GPU layers, the
 * model's own template (`--jinja`), its projector, and speculative decoding
 * (a draft model, or prompt lookup as llama.cpp's n-gram drafting). Host,
 * port, key and web UI are added by llama-server-process.ts.
 */
import type { PlacementPlan } from '../../shared/placement';
import { placementArgs } from './placement-plan';
import type { ServerLoadInput } from './server-engine';

/** Tokens a draft model (or the prompt lookup) proposes at a time. */
export const SERVER_DRAFT_MAX = 16;

/**
 * llama-server's arguments for a load (host, port, key and web UI are added
 * by llama-server-process.ts), without speculative decoding. The bench starts
 * a llama-server of its own with the same.
 */
export function serverArgs(input: ServerLoadInput, threads: number, plan?: PlacementPlan): string[] {
  const parallel = Math.max(1, input.parallel ?? 1);
  const gpuLayers = plan ? plan.gpuLayers : (input.gpuLayers ?? 0);
  const contextSize = plan?.contextSize ?? input.contextSize;
  // One KV cache shared by the slots (llama.cpp's unified cache): a reply alone gets the whole context however
  // many run at once; the pool holds as many whole contexts as fit (at least one).
  const pool = plan?.contextPool ?? contextSize * parallel;
  const args = [
    '-m',
    input.modelPath,
    '-c',
    String(pool),
    '-np',
    String(parallel),
    // Idle conversations keep their tokens in the cache (their next turn reads only what is new); llama.cpp
    // drops the idle ones' first when a reply needs the room.
    ...(parallel > 1 ? ['-kvu', '--kv-unified-per-slot', String(contextSize), '--no-cache-idle-slots'] : []),
    '-t',
    String(threads),
    '-tb',
    String(threads),
    ...(plan ? placementArgs(plan) : ['-ngl', String(gpuLayers)]),
    '--jinja',
  ];
  if (input.projectorPath) args.push('--mmproj', input.projectorPath, ...(gpuLayers === 0 ? ['--no-mmproj-offload'] : []));
  return args;
}

/** Speculative decoding's arguments: a draft model, or prompt lookup as llama.cpp's n-gram drafting. */
export function speculativeArgs(input: ServerLoadInput, threads: number, plan?: PlacementPlan): string[] {
  const spec = input.speculative;
  const onGpu = (plan ? plan.gpuLayers : (input.gpuLayers ?? 0)) > 0;
  if (spec?.kind === 'draft')
    return [
      '-md',
      spec.modelPath,
      '--spec-type',
      'draft-simple',
      '--spec-draft-n-max',
      String(SERVER_DRAFT_MAX),
      '-ngld',
      onGpu ? 'all' : '0',
      // The draft model goes to the main GPU of the plan.
      ...(onGpu && plan?.devices[0] ? ['-devd', plan.devices[0].id] : []),
      '-td',
      String(threads),
    ];
  // Prompt lookup: the tokens that followed the last 3 tokens where they appeared before in the context.
  if (spec?.kind === 'prompt-lookup')
    return ['--spec-type', 'ngram-simple', '--spec-ngram-simple-size-n', '3', '--spec-ngram-simple-size-m', String(SERVER_DRAFT_MAX)];
  return [];
}
