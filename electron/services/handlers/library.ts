import { RpcError } from '../../../shared/errors';
import { checkedMedia } from './inference';
import type { GenerateResult } from '../../../shared/inference';
import type { GenerateOnModelInput } from '../../../shared/machines';
import type { InferenceService } from '../../inference/inference-service';
import type { ModelLibrary } from '../../library/model-library';
import type { UploadSessions } from '../../library/uploads';
import type { EventBus } from '../../platform/events';
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
    'models.generate': async ({ modelId, requestId, contextSize, ...given }) => {
      const input = { ...given, messages: await checkedMedia(given.messages) };
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

/** A paired machine's reply is this long at most, and this long when it does not say. */
export const PEER_MAX_REPLY_TOKENS = 8192;
export const PEER_DEFAULT_REPLY_TOKENS = 2048;

/**
 * `models.generate` for a paired machine: a guest's reply. It runs on the
 * model as loaded (a context size it asks for is a most, used only when the
 * model must be loaded, and then only as far as the trained context and the
 * memory free now allow), never replaces a model this machine's user loaded,
 * and is bounded in length, so that no peer holds the queue indefinitely.
 */
export function guestGenerate({ library, inference }: Pick<LibraryHandlerDeps, 'library' | 'inference'>) {
  return async ({ modelId, requestId, contextSize, sampling, ...input }: GenerateOnModelInput): Promise<GenerateResult> => {
    // Another machine's chats reach this one as text only (as the chat view sends them).
    if (input.messages.some((m) => m.role === 'user' && m.media?.length))
      throw new RpcError('invalid_input', 'Images and audio are not sent to other machines: their models get text only.');
    const model = await library.checkBeforeLoad(modelId);
    const maxTokens = Math.min(sampling?.maxTokens ?? PEER_DEFAULT_REPLY_TOKENS, PEER_MAX_REPLY_TOKENS);
    return inference.run(
      'api',
      requestId,
      { path: model.files[0]!, guest: true, ...(contextSize !== undefined ? { maxContextSize: contextSize } : {}) },
      { kind: 'generate', input: { ...input, sampling: { ...sampling, maxTokens } } },
    );
  };
}
