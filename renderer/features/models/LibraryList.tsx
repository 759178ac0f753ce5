import { useVirtualizer } from '@tanstack/react-virtual';
import { EngineOption } from './EngineOption';
import { PlacementOption } from './PlacementOption';
import { SensesBadges } from './FitBadge';
import { useMemo, useRef, useState } from 'react';
import type { LibrarySnapshot, ModelEntry } from '../../../shared/library';
import { formatBytes, formatParams } from '../../../shared/format';
import type { Settings, SpeculativeSetting } from '../../../shared/settings';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';

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

type SpeculativeMap = NonNullable<Settings['inference']['speculative']>;

/** A speculative-decoding setting as a select's value: "off", "prompt-lookup" or "draft:<model id>". */
function choiceOf(setting: SpeculativeSetting | undefined): string {
  if (!setting) return 'off';
  return setting.mode === 'draft' ? `draft:${setting.draftModelId}` : 'prompt-lookup';
}

function settingOf(choice: string): SpeculativeSetting | undefined {
  if (choice === 'prompt-lookup') return { mode: 'prompt-lookup' };
  if (choice.startsWith('draft:')) return { mode: 'draft', draftModelId: choice.slice('draft:'.length) };
  return undefined;
}

/** What a row's badge says of the model's speculative decoding, if it is on. */
function speculativeBadge(setting: SpeculativeSetting | undefined, models: ModelEntry[]): string | null {
  if (!setting) return null;
  if (setting.mode === 'prompt-lookup') return 'prompt lookup';
  return `draft: ${models.find((m) => m.id === setting.draftModelId)?.name ?? 'missing model'}`;
}

interface OptionsProps {
  model: ModelEntry;
  models: ModelEntry[];
  id: string;
  speculative: SpeculativeMap | null;
  engines: NonNullable<Settings['inference']['engines']> | null;
  placements: NonNullable<Settings['inference']['placements']> | null;
  onSaved: (settings: Settings) => void;
}

/**
 * A model's options, under its row: speculative decoding off, by prompt lookup,
 * or with another library model as the draft. Saving sends the whole map
 * (settings.update replaces it), and the engine restarts with it.
 */
function ModelOptions({ model, models, id, speculative, engines, placements, onSaved }: OptionsProps) {
  const api = useHostApi();
  const current = choiceOf(speculative?.[model.id]);
  const [draft, setDraft] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const choice = draft ?? current;
  const others = models.filter((m) => m.id !== model.id).sort((a, b) => a.sizeBytes - b.sizeBytes || a.name.localeCompare(b.name));
  // A draft model that left the library stays choosable as it is, so the select shows what is saved.
  const missingDraft = choice.startsWith('draft:') && !others.some((m) => `draft:${m.id}` === choice);
  const hint = `${id}-hint`;
  return (
    <div id={id} className="model-options" role="group" aria-label={`Options for ${model.name}`}>
      {engines !== null && <EngineOption model={model} id={id} engines={engines} placement={placements?.[model.id]} onSaved={onSaved} />}
      {speculative === null ? (
        <p className="muted" aria-busy="true">
          Reading settings…
        </p>
      ) : (
        <form
          className="model-options-form"
          onSubmit={(e) => {
            e.preventDefault();
            const next: SpeculativeMap = { ...speculative };
            const setting = settingOf(choice);
            if (setting) next[model.id] = setting;
            else delete next[model.id];
            setBusy(true);
            setOutcome(null);
            api['settings.update']({ inference: { speculative: next } })
              .then(
                (saved) => {
                  onSaved(saved);
                  setDraft(null);
                  setOutcome({
                    ok: true,
                    text: 'Saved. The inference engine restarts with it; a loaded model is loaded again.',
                  });
                },
                (error: Error) => setOutcome({ ok: false, text: error.message }),
              )
              .finally(() => setBusy(false));
          }}
        >
          <label className="inline-field">
            <span>Speculative decoding</span>
            <select
              aria-label={`Speculative decoding for ${model.name}`}
              aria-describedby={hint}
              value={choice}
              onChange={(e) => setDraft(e.target.value)}
            >
              <option value="off">Off</option>
              <option value="prompt-lookup">Prompt lookup (for edits and summaries)</option>
              {others.map((m) => (
                <option key={m.id} value={`draft:${m.id}`}>
                  Draft model: {m.name}
                </option>
              ))}
              {missingDraft && <option value={choice}>Draft model: no longer in the library</option>}
            </select>
          </label>
          <button
            type="submit"
            className="secondary"
            disabled={busy || choice === current}
            aria-label={`Save speculative decoding for ${model.name}`}
          >
            Save
          </button>
          <p id={hint} className="muted field-hint">
            The model checks several predicted tokens at once: the same reply, sooner. Prompt lookup predicts from the prompt, which suits
            replies that repeat it (edits, summaries). A draft model should be a smaller model of the same family: one with a different
            vocabulary is not used, and Hardware → Inference engine says so once the model is loaded.
          </p>
          {outcome && (
            <p role={outcome.ok ? 'status' : 'alert'} className={outcome.ok ? 'field-hint' : 'field-error tone-bad'}>
              {outcome.text}
            </p>
          )}
        </form>
      )}
      {placements !== null && <PlacementOption model={model} id={id} placements={placements} onSaved={onSaved} />}
    </div>
  );
}

/** The library, virtualized so that hundreds of models scroll smoothly. */
export function LibraryList({ library, canReveal, onChat, onReveal, onRemove }: Props) {
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<SortKey>('added');
  // Rows whose options are open; settings hold each model's speculative decoding.
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const [settings, setSettings] = useHostQuery('settings.get');
  useHostEvent('onSettingsChanged', setSettings);
  const speculative = settings.status === 'ready' ? (settings.data.inference.speculative ?? {}) : null;
  const engines = settings.status === 'ready' ? (settings.data.inference.engines ?? {}) : null;
  const placements = settings.status === 'ready' ? (settings.data.inference.placements ?? {}) : null;
  const toggle = (id: string) =>
    setOpen((previous) => {
      const next = new Set(previous);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const models = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    // "sees" and "images" find the models that see; "hears" and "audio" those that hear.
    const senses = (m: ModelEntry) => `${m.projector?.vision ? 'sees images' : ''} ${m.projector?.audio ? 'hears audio' : ''}`;
    const list = library.models.filter((m) =>
      !needle
        ? true
        : [m.name, m.architecture, m.quantization, m.publisher, m.source?.repo, senses(m)].some((v) => v?.toLowerCase().includes(needle)),
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
    // Rows are measured: one with its options open is taller.
    getItemKey: (index) => models[index]?.id ?? index,
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
              const expanded = open.has(m.id);
              const optionsId = `model-options-${row.index}`;
              const badge = speculative ? speculativeBadge(speculative[m.id], library.models) : null;
              return (
                <div
                  key={m.id}
                  ref={virtualizer.measureElement}
                  data-index={row.index}
                  role="listitem"
                  aria-label={m.name}
                  className="model-row library-row"
                  style={{ position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${row.start}px)`, minHeight: 76 }}
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
                      {badge && (
                        <span className="badge badge-ok" title="Speculative decoding">
                          {badge}
                        </span>
                      )}
                      {m.projector && (
                        <SensesBadges
                          vision={m.projector.vision}
                          audio={m.projector.audio}
                          detail={`Projector type ${m.projector.projectorType}`}
                        />
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
                        m.projector ? `projector ${m.projector.projectorType}, ${formatBytes(m.projector.sizeBytes)}` : null,
                      ]
                        .filter(Boolean)
                        .join(' · ')}
                    </div>
                    <div className="model-path mono muted" title={m.files[0]}>
                      {m.source ? `${m.source.repo} @ ${m.source.revision.slice(0, 7)}` : m.files[0]}
                      {m.files.length > 1 ? ` (+${m.files.length - 1} parts)` : ''}
                    </div>
                    {m.projector && (
                      <div className="model-path mono muted" title={m.projector.file}>
                        Projector: {m.projector.file}
                      </div>
                    )}
                  </div>
                  <div className="model-actions">
                    <button type="button" onClick={() => onChat(m)} aria-label={`Chat with ${m.name}`}>
                      Chat
                    </button>
                    <button
                      type="button"
                      className="secondary"
                      aria-expanded={expanded}
                      aria-controls={expanded ? optionsId : undefined}
                      aria-label={`Options for ${m.name}`}
                      onClick={() => toggle(m.id)}
                    >
                      Options
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
                  {expanded && (
                    <ModelOptions
                      model={m}
                      models={library.models}
                      id={optionsId}
                      speculative={speculative}
                      engines={engines}
                      placements={placements}
                      onSaved={setSettings}
                    />
                  )}
                </div>
              );
            })}
          </div>
        </div>
      )}
    </section>
  );
}
