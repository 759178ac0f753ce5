import type { ModelFit } from '../../../shared/contract';
import type { HardwareReport } from '../../../shared/inference';
import { estimateFit } from '../../hub/hub-client';
import type { InferenceService } from '../../inference/inference-service';
import { openFileSource } from '../../formats/file-source';
import { readGgufHeader } from '../../formats/gguf-header';
import type { ModelLibrary } from '../../library/model-library';
import type { Benchmarks } from '../benchmarks';
import type { HardwareSampler } from '../hardware-sampler';
import type { HandlerSlice } from './handler-slice';

export interface HardwareHandlerDeps {
  inference: InferenceService;
  library: ModelLibrary;
  sampler: HardwareSampler;
  benchmarks: Benchmarks;
}

/** How each model in the library fits this hardware, from its GGUF header where it can be read. */
async function libraryFits(library: ModelLibrary, hardware: HardwareReport): Promise<ModelFit[]> {
  const results: ModelFit[] = [];
  for (const model of library.snapshot().models) {
    let header = null;
    const source = await openFileSource(model.files[0]!).catch(() => null);
    if (source) {
      header = await readGgufHeader(source).catch(() => null);
      await source.close();
    }
    results.push({ modelId: model.id, name: model.name, sizeBytes: model.sizeBytes, fit: estimateFit(model.sizeBytes, header, hardware) });
  }
  return results;
}

/** The live hardware panel, model fits and benchmarks. */
export function hardwareHandlers({ inference, library, sampler, benchmarks }: HardwareHandlerDeps): HandlerSlice<'hardware'> {
  return {
    'hardware.watch': () => sampler.watch(),
    'hardware.benchmark': async ({ modelId, allBackends }) =>
      allBackends ? benchmarks.runOnEachBackend(modelId) : [await benchmarks.run(modelId)],
    'hardware.benchmarks': () => benchmarks.list(),
    'hardware.fit': async () => libraryFits(library, await inference.hardware()),
  };
}
