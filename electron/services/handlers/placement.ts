import { RpcError } from '../../../shared/errors';
import type { InferenceService } from '../../inference/inference-service';
import type { ModelLibrary } from '../../library/model-library';
import type { HandlerSlice } from './handler-slice';

/** Plans of where a library model's layers go, and the GPUs there are to place them on. */
export function placementHandlers({
  inference,
  library,
}: {
  inference: InferenceService;
  library: ModelLibrary;
}): HandlerSlice<'placement'> {
  return {
    'placement.plan': async ({ id, placement, contextSize }) => {
      const model = library.get(id);
      if (!model) throw new RpcError('not_found', `There is no model "${id}" in the library.`);
      const { plan, choice, devices } = await inference.plan({
        modelPath: model.files[0]!,
        ...(placement ? { placement } : {}),
        ...(contextSize ? { contextSize } : {}),
      });
      return { id, plan, engine: choice.engine, engineReason: choice.why, devices };
    },
    'placement.devices': () => inference.devices(),
  };
}
