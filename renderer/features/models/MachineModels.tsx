import { Link } from 'wouter';
import { formatBytes } from '../../../shared/format';
import type { MachineInfo, RemoteModel } from '../../../shared/machines';
import { kindText, stateText, stateTone, useNow } from '../machines/machines';
import { MachineDownloads } from './Downloads';
import { FitBadge } from './FitBadge';

function MachineSection({ machine: m, now, onChat }: { machine: MachineInfo; now: number; onChat: (model: RemoteModel) => void }) {
  const titleId = `on-machine-${m.id}`;
  const online = m.state === 'online';
  return (
    <section aria-labelledby={titleId} className="library machine-library">
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
