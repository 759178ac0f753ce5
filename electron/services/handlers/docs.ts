import { RpcError } from '../../../shared/errors';
import type { DocsService } from '../../docs/docs-service';
import type { HandlerSlice } from './handler-slice';

/** Documents for chat: adding (by path, or a browser's upload), indexing, collections, search and the embedding model. */
export function docsHandlers({ docs }: { docs: DocsService }): HandlerSlice<'docs'> {
  const uploads = docs.uploads;
  const target = (input: { collectionId?: string; conversationId?: string }) => ({
    ...(input.collectionId ? { collectionId: input.collectionId } : {}),
    ...(input.conversationId ? { conversationId: input.conversationId } : {}),
  });
  return {
    'docs.list': () => docs.snapshot(),
    'docs.add': (input) => docs.add(input.paths, target(input)),
    'docs.upload': (input) => {
      const data = Buffer.from(input.data, 'base64');
      if (data.length === 0) throw new RpcError('invalid_input', `${input.name} is empty.`);
      return docs.upload(input.name, data, target(input));
    },
    'docs.uploadBegin': ({ name, size, ...input }) => uploads.begin(name, size, target(input)),
    'docs.uploadChunk': ({ uploadId, offset, data }) => uploads.chunk(uploadId, offset, Buffer.from(data, 'base64')),
    'docs.uploadFinish': ({ uploadId }) => uploads.finish(uploadId),
    'docs.uploadCancel': ({ uploadId }) => uploads.cancel(uploadId),
    'docs.remove': async ({ id }) => {
      docs.remove(id);
      return docs.snapshot();
    },
    'docs.cancel': async ({ id }) => {
      docs.cancel(id);
      return docs.snapshot();
    },
    'docs.search': ({ query, limit, ...scope }) =>
      docs.search(
        query,
        {
          ...(scope.collectionId ? { collectionIds: [scope.collectionId] } : {}),
          ...(scope.conversationId ? { conversationId: scope.conversationId } : {}),
          ...(!scope.collectionId && !scope.conversationId ? { everything: true } : {}),
        },
        limit,
      ),
    'docs.forChat': ({ conversationId }) => docs.forChat(conversationId),
    'docs.setChatCollections': ({ conversationId, collectionIds }) => docs.setChatCollections(conversationId, collectionIds),
    'docs.createCollection': ({ name, folders }) => docs.createCollection(name, folders),
    'docs.removeCollection': async ({ id }) => {
      docs.removeCollection(id);
      return docs.snapshot();
    },
    'docs.setEmbedding': async ({ modelId }) => {
      await docs.setEmbedding(modelId);
      return docs.snapshot();
    },
  };
}
