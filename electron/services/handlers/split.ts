import { RpcError } from '../../../shared/errors';
import type { SplitService } from '../../engines/split-service';
import type { HandlerSlice } from './handler-slice';

/** llama.cpp's programs and split models. */
export function splitHandlers(split: SplitService): HandlerSlice<'engines' | 'split'> {
  return {
    'engines.status': () => split.engines(),
    'engines.build': async (input) => {
      await split.buildEngines(input?.backend);
      return split.engines();
    },
    'split.plan': (input) => split.plan(input),
    'split.load': (input) => split.load(input),
    'split.unload': () => split.unload(),
    'split.status': () => split.current(),
    // Asked only over a paired link (peer-handlers.ts), which knows the pairing.
    'split.helperStart': () => {
      throw new RpcError('forbidden', 'Only a paired machine asks for an RPC helper.');
    },
    'split.helperStop': () => {
      throw new RpcError('forbidden', 'Only a paired machine asks for an RPC helper.');
    },
  };
}
