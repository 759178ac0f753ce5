import { useHostApi } from '../../app/host-context';
import { useReportProblem } from '../../app/problems';
import type { DocumentRecord } from '../../../shared/documents';
import { plural } from './doc-files';
import { DocumentRow } from './DocumentRow';
import { useDocsProgress, useDocsSnapshot, type Uploading } from './useDocs';

interface Props {
  conversationId: string | null;
  documents: DocumentRecord[];
  uploading: Uploading[];
  collectionIds: string[];
  onCollections: (collectionIds: string[]) => void;
}

/**
 * Above the message box: the documents attached to this chat, each with where
 * its reading stands, Cancel and Remove; and the collections this chat
 * searches, turned on and off here (made in Settings → Documents).
 */
export function ChatDocuments({ conversationId, documents, uploading, collectionIds, onCollections }: Props) {
  const api = useHostApi();
  const report = useReportProblem();
  const progress = useDocsProgress();
  const { snapshot } = useDocsSnapshot();
  const collections = snapshot?.collections ?? [];
  const vectors = !!snapshot?.embedding.modelId;
  if (documents.length === 0 && uploading.length === 0 && (collections.length === 0 || !conversationId)) return null;

  const cancel = (doc: DocumentRecord) =>
    api['docs.cancel']({ id: doc.id }).catch((e: unknown) => report(e, `Could not cancel the reading of ${doc.name}`));
  const remove = (doc: DocumentRecord) =>
    api['docs.remove']({ id: doc.id }).catch((e: unknown) => report(e, `Could not remove ${doc.name}`));
  const on = collections.filter((c) => collectionIds.includes(c.id));

  return (
    <section className="chat-docs" aria-labelledby="chat-docs-title">
      <div className="chat-docs-head">
        <h2 id="chat-docs-title">Documents in this chat</h2>
        {conversationId && collections.length > 0 && (
          <details className="chat-docs-collections">
            <summary>{on.length ? `Collections: ${on.map((c) => c.name).join(', ')}` : 'Collections: none on'}</summary>
            <fieldset>
              <legend>Collections this chat searches</legend>
              {collections.map((c) => (
                <label key={c.id}>
                  <input
                    type="checkbox"
                    checked={collectionIds.includes(c.id)}
                    onChange={(e) => onCollections(e.target.checked ? [...collectionIds, c.id] : collectionIds.filter((id) => id !== c.id))}
                  />{' '}
                  {c.name} <span className="muted">({plural(c.documents, 'document')})</span>
                </label>
              ))}
            </fieldset>
          </details>
        )}
      </div>
      {documents.length === 0 && uploading.length === 0 ? (
        <p className="muted chat-docs-none">None attached: attach files with Documents, or drop them here.</p>
      ) : (
        <ul className="doc-list" aria-labelledby="chat-docs-title">
          {uploading.map((u) => (
            <li key={u.key} className="doc-row" aria-label={u.name}>
              <span className="doc-name">{u.name}</span>
              <span className="doc-status muted" role="status">
                sending…
              </span>
            </li>
          ))}
          {documents.map((doc) => (
            <DocumentRow key={doc.id} doc={doc} progress={progress.get(doc.id)} vectors={vectors} onCancel={cancel} onRemove={remove} />
          ))}
        </ul>
      )}
    </section>
  );
}
