import { useEffect, useRef, useState } from 'react';
import type { MachineInfo } from '../../../shared/machines';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { backendText, kindText, memoryText, stateText, stateTone, useMachines, useNow } from '../machines/machines';
import { AddMachine } from './AddMachine';
import { SharingPanel } from './SharingPanel';

/** One other machine: what it is, its state in words, its hardware now, and what can be done with it. */
interface ItemProps {
  machine: MachineInfo;
  now: number;
  onChanged: (machine: MachineInfo) => void;
  onRemoved: (id: string, note: string) => void;
}

function MachineItem({ machine: m, now, onChanged, onRemoved }: ItemProps) {
  const api = useHostApi();
  const [message, setMessage] = useState<string | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  const nameId = `machine-${m.id}-name`;
  const fail = (doing: string) => (e: unknown) => setMessage(describeFailure(e, doing));

  const remove = () => {
    const question =
      m.kind === 'freehold'
        ? `Remove ${m.name}? Its models leave this app, and ${m.name} is asked to revoke this machine's pairing.`
        : `Remove ${m.name}? Its models leave this app.`;
    if (!window.confirm(question)) return;
    api['machines.remove']({ id: m.id }).then(
      ({ revoked }) =>
        onRemoved(
          m.id,
          m.kind === 'freehold' && !revoked
            ? `Removed ${m.name}, but it could not be reached to revoke the pairing: revoke it there (Hardware → Machines → Paired machines).`
            : `Removed ${m.name}.`,
        ),
      fail(`Could not remove ${m.name}`),
    );
  };

  return (
    <li className="machine" aria-labelledby={nameId}>
      <div className="machine-head">
        <h4 id={nameId}>{m.name}</h4>
        <span className="badge">{kindText[m.kind]}</span>
        <span className={`machine-state tone-${stateTone(m)}`}>
          <span className="dot" aria-hidden="true" />
          {stateText(m, now)}
        </span>
      </div>
      <dl className="facts machine-facts">
        <dt>Address</dt>
        <dd className="mono">{m.address}</dd>
        {m.state === 'offline' && m.error && (
          <>
            <dt>Last error</dt>
            <dd>{m.error}</dd>
          </>
        )}
        <dt>Backend</dt>
        <dd>{backendText(m.hardware)}</dd>
        <dt>GPUs</dt>
        <dd>{m.hardware ? m.hardware.gpus.join(', ') || 'none' : 'not reported'}</dd>
        <dt>{m.state === 'online' ? 'Memory free now' : 'Memory free when last seen'}</dt>
        <dd>{memoryText(m.hardware)}</dd>
        {m.hardware?.cpu && (
          <>
            <dt>Processor</dt>
            <dd>{m.hardware.cpu}</dd>
          </>
        )}
        <dt>Models</dt>
        <dd>{m.models.length}</dd>
      </dl>
      {m.id === 'split' ? (
        <p className="muted">A split model running here: unload it under “Split a model across machines”.</p>
      ) : (
        <div className="machine-actions">
          <button
            type="button"
            className="secondary"
            aria-label={`Reconnect ${m.name}`}
            onClick={() => {
              setMessage(null);
              api['machines.reconnect']({ id: m.id }).then(onChanged, fail(`Could not reconnect ${m.name}`));
            }}
          >
            Reconnect
          </button>
          {renaming === null ? (
            <button type="button" className="secondary" aria-label={`Rename ${m.name}`} onClick={() => setRenaming(m.name)}>
              Rename
            </button>
          ) : (
            <form
              className="rename-form"
              onSubmit={(e) => {
                e.preventDefault();
                const name = renaming.trim();
                setRenaming(null);
                if (name && name !== m.name) api['machines.update']({ id: m.id, name }).then(onChanged, fail(`Could not rename ${m.name}`));
              }}
            >
              <input
                aria-label={`New name for ${m.name}`}
                value={renaming}
                maxLength={60}
                autoFocus
                onChange={(e) => setRenaming(e.target.value)}
                onKeyDown={(e) => e.key === 'Escape' && setRenaming(null)}
              />
              <button type="submit">Save name</button>
            </form>
          )}
          <button type="button" className="secondary danger" aria-label={`Remove ${m.name}`} onClick={remove}>
            Remove
          </button>
        </div>
      )}
      {message && <p role="alert">{message}</p>}
    </li>
  );
}

/**
 * Hardware → Machines: sharing this machine with paired ones, adding another
 * (a pairing code or an OpenAI-compatible server), and the machines added,
 * live. `#/hardware/machines` scrolls here.
 */
export function MachinesPanel({ scrollIntoView = false }: { scrollIntoView?: boolean }) {
  const { machines, query, upsert, forget } = useMachines();
  const now = useNow(machines.some((m) => m.state === 'offline' && m.retryAt !== null));
  const section = useRef<HTMLElement>(null);
  // Said here, not in the machine's own item: that leaves the list.
  const [removed, setRemoved] = useState<string | null>(null);
  const ready = query.status !== 'loading';
  useEffect(() => {
    const element = section.current;
    if (!scrollIntoView || !ready || !element) return;
    // The sections above are still reading their data and grow: keep this one at the top for a moment, until the user scrolls.
    let frame = 0;
    let lastTop = -1;
    const until = performance.now() + 2000;
    const step = () => {
      if (element.offsetTop !== lastTop) {
        lastTop = element.offsetTop;
        element.scrollIntoView?.({ block: 'start' });
      }
      if (performance.now() < until) frame = requestAnimationFrame(step);
    };
    const stop = () => cancelAnimationFrame(frame);
    const userScrolls = ['wheel', 'keydown', 'pointerdown', 'touchstart'] as const;
    userScrolls.forEach((type) => window.addEventListener(type, stop, { passive: true }));
    frame = requestAnimationFrame(step);
    return () => {
      stop();
      userScrolls.forEach((type) => window.removeEventListener(type, stop));
    };
  }, [scrollIntoView, ready]);

  return (
    <section aria-labelledby="machines-title" className="engine machines" id="machines" ref={section}>
      <h2 id="machines-title">Machines</h2>
      <p className="muted">
        Use the models on your other computers as if they were here: pair another Freehold with its code, or add an OpenAI-compatible server
        (llama-server, vLLM, Ollama, LM Studio). Their models appear in Models and in the chat's model picker.
      </p>
      <SharingPanel />
      <AddMachine onAdded={upsert} />
      <h3 id="machine-list-title">Other machines</h3>
      {removed && <p role="status">{removed}</p>}
      {query.status === 'error' && <p role="alert">Could not read the other machines: {query.message}</p>}
      {query.status === 'ready' && machines.length === 0 && <p className="muted">None yet: add one above.</p>}
      {machines.length > 0 && (
        <ul className="machine-list" aria-labelledby="machine-list-title">
          {machines.map((m) => (
            <MachineItem
              key={m.id}
              machine={m}
              now={now}
              onChanged={upsert}
              onRemoved={(id, note) => {
                forget(id);
                setRemoved(note);
              }}
            />
          ))}
        </ul>
      )}
    </section>
  );
}
