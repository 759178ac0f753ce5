import type { DocumentRecord, IndexProgress } from '../../../shared/documents';
import { fractionDone, statusText, withProgress } from './doc-files';

const working: DocumentRecord['status'][] = ['queued', 'indexing'];

/**
 * One document: its name, where it stands (from the latest progress), a bar
 * while it is read or embedded, Cancel while it waits or is read, and Remove.
 * Every control names the file.
 */
export function DocumentRow({
  doc: record,
  progress,
  vectors,
  onCancel,
  onRemove,
}: {
  doc: DocumentRecord;
  progress: IndexProgress | undefined;
  /** Chunks get vectors (an embedding model is chosen): embedding progress is shown. */
  vectors: boolean;
  onCancel: (doc: DocumentRecord) => void;
  onRemove: (doc: DocumentRecord) => void;
}) {
  const doc = withProgress(record, progress);
  const fraction = fractionDone(doc, vectors);
  const status = statusText(doc, vectors);
  return (
    <li className={`doc-row doc-${doc.status}`} aria-label={doc.name}>
      <span className="doc-name" title={doc.path ?? doc.name}>
        {doc.name}
      </span>
      <span className={`doc-status${doc.status === 'failed' ? ' tone-bad' : ' muted'}`} role="status">
        {status}
      </span>
      {fraction !== null && (
        <progress className="doc-progress" aria-label={`Progress of ${doc.name}`} value={Math.round(fraction * 100)} max={100} />
      )}
      <span className="doc-actions">
        {working.includes(doc.status) && (
          <button type="button" className="secondary" aria-label={`Cancel indexing ${doc.name}`} onClick={() => onCancel(doc)}>
            Cancel
          </button>
        )}
        <button type="button" className="secondary danger" aria-label={`Remove ${doc.name}`} onClick={() => onRemove(doc)}>
          Remove
        </button>
      </span>
    </li>
  );
}
