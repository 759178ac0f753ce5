import { useRef, useState } from 'react';
import type { CollectionRecord, DocsSnapshot, DocumentRecord, IndexProgress } from '../../../shared/documents';
import { useHostApi } from '../../app/host-context';
import { useReportProblem } from '../../app/problems';
import { DOCUMENT_ACCEPT, plural, uploadDocument } from './doc-files';
import { DocumentRow } from './DocumentRow';

interface Props {
  snapshot: DocsSnapshot;
  progress: Map<string, IndexProgress>;
  onSnapshot: (snapshot: DocsSnapshot) => void;
}

function Collection({
  collection: c,
  documents,
  progress,
  vectors,
  onSnapshot,
}: Omit<Props, 'snapshot'> & {
  collection: CollectionRecord;
  documents: DocumentRecord[];
  vectors: boolean;
}) {
  const api = useHostApi();
  const report = useReportProblem();
  const picker = useRef<HTMLInputElement>(null);
  const [adding, setAdding] = useState(0);
  const addFiles = async (files: File[]) => {
    setAdding((n) => n + files.length);
    for (const file of files) {
      try {
        await uploadDocument(api, file, { collectionId: c.id });
      } catch (e) {
        report(e, `Could not add ${file.name} to ${c.name}`);
      } finally {
        setAdding((n) => n - 1);
      }
    }
  };
  const remove = () => {
    if (!window.confirm(`Remove the collection ${c.name} and its ${plural(c.documents, 'document')} from Freehold? Files in folders stay.`))
      return;
    api['docs.removeCollection']({ id: c.id }).then(onSnapshot, (e: unknown) => report(e, `Could not remove ${c.name}`));
  };
  return (
    <li className="machine collection" aria-label={c.name}>
      <div className="machine-head">
        <strong>{c.name}</strong>
        <span className="muted">
          {plural(c.documents, 'document')} · {plural(c.chunks, 'chunk')}
        </span>
        <span className="doc-actions">
          <input
            ref={picker}
            type="file"
            multiple
            hidden
            accept={DOCUMENT_ACCEPT}
            aria-label={`Files to add to ${c.name}`}
            onChange={(e) => {
              void addFiles([...(e.target.files ?? [])]);
              e.target.value = '';
            }}
          />
          <button type="button" className="secondary" aria-label={`Add files to ${c.name}`} onClick={() => picker.current?.click()}>
            Add files
          </button>
          <button type="button" className="secondary danger" aria-label={`Remove collection ${c.name}`} onClick={remove}>
            Remove
          </button>
        </span>
      </div>
      {c.folders.length > 0 && (
        <p className="muted collection-folders">
          Watching {c.folders.length === 1 ? 'the folder' : 'the folders'}{' '}
          {c.folders.map((f, i) => (
            <span key={f}>
              {i > 0 && ', '}
              <code className="mono">{f}</code>
            </span>
          ))}
        </p>
      )}
      {adding > 0 && (
        <p className="muted" role="status">
          Sending {plural(adding, 'file')}…
        </p>
      )}
      {documents.length > 0 && (
        <details>
          <summary>Documents ({documents.length})</summary>
          <ul className="doc-list" aria-label={`Documents in ${c.name}`}>
            {documents.map((doc) => (
              <DocumentRow
                key={doc.id}
                doc={doc}
                progress={progress.get(doc.id)}
                vectors={vectors}
                onCancel={(d) => api['docs.cancel']({ id: d.id }).then(onSnapshot, (e: unknown) => report(e, `Could not cancel ${d.name}`))}
                onRemove={(d) => api['docs.remove']({ id: d.id }).then(onSnapshot, (e: unknown) => report(e, `Could not remove ${d.name}`))}
              />
            ))}
          </ul>
        </details>
      )}
    </li>
  );
}

/** The collections (documents gathered to search from any chat that turns them on), and a form to make one. */
export function Collections({ snapshot, progress, onSnapshot }: Props) {
  const api = useHostApi();
  const [name, setName] = useState('');
  const [folders, setFolders] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const vectors = !!snapshot.embedding.modelId;

  const create = () => {
    setCreating(true);
    setError(null);
    const list = folders
      .split('\n')
      .map((f) => f.trim())
      .filter(Boolean);
    api['docs.createCollection']({ name: name.trim(), ...(list.length ? { folders: list } : {}) }).then(
      () => {
        setName('');
        setFolders('');
        setCreating(false);
      },
      (e: Error) => {
        setError(`Could not create the collection: ${e.message}`);
        setCreating(false);
      },
    );
  };

  return (
    <>
      <h3 id="collections-title">Collections</h3>
      {snapshot.collections.length === 0 ? (
        <p className="muted">No collections: make one below, then turn it on in a chat (Collections, above the message box).</p>
      ) : (
        <ul className="machine-list" aria-labelledby="collections-title">
          {snapshot.collections.map((c) => (
            <Collection
              key={c.id}
              collection={c}
              documents={snapshot.documents.filter((d) => d.collectionId === c.id)}
              progress={progress}
              vectors={vectors}
              onSnapshot={onSnapshot}
            />
          ))}
        </ul>
      )}
      <form
        className="collection-form"
        aria-labelledby="new-collection-title"
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) create();
        }}
      >
        <h4 id="new-collection-title">New collection</h4>
        <label>
          Name
          <input type="text" value={name} maxLength={100} required onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Folders (optional, one per line)
          <textarea
            value={folders}
            rows={2}
            placeholder="/home/me/Documents/reports"
            aria-describedby="collection-folders-note"
            onChange={(e) => setFolders(e.target.value)}
          />
        </label>
        <p id="collection-folders-note" className="muted">
          Folders are watched: files added, changed or deleted there are read again, so the collection stays current.
        </p>
        <button type="submit" disabled={creating || !name.trim()}>
          {creating ? 'Creating…' : 'Create collection'}
        </button>
        {error && <p role="alert">{error}</p>}
      </form>
    </>
  );
}
