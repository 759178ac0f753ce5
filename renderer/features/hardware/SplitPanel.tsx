import { useEffect, useRef, useState } from 'react';
import { useLocation } from 'wouter';
import { formatBytes } from '../../../shared/format';
import type { SplitPlan, SplitPlanInput, SplitStatus } from '../../../shared/split';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { memoryText, useMachines } from '../machines/machines';

/** What machineIds calls this machine. */
const THIS_MACHINE = 'this';
/** How long the layers rest unchanged before the plan is asked for again. */
const REPLAN_DELAY_MS = 400;

interface Planned {
  input: SplitPlanInput;
  plan: SplitPlan;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** A layer count as typed: a whole number from 0, else null. */
function parseLayers(text: string): number | null {
  const trimmed = text.trim();
  if (!/^\d{1,5}$/.test(trimmed)) return null;
  const n = Number(trimmed);
  return n <= 10_000 ? n : null;
}

/** The proposal: layers per machine (editable), the memory each would use against what it can give, the context, and why. */
function PlanTable({
  plan,
  drafts,
  disabled,
  onLayers,
}: {
  plan: SplitPlan;
  drafts: string[] | null;
  disabled: boolean;
  onLayers: (index: number, value: string) => void;
}) {
  const placed = plan.devices.reduce((sum, d) => sum + d.layers, 0);
  const expected = plan.devices.reduce((sum, d) => sum + d.bytes, 0);
  const budget = plan.devices.reduce((sum, d) => sum + d.budgetBytes, 0);
  return (
    <table className="attempts split-plan">
      <caption>
        Plan for {plan.modelName}: {plan.totalLayers} layers, {formatBytes(plan.sizeBytes)}
      </caption>
      <thead>
        <tr>
          <th scope="col">Machine</th>
          <th scope="col">Layers</th>
          <th scope="col">Expected memory</th>
          <th scope="col">It can give</th>
        </tr>
      </thead>
      <tbody>
        {plan.devices.map((d, i) => {
          const over = d.bytes > d.budgetBytes;
          return (
            <tr key={d.machineId ?? THIS_MACHINE}>
              <th scope="row">{d.name}</th>
              <td>
                <input
                  type="number"
                  className="split-layers"
                  inputMode="numeric"
                  min={0}
                  max={plan.totalLayers}
                  step={1}
                  aria-label={`Layers on ${d.name}`}
                  disabled={disabled}
                  value={drafts?.[i] ?? String(d.layers)}
                  onChange={(e) => onLayers(i, e.target.value)}
                />
              </td>
              <td className={over ? 'tone-bad' : undefined}>
                {formatBytes(d.bytes)}
                {over && ' (more than it can give)'}
              </td>
              <td>
                {formatBytes(d.budgetBytes)}
                {d.capBytes !== null && ` (capped at ${formatBytes(d.capBytes)})`}
              </td>
            </tr>
          );
        })}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">Total</th>
          <td className={placed === plan.totalLayers ? undefined : 'tone-bad'}>
            {placed} of {plan.totalLayers}
          </td>
          <td>{formatBytes(expected)}</td>
          <td>{formatBytes(budget)}</td>
        </tr>
      </tfoot>
    </table>
  );
}

/** Where the split model stands: starting (live), running (chat with it, unload), failed (why). */
function SplitState({
  status,
  loading,
  onChat,
  onUnload,
  onReload,
}: {
  status: SplitStatus | null;
  loading: boolean;
  onChat: (ref: string) => void;
  onUnload: () => void;
  /** Loads the model split again on the machines left. */
  onReload: (modelId: string, machineIds: string[]) => void;
}) {
  if (status?.state === 'starting' || (loading && status?.state !== 'running'))
    return (
      <p role="status" aria-busy="true" className="split-state">
        Starting: {status?.state === 'starting' ? status.detail : 'asking the machines…'}
      </p>
    );
  if (!status) return null;
  if (status.state === 'failed') {
    const fallback = status.fallback;
    return (
      <div className="split-state">
        <p role="alert">The split model failed: {status.detail}</p>
        {fallback && (
          <div className="machine-actions">
            {fallback.kind === 'local' ? (
              <button type="button" onClick={() => onChat(fallback.modelId)}>
                Chat with {status.plan?.modelName ?? 'it'} on {fallback.name} alone
              </button>
            ) : (
              <button type="button" onClick={() => onReload(fallback.modelId, fallback.machineIds)}>
                Load it on {fallback.names.join(' + ')}
              </button>
            )}
          </div>
        )}
      </div>
    );
  }
  if (status.state === 'stopped')
    return (
      <p role="status" className="split-state muted">
        {status.detail}
      </p>
    );
  return (
    <div className="split-state">
      <p role="status" className="tone-ok">
        Running: {status.detail}
      </p>
      <div className="machine-actions">
        {status.ref && (
          <button type="button" onClick={() => onChat(status.ref!)}>
            Chat with it
          </button>
        )}
        <button type="button" className="secondary" onClick={onUnload}>
          Unload
        </button>
      </div>
    </div>
  );
}

/**
 * Hardware → Split a model across machines: a library model and the machines
 * to hold it (this one, paired Freehold machines online now), the plan (layers
 * per machine, adjustable; memory; context), then loading it with llama.cpp's
 * RPC backend. The running split is a machine in the chat's model picker.
 */
export function SplitPanel() {
  const api = useHostApi();
  const [, navigate] = useLocation();
  const [library] = useHostQuery('models.list', 'onLibraryChanged');
  const { machines } = useMachines();
  const [statusQuery, setStatus] = useHostQuery('split.status', undefined, { showsError: true });
  useHostEvent('onSplitStatus', setStatus);

  const [modelId, setModelId] = useState('');
  const [picked, setPicked] = useState<string[]>([THIS_MACHINE]);
  const [planned, setPlanned] = useState<Planned | null>(null);
  // Layers as typed, before the plan for them comes back (null: the plan's own).
  const [drafts, setDrafts] = useState<string[] | null>(null);
  // The plan request whose answer is awaited; an edit after it makes its answer stale.
  const [inFlight, setInFlight] = useState<number | null>(null);
  const [loading, setLoading] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const sequence = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    const pending = timer;
    return () => clearTimeout(pending.current);
  }, []);

  const models = library.status === 'ready' ? library.data.models : [];
  const chosen = models.some((m) => m.id === modelId) ? modelId : (models[0]?.id ?? '');
  const paired = machines.filter((m) => m.kind === 'freehold');
  const online = paired.filter((m) => m.state === 'online');
  const away = paired.filter((m) => m.state !== 'online');
  // In the order shown: this machine first, then the others as listed.
  const machineIds = [THIS_MACHINE, ...online.map((m) => m.id)].filter((id) => picked.includes(id));
  // A plan for another model or other machines than those chosen now is not shown.
  const current = planned && planned.input.modelId === chosen && sameList(planned.input.machineIds, machineIds) ? planned : null;
  const status = statusQuery.status === 'ready' ? statusQuery.data : null;
  const starting = status?.state === 'starting' || loading;
  const planning = inFlight !== null;

  const requestPlan = (input: SplitPlanInput) => {
    sequence.current += 1;
    const mine = sequence.current;
    setInFlight(mine);
    setMessage(null);
    api['split.plan'](input).then(
      (plan) => {
        if (mine !== sequence.current) return setInFlight((n) => (n === mine ? null : n));
        setPlanned({ input, plan });
        setDrafts(null);
        setInFlight(null);
      },
      (error: unknown) => {
        if (mine !== sequence.current) return setInFlight((n) => (n === mine ? null : n));
        setMessage(describeFailure(error, 'Could not plan the split'));
        setInFlight(null);
      },
    );
  };

  const editLayers = (index: number, value: string) => {
    if (!current) return;
    const next = (drafts ?? current.plan.devices.map((d) => String(d.layers))).map((v, i) => (i === index ? value : v));
    setDrafts(next);
    // What was asked before this edit no longer answers it.
    sequence.current += 1;
    setInFlight(null);
    clearTimeout(timer.current);
    const layers = next.map(parseLayers);
    if (layers.some((n) => n === null)) return;
    const input: SplitPlanInput = { ...current.input, layers: layers as number[] };
    timer.current = setTimeout(() => requestPlan(input), REPLAN_DELAY_MS);
  };

  const load = () => {
    if (!current) return;
    setLoading(true);
    setMessage(null);
    api['split.load']({ ...current.input, layers: current.plan.devices.map((d) => d.layers) }).then(
      (next) => {
        setStatus(next);
        setLoading(false);
      },
      (error: unknown) => {
        setMessage(describeFailure(error, 'Could not load the split model'));
        setLoading(false);
      },
    );
  };

  const unload = () => {
    setMessage(null);
    api['split.unload']().then(setStatus, (error: unknown) => setMessage(describeFailure(error, 'Could not unload the split model')));
  };

  const toggle = (id: string, on: boolean) =>
    setPicked((list) => (on ? [...list.filter((x) => x !== id), id] : list.filter((x) => x !== id)));
  const invalidDrafts = drafts !== null && drafts.some((d) => parseLayers(d) === null);
  const canLoad = !!current && current.plan.fits && drafts === null && !planning && !starting;
  // The failed state says why already: the call's own error repeats it.
  const shownMessage = message && !(status?.state === 'failed' && message.endsWith(status.detail)) ? message : null;

  return (
    <section aria-labelledby="split-title" className="engine split">
      <h2 id="split-title">Split a model across machines</h2>
      <p className="muted">
        A model too large for one machine can run on several: each holds some of its layers, and they work through the paired, encrypted
        links. One machine that can hold it is faster.
      </p>
      {library.status === 'ready' && models.length === 0 ? (
        <p className="muted">Add a model in the Models view to split it.</p>
      ) : (
        <form
          className="split-form"
          aria-label="Model and machines to split across"
          onSubmit={(e) => {
            e.preventDefault();
            clearTimeout(timer.current);
            if (chosen && machineIds.length > 0) requestPlan({ modelId: chosen, machineIds });
          }}
        >
          <label className="inline-field">
            <span>Model</span>
            <select value={chosen} disabled={starting} onChange={(e) => setModelId(e.target.value)}>
              {models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name}
                </option>
              ))}
            </select>
          </label>
          <fieldset className="split-machines" disabled={starting}>
            <legend>Machines</legend>
            <label className="inline-field">
              <input type="checkbox" checked={picked.includes(THIS_MACHINE)} onChange={(e) => toggle(THIS_MACHINE, e.target.checked)} />
              <span>This machine</span>
            </label>
            {online.map((m) => (
              <div key={m.id} className="split-machine">
                <label className="inline-field">
                  <input type="checkbox" checked={picked.includes(m.id)} onChange={(e) => toggle(m.id, e.target.checked)} />
                  <span>{m.name}</span>
                </label>
                <span className="muted"> {memoryText(m.hardware)}</span>
              </div>
            ))}
          </fieldset>
          {paired.length === 0 && <p className="muted">Pair another Freehold under Machines (above) to split a model across it.</p>}
          {away.length > 0 && <p className="muted">Not online now: {away.map((m) => m.name).join(', ')}.</p>}
          <div className="machine-actions">
            <button type="submit" disabled={!chosen || machineIds.length === 0 || planning || starting}>
              {planning && !current ? 'Planning…' : 'Plan'}
            </button>
            {machineIds.length === 0 && <span className="muted">Choose at least one machine.</span>}
          </div>
        </form>
      )}
      {current && (
        <div className="split-proposal" aria-busy={planning || drafts !== null}>
          <PlanTable plan={current.plan} drafts={drafts} disabled={starting} onLayers={editLayers} />
          {invalidDrafts && <p className="tone-warn">Layers are whole numbers, 0 or more.</p>}
          {planning && <p className="muted">Checking these layers…</p>}
          <dl className="facts" aria-label="The plan">
            <dt>Context</dt>
            <dd>{current.plan.contextSize} tokens</dd>
          </dl>
          <p id="split-note" className="split-note">
            {current.plan.note}
          </p>
          {!current.plan.fits && <p className="tone-bad">This plan does not fit: move layers to a machine with room, or add a machine.</p>}
          {current.plan.fitsOn && <p className="tone-warn">{current.plan.fitsOn} could run it alone, which is faster than splitting it.</p>}
          <div className="machine-actions">
            <button type="button" disabled={!canLoad} aria-describedby="split-note" onClick={load}>
              Load split
            </button>
            {status?.state === 'running' && <span className="muted">Loading replaces the split model running now.</span>}
          </div>
        </div>
      )}
      {statusQuery.status === 'error' && <p role="alert">Could not read the split model's state: {statusQuery.message}</p>}
      <SplitState
        status={status}
        loading={loading}
        onChat={(ref) => navigate(`~/chat?model=${encodeURIComponent(ref)}`)}
        onUnload={unload}
        onReload={(modelId, machineIds) => {
          setLoading(true);
          setMessage(null);
          api['split.load']({ modelId, machineIds }).then(
            (next) => {
              setStatus(next);
              setLoading(false);
            },
            (error: unknown) => {
              setMessage(describeFailure(error, 'Could not load the split model'));
              setLoading(false);
            },
          );
        }}
      />
      {shownMessage && <p role="alert">{shownMessage}</p>}
    </section>
  );
}
