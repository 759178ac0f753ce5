import { useState } from 'react';
import type { EnginesInfo } from '../../../shared/split';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { describeFailure } from '../../app/problems';

const sourceText: Record<EnginesInfo['attempts'][number]['source'], string> = {
  path: 'PATH',
  download: 'Download',
  build: 'Build from source',
  bundled: 'Shipped with Freehold',
};

/** A build under way: its step, a progress bar, and the line the compiler printed last. */
function BuildProgress({ building }: { building: NonNullable<EnginesInfo['building']> | null }) {
  const percent = building ? Math.round(Math.min(1, Math.max(0, building.fraction)) * 100) : 0;
  return (
    <div className="engines-build" aria-busy="true">
      <p role="status">{building ? `Building llama.cpp: ${building.step} (${percent}%)` : 'Starting the build…'}</p>
      <progress
        className="upload-progress"
        aria-label="Building llama.cpp"
        max={1}
        value={building ? Math.min(1, Math.max(0, building.fraction)) : undefined}
      />
      {building?.line && <p className="mono muted engines-build-line">{building.line}</p>}
    </div>
  );
}

/**
 * Hardware → Engines: llama.cpp's own programs (llama-server and
 * ggml-rpc-server), which run models split across machines. Which are in use
 * and why; where Freehold looked; a build from source where none is found.
 */
export function EnginesPanel() {
  const api = useHostApi();
  const [query, setInfo] = useHostQuery('engines.status', undefined, { showsError: true });
  useHostEvent('onEngines', setInfo);
  // Asked for and not yet answered (before the first progress event, the build is still "starting").
  const [requested, setRequested] = useState(false);
  const [message, setMessage] = useState<string | null>(null);

  const build = () => {
    setRequested(true);
    setMessage(null);
    api['engines.build']({}).then(
      (info) => {
        setInfo(info);
        setRequested(false);
      },
      (error: unknown) => {
        setMessage(describeFailure(error, 'Could not build llama.cpp'));
        setRequested(false);
      },
    );
  };

  return (
    <section aria-labelledby="engines-title" className="engine engines">
      <h2 id="engines-title">Engines</h2>
      <p className="muted">
        A model split across machines runs on llama.cpp's own programs (llama-server here, ggml-rpc-server on each machine that holds a
        part), not on the engine above.
      </p>
      {query.status === 'loading' && <p aria-busy="true">Looking for llama.cpp…</p>}
      {query.status === 'error' && <p role="alert">Could not read which engines are in use: {query.message}</p>}
      {query.status === 'ready' && <EnginesBody info={query.data} building={requested || query.data.building !== null} onBuild={build} />}
      {message && <p role="alert">{message}</p>}
    </section>
  );
}

function EnginesBody({ info, building, onBuild }: { info: EnginesInfo; building: boolean; onBuild: () => void }) {
  const found = info.found;
  return (
    <>
      {found ? (
        <>
          <p className="engine-backend tone-ok">In use: {found.reason}</p>
          <dl className="facts" aria-label="llama.cpp in use">
            <dt>Version</dt>
            <dd>
              llama.cpp {found.version} ({found.backend})
            </dd>
            <dt>From</dt>
            <dd>{found.source === 'path' ? 'the PATH' : 'a build from source'}</dd>
            <dt>llama-server</dt>
            <dd className="mono">{found.llamaServer}</dd>
            <dt>RPC server</dt>
            <dd className="mono">{found.rpcServer}</dd>
          </dl>
        </>
      ) : (
        <p className="engine-backend">None yet: a split model needs llama.cpp {info.version} (its llama-server and ggml-rpc-server).</p>
      )}
      {info.attempts.length > 0 && (
        <table className="attempts">
          <caption>Where Freehold looked</caption>
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">Outcome</th>
              <th scope="col">Why</th>
            </tr>
          </thead>
          <tbody>
            {info.attempts.map((attempt, i) => (
              <tr key={`${attempt.source}-${i}`}>
                <th scope="row">{sourceText[attempt.source]}</th>
                <td className={`outcome outcome-${attempt.outcome}`}>{attempt.outcome}</td>
                <td>{attempt.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {building ? (
        <BuildProgress building={info.building} />
      ) : (
        !found &&
        (info.canBuild.ok ? (
          <div className="engines-actions">
            <button type="button" onClick={onBuild} aria-describedby="engines-build-hint">
              Build llama.cpp {info.version}
            </button>
            <p id="engines-build-hint" className="muted">
              From the source Freehold ships with (a few minutes), kept in <span className="mono">{info.buildDir}</span>.
            </p>
          </div>
        ) : (
          <p className="tone-warn">Cannot build it here: {info.canBuild.reason}</p>
        ))
      )}
    </>
  );
}
