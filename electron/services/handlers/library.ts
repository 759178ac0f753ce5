import { RpcError } from '../../../shared/errors';
import type { InferenceService } from '../../inference/inference-service';
import type { ModelLibrary } from '../../library/model-library';
import type { UploadSessions } from '../../library/uploads';
import type { EventBus } from '../events';
import type { HandlerSlice } from './handler-slice';

export interface LibraryHandlerDeps {
  library: ModelLibrary;
  uploads: UploadSessions;
  inference: InferenceService;
  events: EventBus;
  /** Shows a file in the OS file manager (desktop only). */
  revealFile?: (file: string) => void;
}

/** The model library and the folders it watches. */
export function libraryHandlers({
  library,
  uploads,
  inference,
  events,
  revealFile,
}: LibraryHandlerDeps): HandlerSlice<'models' | 'folders' | 'uploads'> {
  return {
    'uploads.begin': ({ name, sizeBytes }) => uploads.begin(name, sizeBytes),
    'uploads.chunk': ({ uploadId, offset, data }) => uploads.chunk(uploadId, offset, data),
    'uploads.finish': ({ uploadId }) => uploads.finish(uploadId),
    'uploads.cancel': ({ uploadId }) => uploads.cancel(uploadId),
    'models.list': () => library.snapshot(),
    'models.import': ({ paths, mode }) =>
      library.importPaths(paths, mode, (file, bytes, totalBytes) => events.emit('onImportProgress', { path: file, bytes, totalBytes })),
    'models.remove': ({ id }) => library.remove(id),
    'models.reveal': ({ id }) => {
      const model = library.get(id);
      if (!model) throw new RpcError('not_found', 'No such model in the library.');
      if (!revealFile) throw new RpcError('unavailable', 'Showing files is only possible in the desktop app.');
      revealFile(model.files[0]!);
      return { shown: true };
    },
    'models.generate': async ({ modelId, requestId, contextSize, ...input }) => {
      const model = await library.checkBeforeLoad(modelId);
      // One turn in the queue the UI shares with the local API: the load and the reply together.
      return inference.run('ui', requestId, { path: model.files[0]!, contextSize }, { kind: 'generate', input });
    },
    'models.load': async ({ id, gpuLayers, contextSize }) => {
      // A file deleted or changed since it was listed: said so, and the entry brought up to date.
      const model = await library.checkBeforeLoad(id);
      return inference.load({ modelPath: model.files[0]!, gpuLayers, contextSize });
    },
    'folders.add': ({ path: dir }) => library.addFolder(dir),
    'folders.remove': async ({ id }) => {
      await library.removeFolder(id);
      return library.snapshot();
    },
    'folders.rescan': async ({ id }) => {
      await library.rescan(id);
      return library.snapshot();
    },
    'folders.suggestions': () => library.suggestions(),
  };
}
