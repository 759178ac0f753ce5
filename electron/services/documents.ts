/** The documents service over the chat database, with the engine's embedding slot and the library's embedding models. */
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { ConversationStore } from '../chat/conversation-store';
import { DocumentStore } from '../docs/doc-store';
import { DocsService } from '../docs/docs-service';
import { isEmbeddingModel } from '../formats/embedding-model';
import type { InferenceService } from '../inference/inference-service';
import type { ModelLibrary } from '../library/model-library';
import type { EventBus } from '../platform/events';
import type { NoticeBoard } from '../platform/notices';

export interface DocumentsDeps {
  chats: ConversationStore;
  dataDir: string;
  events: EventBus;
  inference: InferenceService;
  library: ModelLibrary;
  log: (line: string) => void;
  watch: boolean;
  notices: NoticeBoard;
}

/** Whether each library file is an embedding model, read once per file. */
const embeds = new Map<string, Promise<boolean>>();

export function openDocuments(deps: DocumentsDeps): DocsService {
  let store: DocumentStore;
  // Without a usable chat database (its reason is already a notice), every documents call says so.
  if (typeof (deps.chats as { db?: { get?: unknown } }).db?.get !== 'function') {
    store = new Proxy({} as DocumentStore, {
      get: () => () => {
        throw new RpcError('unavailable', 'Documents are kept in the chat database, which cannot be used (see the notice).');
      },
    });
  } else store = new DocumentStore(deps.chats.db);
  return new DocsService({
    store,
    uploadsDir: path.join(deps.dataDir, 'documents'),
    events: deps.events,
    log: deps.log,
    watch: deps.watch,
    conversationExists: (id) => {
      try {
        deps.chats.get(id);
        return true;
      } catch {
        return false;
      }
    },
    embed: async (modelPath, texts) => {
      const result = await deps.inference.run(
        'ui',
        undefined,
        { path: modelPath, slot: 'embedding' },
        { kind: 'embed', input: { inputs: texts } },
      );
      return result.vectors;
    },
    embeddingModels: async () => {
      const models = deps.library.snapshot().models;
      const found = [];
      for (const model of models) {
        const file = model.files[0];
        if (!file) continue;
        if (!embeds.has(file))
          embeds.set(
            file,
            isEmbeddingModel(file).catch(() => false),
          );
        if (await embeds.get(file)) found.push({ id: model.id, name: model.name, path: file });
      }
      return found;
    },
  });
}
