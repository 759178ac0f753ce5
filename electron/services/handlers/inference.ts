import type { InferenceService } from '../../inference/inference-service';
import type { HandlerSlice } from './handler-slice';

/** The engine's status and hardware, loads by path, and replies on the loaded model (the CLI's chat). */
export function inferenceHandlers(inference: InferenceService): HandlerSlice<'inference' | 'chat'> {
  return {
    'inference.status': () => inference.status(),
    'inference.hardware': () => inference.hardware(),
    'inference.load': (input) => inference.load(input),
    'inference.unload': () => inference.unload(),
    'chat.generate': ({ requestId, ...input }) => inference.run('ui', requestId, null, { kind: 'generate', input }),
    'chat.abort': async ({ requestId }) => ({ aborted: await inference.abort(requestId) }),
  };
}
