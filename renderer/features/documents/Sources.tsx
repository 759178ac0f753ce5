import { useEffect, useRef } from 'react';
import type { Passage, ReplySources } from '../../../shared/documents';
import { plural } from './doc-files';

/** Where a passage is: "report.pdf, page 3", "notes.md, Setup › Linux", or the file alone. */
export function placeOf(p: Pick<Passage, 'name' | 'page' | 'heading'>): string {
  return p.page ? `${p.name}, page ${p.page}` : p.heading ? `${p.name}, ${p.heading}` : p.name;
}

/** "5 passages from 2 files". */
export function sourcesSummary(sources: ReplySources): string {
  return `${plural(sources.passages.length, 'passage')} from ${plural(sources.files, 'file')}`;
}

function snippet(text: string, length = 180): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1).trimEnd()}…` : flat;
}

/**
 * Under a reply given passages of documents: a disclosure that lists each one
 * ([n], its file and page or section, the start of its text), whether the
 * reply cites it, and a button that opens it whole.
 */
export function Sources({ sources, onOpen }: { sources: ReplySources; onOpen: (n: number) => void }) {
  const reading = sources.pending
    ? `${sources.pending === 1 ? 'One document was' : `${sources.pending} documents were`} still being read and not given to the model.`
    : null;
  if (sources.passages.length === 0) return reading ? <p className="muted sources-mode">{reading}</p> : null;
  const cited = new Set(sources.cited);
  return (
    <details className="sources">
      <summary>{sourcesSummary(sources)}</summary>
      <p className="muted sources-mode">
        {sources.mode === 'whole'
          ? 'The documents were given whole: they fit the model’s context.'
          : 'Retrieved: the passages that best matched the conversation were given to the model.'}
        {sources.cited.length ? ` The reply cites ${sources.cited.length} of them.` : ' The reply cites none of them.'}
        {reading ? ` ${reading}` : ''}
      </p>
      <ol className="sources-list" aria-label="Passages given to the model">
        {sources.passages.map((p) => (
          <li key={p.n}>
            <button type="button" className="link-button" aria-label={`Read passage ${p.n}: ${placeOf(p)}`} onClick={() => onOpen(p.n)}>
              [{p.n}] {placeOf(p)}
            </button>
            {cited.has(p.n) && <span className="badge badge-ok">cited</span>}
            <p className="muted sources-snippet">{snippet(p.text)}</p>
          </li>
        ))}
      </ol>
    </details>
  );
}

/** One passage whole, in a modal dialog: its file, page or section, and text. Escape, Close or a click outside closes it. */
export function PassageDialog({ passage, onClose }: { passage: Passage; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (typeof element.showModal === 'function') element.showModal();
    else element.setAttribute('open', '');
    return () => {
      if (typeof element.close === 'function') element.close();
    };
  }, []);
  return (
    <dialog
      ref={dialog}
      className="passage-dialog"
      aria-labelledby="passage-dialog-title"
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <h2 id="passage-dialog-title">
        [{passage.n}] {passage.name}
      </h2>
      <p className="muted passage-place">
        {[passage.page ? `page ${passage.page}` : null, passage.heading ?? null].filter(Boolean).join(' · ') || 'the whole file'}
      </p>
      <blockquote className="passage-text">{passage.text}</blockquote>
      <div className="passage-bar">
        <button type="button" className="secondary" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
    </dialog>
  );
}
