import type { ChangeEvent } from 'react';
import { Link } from 'wouter';
import { formatBytes, formatDuration } from '../../../shared/format';
import type { MachineInfo, RemoteModel } from '../../../shared/machines';
import { kindText, stateText, stateTone, useNow } from '../machines/machines';
import { MachineDownloads } from './Downloads';
import { FitBadge } from './FitBadge';
import { useRemoteImport, type RemoteImportOutcome } from './useRemoteImport';

function outcomeText(outcome: RemoteImportOutcome, machineName: string): string {
  switch (outcome.kind) {
    case 'done':
      return `${outcome.modelName} is now on ${machineName}`;
    case 'failed':
      return `Could not import ${outcome.fileName} onto ${machineName}: ${outcome.message}`;
    case 'cancelled':
      return `Import of ${outcome.fileName} onto ${machineName} cancelled${outcome.skipped ? `; ${outcome.skipped} more not sent` : ''}.`;
  }
}

/**
 * Importing .gguf files onto a Freehold machine: a button that opens a file
 * picker (a drop on the machine's section does the same), the file on its
 * way with its progress and Cancel, and how each import ended. The model
 * list below shows the new model when the machine lists it.
 */
function ImportOnto({ machine: m, imports }: { machine: MachineInfo; imports: ReturnType<typeof useRemoteImport> }) {
  const online = m.state === 'online';
  const { current, waiting, outcomes } = imports.state;
  const label = `Import a .gguf file onto ${m.name}`;
  const onPick = (event: ChangeEvent<HTMLInputElement>) => {
    imports.add([...(event.target.files ?? [])]);
    // The same file can be picked again (after a failure, say).
    event.target.value = '';
  };
  const percent = current && current.totalBytes ? Math.floor((current.sentBytes / current.totalBytes) * 100) : 0;
  return (
    <div className="machine-import">
      <div className="machine-import-bar">
        <label className="file-button" title={online ? undefined : `${m.name} is not answering now`}>
          <input type="file" accept=".gguf" multiple className="visually-hidden" aria-label={label} disabled={!online} onChange={onPick} />
          <span aria-hidden="true" className="file-button-icon">
            ⇪
          </span>
          {label}
        </label>
        <span className="muted">
          {online
            ? `or drop .gguf files here: each is copied into ${m.name}'s library.`
            : `Files can be imported onto ${m.name} when it answers again.`}
        </span>
      </div>
      {current && (
        <div className="download remote-import">
          <div className="download-head">
            <strong>
              Importing {current.fileName} onto {m.name}
            </strong>
            {waiting > 0 && <span className="muted">{waiting} more waiting</span>}
          </div>
          <progress
            className="upload-progress"
            max={Math.max(1, current.totalBytes)}
            value={current.sentBytes}
            aria-label={`Import of ${current.fileName} onto ${m.name}`}
          />
          <div className="muted">
            {formatBytes(current.sentBytes)} of {formatBytes(current.totalBytes)} · {percent}%
            {current.bytesPerSecond > 0 &&
              current.sentBytes < current.totalBytes &&
              ` · ${formatBytes(current.bytesPerSecond)}/s · ${formatDuration((current.totalBytes - current.sentBytes) / current.bytesPerSecond)} left`}
          </div>
          <div className="download-actions">
            <button
              type="button"
              className="secondary danger"
              disabled={current.cancelling}
              onClick={imports.cancel}
              aria-label={`Cancel importing ${current.fileName} onto ${m.name}`}
            >
              {current.cancelling ? 'Cancelling…' : 'Cancel'}
            </button>
          </div>
        </div>
      )}
      {outcomes.length > 0 && (
        <ul className="import-results" aria-label={`Imports onto ${m.name}`}>
          {outcomes.map((outcome, i) => (
            <li key={i} className={outcome.kind === 'failed' ? 'bad' : 'ok'}>
              {/* The role on an inner element: a list item keeps its own. */}
              <span role={outcome.kind === 'failed' ? 'alert' : 'status'}>{outcomeText(outcome, m.name)}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function MachineSection({ machine: m, now, onChat }: { machine: MachineInfo; now: number; onChat: (model: RemoteModel) => void }) {
  const titleId = `on-machine-${m.id}`;
  const online = m.state === 'online';
  // Only a Freehold machine takes files; its section is a drop target of its own (the page's drop imports here).
  const takesFiles = m.kind === 'freehold';
  const imports = useRemoteImport(m.id, online);
  return (
    <section
      aria-labelledby={titleId}
      className={`library machine-library${imports.over ? ' drop-target-over' : ''}`}
      {...(takesFiles ? imports.handlers : {})}
    >
      <div className="library-toolbar">
        <h2 id={titleId}>
          On {m.name}{' '}
          <span className="muted">
            ({kindText[m.kind]}, {m.models.length} model{m.models.length === 1 ? '' : 's'})
          </span>
        </h2>
        <span className={`machine-state tone-${stateTone(m)}`}>
          <span className="dot" aria-hidden="true" />
          {stateText(m, now)}
        </span>
      </div>
      {takesFiles && <ImportOnto machine={m} imports={imports} />}
      {!online && m.models.length > 0 && (
        <p className="muted">Its models as it last listed them: you can chat with them when it answers again.</p>
      )}
      {m.models.length === 0 ? (
        <p className="muted">{online ? `No models on ${m.name} yet.` : `${m.name} has not listed its models yet.`}</p>
      ) : (
        <ul className="remote-models" aria-label={`Models on ${m.name}`}>
          {m.models.map((r) => (
            <li key={r.ref} className="model-row" aria-label={`${r.name} on ${m.name}`}>
              <div className="model-main">
                <div className="model-name">
                  {r.name}
                  <FitBadge fit={r.fit} />
                </div>
                <div className="model-facts muted">
                  {[r.architecture, r.quantization, r.sizeBytes !== null ? formatBytes(r.sizeBytes) : null].filter(Boolean).join(' · ') ||
                    'size and quantization not reported'}
                </div>
              </div>
              <div className="model-actions">
                <button
                  type="button"
                  disabled={!online}
                  onClick={() => onChat(r)}
                  aria-label={`Chat with ${r.name} on ${m.name}`}
                  title={online ? undefined : `${m.name} is not answering now`}
                >
                  Chat
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      <MachineDownloads machine={m} activeOnly />
    </section>
  );
}

/** Below the library: a section per other machine, with its models (fit computed there) and its downloads under way. */
export function MachineModels({ machines, onChat }: { machines: MachineInfo[]; onChat: (model: RemoteModel) => void }) {
  const now = useNow(machines.some((m) => m.state === 'offline' && m.retryAt !== null));
  if (machines.length === 0) return null;
  return (
    <div className="machine-libraries">
      {machines.map((m) => (
        <MachineSection key={m.id} machine={m} now={now} onChat={onChat} />
      ))}
      <p className="muted">
        <Link href="~/hardware/machines">Manage machines</Link> (add, reconnect, remove) in Hardware.
      </p>
    </div>
  );
}
