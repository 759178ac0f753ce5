import { RpcError } from '../../../shared/errors';
import { checkMessageMedia, MediaError } from '../../formats/media-check';
import type { InferenceService } from '../../inference/inference-service';

/** Messages with their media checked (and converted) as a sent file is; a refusal is invalid_input with the reason. */
export async function checkedMedia<M extends { role: string; media?: Parameters<typeof checkMessageMedia>[0][number]['media'] }>(
  messages: M[],
): Promise<M[]> {
  try {
    return await checkMessageMedia(messages);
  } catch (error) {
    if (error instanceof MediaError) throw new RpcError('invalid_input', error.message);
    throw error;
  }
}
import type { HandlerSlice } from './handler-slice';

/** The engine's status and hardware, loads by path, and replies on the loaded model (the CLI's chat). */
export function inferenceHandlers(inference: InferenceService): HandlerSlice<'inference' | 'chat'> {
  return {
    'inference.status': () => inference.status(),
    'inference.hardware': () => inference.hardware(),
    'inference.load': (input) => inference.load(input),
    'inference.unload': () => inference.unload(),
    // Images and audio are checked here as everywhere else before they reach an engine.
    'chat.generate': async ({ requestId, ...input }) =>
      inference.run('ui', requestId, null, { kind: 'generate', input: { ...input, messages: await checkedMedia(input.messages) } }),
    'chat.abort': async ({ requestId }) => ({ aborted: await inference.abort(requestId) }),
  };
}
