import { useHostApi } from '../../app/host-context';
import { useReportProblem } from '../../app/problems';
import { Collections } from './Collections';
import { plural } from './doc-files';
import { EmbeddingOffer } from './EmbeddingOffer';
import { useDocsProgress, useDocsSnapshot } from './useDocs';

/**
 * Settings → Documents: the embedding model that finds passages by meaning
 * (or keywords only), where its vectors stand, the offer of one when the
 * library has none; and the collections, with their documents.
 */
export function DocumentsPanel() {
  const api = useHostApi();
  const report = useReportProblem();
  const { query, snapshot, setSnapshot } = useDocsSnapshot();
  const progress = useDocsProgress();
  const embedding = snapshot?.embedding;

  return (
    <section aria-labelledby="documents-title" className="engine machines documents-settings">
      <h2 id="documents-title">Documents</h2>
      <p className="muted">
        Files you attach to a chat, or gather in collections, are read into passages; each reply is given the passages that match the
        conversation (a small document whole) and cites them as [1], [2]…
      </p>
      {query.status === 'loading' && <p aria-busy="true">Reading the documents…</p>}
      {query.status === 'error' && <p role="alert">Could not read the documents: {query.message}</p>}
      {snapshot && embedding && (
        <>
          <h3 id="embedding-title">Embedding model</h3>
          {embedding.choices.length === 0 && !embedding.modelId ? (
            <EmbeddingOffer />
          ) : (
            <div className="embedding-choice">
              <label>
                Embedding model{' '}
                <select
                  value={embedding.modelId ?? ''}
                  onChange={(e) =>
                    api['docs.setEmbedding']({ modelId: e.target.value || null }).then(setSnapshot, (err: unknown) =>
                      report(err, 'Could not change the embedding model'),
                    )
                  }
                >
                  <option value="">None (keywords only)</option>
                  {embedding.modelId && !embedding.choices.some((c) => c.id === embedding.modelId) && (
                    <option value={embedding.modelId}>{embedding.name ?? embedding.modelId} (not in the library)</option>
                  )}
                  {embedding.choices.map((c) => (
                    <option key={c.id} value={c.id}>
                      {c.name}
                    </option>
                  ))}
                </select>
              </label>
              <p className="muted" role="status">
                {embedding.modelId
                  ? [
                      embedding.dims ? `${embedding.dims}-dimension vectors` : null,
                      embedding.missing ? `${plural(embedding.missing, 'chunk')} waiting for a vector` : 'every chunk has its vector',
                    ]
                      .filter(Boolean)
                      .join(' · ')
                  : 'Passages are found by their keywords only.'}
              </p>
            </div>
          )}
          {embedding.problem && (
            <p role="alert" className="tone-bad">
              {embedding.problem}
            </p>
          )}
          <Collections snapshot={snapshot} progress={progress} onSnapshot={setSnapshot} />
        </>
      )}
    </section>
  );
}
