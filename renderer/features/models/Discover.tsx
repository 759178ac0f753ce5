import { useEffect, useState } from 'react';
import type { HubModel, ProjectorOption, QuantOption, RepoDetails } from '../../../shared/hub';
import type { MachineInfo } from '../../../shared/machines';
import { useHostApi, useHostQuery } from '../../app/host-context';
import { formatBytes, formatCount, formatParams } from '../../../shared/format';
import { estimateFitOn } from '../machines/machines';
import { FitBadge, SensesBadges } from './FitBadge';

/** Where a download goes: this machine, or one of the Freehold machines that answer now. */
function DownloadTarget({ targets, value, onChange }: { targets: MachineInfo[]; value: string; onChange: (id: string) => void }) {
  if (targets.length === 0) return null;
  return (
    <label className="inline-field">
      <span>Download onto</span>
      <select value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">This machine</option>
        {targets.map((m) => (
          <option key={m.id} value={m.id}>
            {m.name}
          </option>
        ))}
      </select>
    </label>
  );
}

const precisionName = (p: ProjectorOption) => (p.precision === 'other' ? 'precision not named' : p.precision);

/** A repo's projectors: the model sees images (or hears audio) with one, downloaded with it; which one, and why. */
function Projectors({ details }: { details: RepoDetails }) {
  const projectors = details.projectors ?? [];
  if (projectors.length === 0) return null;
  return (
    <section className="repo-projectors" aria-labelledby="repo-projectors-title">
      <h4 id="repo-projectors-title">
        Projector{projectors.length > 1 ? 's' : ''}
        <SensesBadges
          vision={details.vision ?? false}
          audio={details.audio ?? false}
          detail={details.projectorType ? `projector type ${details.projectorType}` : null}
        />
      </h4>
      {details.projectorNote && <p className="muted">{details.projectorNote}</p>}
      <ul aria-label="Projector files">
        {projectors.map((p) => (
          <li key={p.file.name}>
            <span className="mono">{p.file.name}</span> · {precisionName(p)} · {formatBytes(p.file.sizeBytes)}
            {p.chosen && (
              <>
                {' '}
                <span className="badge badge-ok">downloaded with the model</span>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

interface RepoPanelProps {
  repo: string;
  onClose: () => void;
  targets: MachineInfo[];
  /** The machine chosen to download onto; null: this one. */
  target: MachineInfo | null;
  onTarget: (id: string) => void;
}

function RepoPanel({ repo, onClose, targets, target, onTarget }: RepoPanelProps) {
  const api = useHostApi();
  const [details, setDetails] = useState<RepoDetails | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [started, setStarted] = useState<Record<string, string>>({});
  useEffect(() => {
    let cancelled = false;
    api['hub.repo']({ repo }).then(
      (d) => !cancelled && setDetails(d),
      (e: Error) => !cancelled && setError(e.message),
    );
    return () => {
      cancelled = true;
    };
  }, [api, repo]);
  const download = (option: QuantOption) => {
    const key = option.quantization;
    setStarted((s) => ({ ...s, [key]: 'starting…' }));
    const file = option.files[0]!.name;
    const onto = target;
    // The projector shown here comes with it (another machine chooses its own for its memory).
    const projector = chosen ? chosen.file.name : false;
    (onto ? api['machines.download']({ machineId: onto.id, repo, file }) : api['downloads.start']({ repo, file, projector })).then(
      () =>
        setStarted((s) => ({
          ...s,
          [key]: `queued${chosen ? ' with its projector' : ''}${onto ? ` on ${onto.name} — see Library` : ' — see Downloads'}`,
        })),
      (e: Error) => setStarted((s) => ({ ...s, [key]: e.message })),
    );
  };
  const chosen = details?.projectors?.find((p) => p.chosen);
  const projectorBytes = chosen?.file.sizeBytes ?? 0;
  const fitOf = (q: QuantOption) => (target ? (q.fit ? estimateFitOn(target, q.fit.neededBytes) : null) : q.fit);
  return (
    <section className="panel repo-panel" aria-labelledby="repo-title">
      <div className="repo-head">
        <h3 id="repo-title">{repo}</h3>
        <DownloadTarget targets={targets} value={target?.id ?? ''} onChange={onTarget} />
        <button type="button" className="secondary" onClick={onClose} aria-label="Close repository">
          Close
        </button>
      </div>
      {!details && !error && <p aria-busy="true">Reading the repository and one file's header…</p>}
      {error && <p role="alert">{error}</p>}
      {details && (
        <>
          <p className="muted">
            {[
              details.architecture,
              details.parameterCount ? `${formatParams(details.parameterCount)} parameters` : null,
              details.contextLength ? `${details.contextLength.toLocaleString()} token context` : null,
              details.license ? `licence ${details.license}` : null,
              details.baseModel ? `based on ${details.baseModel}` : null,
            ]
              .filter(Boolean)
              .join(' · ')}
            {details.gated && ' · gated: needs a Hugging Face token'}
          </p>
          {details.fitProblem && <p className="muted">{details.fitProblem}</p>}
          <Projectors details={details} />
          {details.quants.length === 0 ? (
            <p>This repository has no GGUF files.</p>
          ) : (
            <table className="quants">
              <caption>Files by quantization</caption>
              <thead>
                <tr>
                  <th scope="col">Quantization</th>
                  <th scope="col">Size</th>
                  <th scope="col">{target ? `On ${target.name} (estimate)` : 'On this machine'}</th>
                  <th scope="col">
                    <span className="visually-hidden">Download</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {details.quants.map((q) => (
                  // "Recommended" is for this machine's memory: not said of another machine's.
                  <tr key={q.quantization + q.files[0]!.name} className={q.recommended && !target ? 'recommended' : undefined}>
                    <th scope="row">
                      {q.quantization}
                      {q.recommended && !target && <span className="badge badge-ok">recommended</span>}
                      {q.files.length > 1 && <span className="muted"> ({q.files.length} parts)</span>}
                    </th>
                    <td>
                      {formatBytes(q.totalBytes + projectorBytes)}
                      {chosen && (
                        <div className="fit-detail muted">
                          model {formatBytes(q.totalBytes)} + projector {formatBytes(projectorBytes)}
                        </div>
                      )}
                    </td>
                    <td>
                      <FitBadge fit={fitOf(q)} />
                      {fitOf(q) && <div className="fit-detail muted">{fitOf(q)?.explanation}</div>}
                    </td>
                    <td>
                      {started[q.quantization] ? (
                        <span className="muted">{started[q.quantization]}</span>
                      ) : (
                        <button
                          type="button"
                          onClick={() => download(q)}
                          aria-label={`Download ${q.quantization}${target ? ` onto ${target.name}` : ''}`}
                        >
                          Download
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

/** Hugging Face search (or a mirror set in HF_ENDPOINT / settings), with recommended models up front. */
export function Discover({ machines = [] }: { machines?: MachineInfo[] }) {
  const api = useHostApi();
  const [recommended] = useHostQuery('hub.recommended');
  const [query, setQuery] = useState('');
  const [sort, setSort] = useState<'downloads' | 'likes' | 'recent'>('downloads');
  const [results, setResults] = useState<HubModel[] | null>(null);
  const [searching, setSearching] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const targets = machines.filter((m) => m.kind === 'freehold' && m.state === 'online');
  const [targetId, setTargetId] = useState('');
  const target = targets.find((m) => m.id === targetId) ?? null;

  const search = (event?: React.FormEvent) => {
    event?.preventDefault();
    setSearching(true);
    setError(null);
    api['hub.search']({ query, sort, limit: 30 }).then(
      (list) => {
        setResults(list);
        setSearching(false);
      },
      (e: Error) => {
        setError(e.message);
        setSearching(false);
      },
    );
  };

  return (
    <section aria-labelledby="discover-title">
      <h2 id="discover-title">Discover models on Hugging Face</h2>
      <form className="search-form" role="search" onSubmit={search}>
        <label className="inline-field grow">
          <span>Search</span>
          <input
            type="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder="qwen, llama 3.2, deepseek r1, gemma…"
          />
        </label>
        <label className="inline-field">
          <span>Sort by</span>
          <select value={sort} onChange={(e) => setSort(e.target.value as typeof sort)}>
            <option value="downloads">Downloads</option>
            <option value="likes">Likes</option>
            <option value="recent">Recently updated</option>
          </select>
        </label>
        <button type="submit" disabled={searching}>
          {searching ? 'Searching…' : 'Search'}
        </button>
      </form>
      {error && <p role="alert">{error}</p>}
      {open && <RepoPanel key={open} repo={open} onClose={() => setOpen(null)} targets={targets} target={target} onTarget={setTargetId} />}
      {results && (
        <ul className="hub-results" aria-label="Search results">
          {results.length === 0 && <li className="muted">No GGUF models found.</li>}
          {results.map((r) => (
            <li key={r.repo}>
              <button type="button" className="link-button" onClick={() => setOpen(r.repo)}>
                {r.repo}
              </button>
              <span className="muted">
                {formatCount(r.downloads)} downloads · {formatCount(r.likes)} likes · updated {new Date(r.updatedAt).toLocaleDateString()}
                {r.gated ? ' · gated' : ''}
              </span>
              <SensesBadges vision={r.vision} audio={false} detail="It has a projector (mmproj) file" />
            </li>
          ))}
        </ul>
      )}
      {!results && recommended.status === 'ready' && (
        <>
          <h3>Recommended to start with</h3>
          <ul className="recommended-grid" aria-label="Recommended models">
            {recommended.data.map((r) => (
              <li key={r.repo} className="card">
                <button
                  type="button"
                  className="link-button"
                  onClick={() => setOpen(r.repo)}
                  aria-label={`${r.family} ${r.parameters}: ${r.repo}`}
                >
                  {r.family} <span className="muted">{r.parameters}</span>
                </button>
                <p className="recommended-facts">
                  {r.quantization} · about {formatBytes(r.sizeBytes)} <FitBadge fit={r.fit} />
                </p>
                <p className="muted">{r.note}</p>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
