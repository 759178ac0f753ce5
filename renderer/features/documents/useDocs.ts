import { useCallback, useEffect, useState } from 'react';
import type { ChatDocuments, IndexProgress } from '../../../shared/documents';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { useReportProblem } from '../../app/problems';
import { uploadDocument } from './doc-files';

/** The latest progress the host told of each document (onDocsProgress), by document id. */
export function useDocsProgress(): Map<string, IndexProgress> {
  const [progress, setProgress] = useState(() => new Map<string, IndexProgress>());
  useHostEvent(
    'onDocsProgress',
    useCallback((update: IndexProgress) => setProgress((now) => new Map(now).set(update.documentId, update)), []),
  );
  return progress;
}

/** Every document, collection and the embedding model (docs.list), kept current by onDocsChanged. */
export function useDocsSnapshot() {
  const [query, setSnapshot] = useHostQuery('docs.list', undefined, { showsError: true });
  useHostEvent('onDocsChanged', setSnapshot);
  return { query, snapshot: query.status === 'ready' ? query.data : null, setSnapshot };
}

/** A file being sent to the host (it is listed before the host has it). */
export interface Uploading {
  key: string;
  name: string;
}

let uploads = 0;

/**
 * The documents of one conversation (attached, and the collections turned on
 * for it), read again when the host says documents changed; `upload` sends
 * files to it (to a conversation just created, when given its id).
 */
export function useChatDocuments(conversationId: string | null) {
  const api = useHostApi();
  const report = useReportProblem();
  const [docs, setDocs] = useState<{ id: string; value: ChatDocuments } | null>(null);
  const [uploading, setUploading] = useState<Uploading[]>([]);
  const [generation, setGeneration] = useState(0);
  useHostEvent(
    'onDocsChanged',
    useCallback(() => setGeneration((g) => g + 1), []),
  );
  useEffect(() => {
    if (!conversationId) return;
    let cancelled = false;
    api['docs.forChat']({ conversationId }).then(
      (value) => !cancelled && setDocs({ id: conversationId, value }),
      (e: unknown) => !cancelled && report(e, 'Could not read the documents of this chat'),
    );
    return () => {
      cancelled = true;
    };
  }, [api, conversationId, generation, report]);

  const current = docs && docs.id === conversationId ? docs.value : null;

  const upload = useCallback(
    async (files: File[], toConversation: string) => {
      const pending = files.map((file) => ({ key: `${(uploads += 1)}`, name: file.name, file }));
      setUploading((now) => [...now, ...pending.map(({ key, name }) => ({ key, name }))]);
      const problems: string[] = [];
      for (const { key, name, file } of pending) {
        try {
          const record = await uploadDocument(api, file, { conversationId: toConversation });
          setDocs((now) =>
            now && now.id === toConversation && !now.value.documents.some((d) => d.id === record.id)
              ? { id: now.id, value: { ...now.value, documents: [...now.value.documents, record] } }
              : now,
          );
        } catch (e) {
          problems.push(`${name}: ${(e as Error).message}`);
        } finally {
          setUploading((now) => now.filter((u) => u.key !== key));
        }
      }
      return problems;
    },
    [api],
  );

  const setCollections = useCallback(
    (collectionIds: string[]) => {
      if (!conversationId) return;
      // Shown at once; the host's answer (or, on a failure, what it has) follows.
      setDocs((now) => (now && now.id === conversationId ? { id: now.id, value: { ...now.value, collectionIds } } : now));
      api['docs.setChatCollections']({ conversationId, collectionIds }).then(
        (value) => setDocs({ id: conversationId, value }),
        (e: unknown) => {
          report(e, 'Could not change the collections of this chat');
          setGeneration((g) => g + 1);
        },
      );
    },
    [api, conversationId, report],
  );

  return { documents: current?.documents ?? [], collectionIds: current?.collectionIds ?? [], uploading, upload, setCollections };
}
