import { useVirtualizer } from '@tanstack/react-virtual';
import { useMemo, useRef, useState } from 'react';
import type { LibrarySnapshot, ModelEntry } from '../../../shared/library';
import { formatBytes, formatParams } from '../../../shared/format';

type SortKey = 'added' | 'name' | 'size' | 'params';

const originLabel: Record<ModelEntry['origin'], string> = {
  downloaded: 'Downloaded',
  copied: 'Copied in',
  referenced: 'Linked in place',
  folder: 'In a model folder',
};

interface Props {
  library: LibrarySnapshot;
  canReveal: boolean;
  onChat: (model: ModelEntry) => void;
  onReveal: (model: ModelEntry) => void;
  onRemove: (model: ModelEntry) => void;
}

/** The library, virtualized so that hundreds of models scroll smoothly. */
export function LibraryList({ library, canReveal, onChat, onReveal, onRemove }: Props) {
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<SortKey>('added');
  const models = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const list = library.models.filter((m) =>
      !needle ? true : [m.name, m.architecture, m.quantization, m.publisher, m.source?.repo].some((v) => v?.toLowerCase().includes(needle)),
    );
    const by: Record<SortKey, (a: ModelEntry, b: ModelEntry) => number> = {
      added: (a, b) => b.addedAt.localeCompare(a.addedAt),
      name: (a, b) => a.name.localeCompare(b.name),
      size: (a, b) => b.sizeBytes - a.sizeBytes,
      params: (a, b) => b.parameterCount - a.parameterCount,
    };
    return list.sort(by[sort]);
  }, [library.models, filter, sort]);

  const scroller = useRef<HTMLDivElement>(null);
  // The list is its own scroll container; the virtualizer keeps only visible rows in the DOM.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: models.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 76,
    overscan: 8,
  });

  return (
    <section aria-labelledby="library-title" className="library">
      <div className="library-toolbar">
        <h2 id="library-title">
          Your models{' '}
          <span className="muted">
            ({library.models.length}, {formatBytes(library.totalBytes)} on disk
            {library.ownedBytes ? `, ${formatBytes(library.ownedBytes)} stored by Freehold` : ''})
          </span>
        </h2>
        <label className="inline-field">
          <span>Filter</span>
          <input type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="name, architecture, quantization" />
        </label>
        <label className="inline-field">
          <span>Sort by</span>
          <select value={sort} onChange={(e) => setSort(e.target.value as SortKey)}>
            <option value="added">Recently added</option>
            <option value="name">Name</option>
            <option value="size">Size</option>
            <option value="params">Parameters</option>
          </select>
        </label>
      </div>
      {library.models.length === 0 ? (
        <div className="empty-state">
          <h3>No models yet</h3>
          <p>Search Hugging Face in Discover, drop a .gguf file or folder here, or add a folder you already keep models in.</p>
        </div>
      ) : (
        <div ref={scroller} className="library-scroller" role="list" aria-label="Models in your library">
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((row) => {
              const m = models[row.index]!;
              return (
                <div
                  key={m.id}
                  role="listitem"
                  aria-label={m.name}
                  className="model-row"
                  style={{ position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${row.start}px)`, height: row.size }}
                >
                  <div className="model-main">
                    <div className="model-name">
                      {m.name}
                      {m.duplicateOf && <span className="badge badge-warn">duplicate</span>}
                      {m.hasChatTemplate ? (
                        <span className="badge">chat template</span>
                      ) : (
                        <span className="badge badge-muted">no chat template</span>
                      )}
                    </div>
                    <div className="model-facts muted">
                      {[
                        m.publisher ?? m.source?.repo.split('/')[0],
                        m.architecture,
                        formatParams(m.parameterCount),
                        m.quantization,
                        formatBytes(m.sizeBytes),
                        m.contextLength ? `${m.contextLength.toLocaleString()} ctx` : null,
                        m.license,
                        originLabel[m.origin],
                      ]
                        .filter(Boolean)
                        .join(' · ')}
                    </div>
                    <div className="model-path mono muted" title={m.files[0]}>
                      {m.source ? `${m.source.repo} @ ${m.source.revision.slice(0, 7)}` : m.files[0]}
                      {m.files.length > 1 ? ` (+${m.files.length - 1} parts)` : ''}
                    </div>
                  </div>
                  <div className="model-actions">
                    <button type="button" onClick={() => onChat(m)} aria-label={`Chat with ${m.name}`}>
                      Chat
                    </button>
                    {canReveal && (
                      <button type="button" className="secondary" onClick={() => onReveal(m)} aria-label={`Show ${m.name} in its folder`}>
                        Show
                      </button>
                    )}
                    <button
                      type="button"
                      className="secondary danger"
                      onClick={() => onRemove(m)}
                      aria-label={`${m.owned ? 'Delete' : 'Forget'} ${m.name}`}
                    >
                      {m.owned ? 'Delete' : 'Forget'}
                    </button>
                  </div>
                </div>
              );
            })}
          </div>
        </div>
      )}
    </section>
  );
}
