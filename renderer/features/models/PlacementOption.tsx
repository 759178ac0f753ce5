import { useEffect, useRef, useState } from 'react';
import { formatSize } from '../../../shared/format';
import { engineLabels } from '../../../shared/inference';
import type { ModelEntry } from '../../../shared/library';
import {
  describePlacement,
  findDevice,
  MIN_DEVICE_CAP,
  type ComputeDevice,
  type DevicePlan,
  type Placement,
  type PlanView,
  type SplitMode,
} from '../../../shared/placement';
import type { Settings } from '../../../shared/settings';
import { useHostApi, useHostQuery, type QueryState } from '../../app/host-context';
import { describeFailure } from '../../app/problems';

type PlacementMap = NonNullable<Settings['inference']['placements']>;
type Mode = 'auto' | 'cpu' | 'gpus';

const MiB = 1024 ** 2;
/** The largest cap the settings take (2⁵⁰ bytes), in MiB. */
const MAX_CAP_MIB = 2 ** 30;

/** The form as the user left it: caps as typed (MiB), by device id. */
interface Draft {
  mode: Mode;
  /** The GPUs chosen, in the order checked (the first is the main GPU). */
  chosen: string[];
  split: SplitMode;
  caps: Record<string, string>;
}

function draftOf(placement: Placement | undefined): Draft {
  const devices = placement?.devices ?? 'auto';
  return {
    mode: devices === 'auto' ? 'auto' : devices === 'cpu' ? 'cpu' : 'gpus',
    chosen: Array.isArray(devices) ? [...devices] : [],
    split: placement?.split ?? 'layers',
    caps: Object.fromEntries(Object.entries(placement?.maxMemory ?? {}).map(([id, bytes]) => [id, String(+(bytes / MiB).toFixed(2))])),
  };
}

/** The cap typed for a device (its id in any case), as typed. */
function capOf(draft: Draft, id: string): string {
  return Object.entries(draft.caps).find(([key]) => key.toLowerCase() === id.toLowerCase())?.[1] ?? '';
}

/** A GPU the form lists: one llama.cpp sees, or one a saved placement names that it does not see now. */
interface Listed {
  id: string;
  device: ComputeDevice | undefined;
}

/** The GPUs the draft puts layers on. */
function inUseOf(draft: Draft, listed: Listed[]): Listed[] {
  if (draft.mode === 'cpu') return [];
  if (draft.mode === 'auto') return listed.filter((l) => l.device);
  return draft.chosen.map((id) => findDevice(listed, id) ?? { id, device: undefined });
}

/** Splitting by rows is CUDA's: every GPU in use must be a CUDA one. */
function rowsAllowed(inUse: Listed[]): boolean {
  return inUse.length > 1 && inUse.every((l) => l.device?.backend === 'cuda');
}

/** The placement the draft stands for, or why it is not one yet. */
function placementOf(draft: Draft, listed: Listed[]): { placement: Placement } | { problem: string } {
  if (draft.mode === 'cpu') return { placement: { devices: 'cpu' } };
  const inUse = inUseOf(draft, listed);
  if (draft.mode === 'gpus' && inUse.length === 0) return { problem: 'Choose at least one GPU, or CPU only.' };
  const maxMemory: Record<string, number> = {};
  for (const { id } of inUse) {
    const text = capOf(draft, id).trim();
    if (!text) continue;
    const mib = Number(text);
    if (!Number.isFinite(mib) || mib < MIN_DEVICE_CAP / MiB || mib > MAX_CAP_MIB)
      return { problem: `Max memory on ${id} is a number of MiB from 1 (or empty: no cap).` };
    maxMemory[id] = Math.round(mib * MiB);
  }
  return {
    placement: {
      devices: draft.mode === 'auto' ? 'auto' : inUse.map((l) => l.id),
      ...(draft.split === 'rows' && rowsAllowed(inUse) ? { split: 'rows' as const } : {}),
      ...(Object.keys(maxMemory).length ? { maxMemory } : {}),
    },
  };
}

const keyOf = (placement: Placement | undefined) => JSON.stringify(placement ?? { devices: 'auto' });
const ordinal = (n: number) => (n === 1 ? '1st' : n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`);

/** What a device may use: its budget, and whether a cap or its free memory sets it. */
function budgetText(d: DevicePlan): string {
  if (d.id === 'CPU') return `${formatSize(d.budgetBytes)} free`;
  return `${formatSize(d.budgetBytes)} ${d.capBytes !== null && d.capBytes < d.freeBytes ? '(cap)' : 'free'}`;
}

/** The plan before saving: a row per device (the CPU's last), what it says, the engine, and the shortfall if it does not fit. */
function PlanPreview({ view, modelName }: { view: PlanView; modelName: string }) {
  const { plan } = view;
  return (
    <div className="placement-plan">
      <table className="attempts placement-table">
        <caption>
          Plan for {modelName}: {plan.gpuLayers} of {plan.totalLayers} layers on GPUs, {plan.contextSize.toLocaleString()}-token context
        </caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Layers</th>
            <th scope="col">Weights</th>
            <th scope="col">KV cache</th>
            <th scope="col">Compute</th>
            <th scope="col">Planned</th>
            <th scope="col">May use</th>
          </tr>
        </thead>
        <tbody>
          {[...plan.devices, plan.cpu].map((d) => {
            const over = d.plannedBytes > d.budgetBytes;
            return (
              <tr key={d.id}>
                <th scope="row">
                  {d.id} <span className="muted">{d.name}</span>
                </th>
                <td>{d.layers}</td>
                <td>{formatSize(d.weightBytes)}</td>
                <td>{formatSize(d.kvBytes)}</td>
                <td>{formatSize(d.computeBytes)}</td>
                <td className={over ? 'tone-bad' : undefined}>
                  {formatSize(d.plannedBytes)}
                  {over && ' (too much)'}
                </td>
                <td>{budgetText(d)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {!plan.fits && plan.short && (
        <p role="alert" className="notice notice-error">
          It does not fit: {plan.short.message}
        </p>
      )}
      <p>{plan.summary}</p>
      {plan.notes.length > 0 && (
        <ul className="placement-notes">
          {plan.notes.map((note) => (
            <li key={note}>{note}</li>
          ))}
        </ul>
      )}
      <p>
        Engine: <strong>{engineLabels[view.engine]}</strong> ({view.engineReason})
        {view.engine === 'worker' && '. node-llama-cpp places the layers itself: this is the plan llama.cpp’s server would run.'}
      </p>
    </div>
  );
}

interface Props {
  model: ModelEntry;
  id: string;
  placements: PlacementMap;
  onSaved: (settings: Settings) => void;
}

/**
 * Models → Options → Placement: which devices hold the model's layers
 * (every GPU, the CPU only, or the GPUs chosen, in order), how several split
 * it, and the most memory on each; the plan for it before saving. Saving
 * sends the whole map; Automatic without caps is no entry at all.
 */
export function PlacementOption({ model, id, placements, onSaved }: Props) {
  const api = useHostApi();
  // The GPUs are llama.cpp's server's to list: asked only once it is here (asking for them would fetch or build it first).
  const [engines] = useHostQuery('engines.status', 'onEngines', { showsError: true });
  const serverHere = engines.status === 'ready' && engines.data.found !== null;
  const [devicesQuery, setDevicesQuery] = useState<QueryState<ComputeDevice[]>>({ status: 'loading' });
  useEffect(() => {
    if (!serverHere) return;
    let cancelled = false;
    api['placement.devices']().then(
      (data) => !cancelled && setDevicesQuery({ status: 'ready', data }),
      (error: unknown) => !cancelled && setDevicesQuery({ status: 'error', message: describeFailure(error) }),
    );
    return () => {
      cancelled = true;
    };
  }, [api, serverHere]);
  const current = placements[model.id];
  const [draft, setDraft] = useState<Draft>(() => draftOf(current));
  const [planned, setPlanned] = useState<{ key: string; view: PlanView } | { key: string; error: string } | null>(null);
  const [planning, setPlanning] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const sequence = useRef(0);

  const devices = devicesQuery.status === 'ready' ? devicesQuery.data : [];
  // Every GPU llama.cpp sees, then any the saved placement names that it does not see now (to be unchecked).
  const listed: Listed[] = [
    ...devices.map((d) => ({ id: d.id, device: d })),
    ...draft.chosen.filter((c) => !findDevice(devices, c)).map((c) => ({ id: c, device: undefined })),
  ];
  const noServer = engines.status !== 'loading' && !serverHere;
  const asking = engines.status === 'loading' || (serverHere && devicesQuery.status === 'loading');
  const noGpus = serverHere && devicesQuery.status === 'ready' && devices.length === 0;
  const offerChosen = devices.length > 0 || draftOf(current).mode === 'gpus';
  const inUse = inUseOf(draft, listed);
  const rows = rowsAllowed(inUse);
  const result = placementOf(draft, listed);
  const placement = 'placement' in result ? result.placement : null;
  const key = placement ? keyOf(placement) : null;
  const changed = key !== null && key !== keyOf(current);
  const shown = planned && planned.key === key ? planned : null;
  const name = model.name;
  const hint = `${id}-placement-hint`;

  const edit = (patch: Partial<Draft>) => {
    setDraft((d) => ({ ...d, ...patch }));
    setOutcome(null);
  };
  const toggle = (deviceId: string, on: boolean) =>
    edit({ chosen: on ? [...draft.chosen.filter((c) => c !== deviceId), deviceId] : draft.chosen.filter((c) => c !== deviceId) });

  const showPlan = () => {
    if (!placement || !key) return;
    sequence.current += 1;
    const mine = sequence.current;
    setPlanning(true);
    // An answer to an earlier request, come late, is not shown.
    const answer = (next: { key: string; view: PlanView } | { key: string; error: string }) => {
      if (mine !== sequence.current) return;
      setPlanned(next);
      setPlanning(false);
    };
    api['placement.plan']({ id: model.id, placement }).then(
      (view) => answer({ key, view }),
      (error: unknown) => answer({ key, error: describeFailure(error, 'Could not plan it') }),
    );
  };

  return (
    <form
      className="placement-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (!placement) return;
        const next: PlacementMap = { ...placements };
        if (key === keyOf(undefined)) delete next[model.id];
        else next[model.id] = placement;
        setBusy(true);
        setOutcome(null);
        api['settings.update']({ inference: { placements: next } })
          .then(
            (saved) => {
              onSaved(saved);
              setOutcome({
                ok: true,
                text: `Saved: ${name} is placed ${describePlacement(next[model.id], formatSize)}. It applies from the model’s next load (a model loaded on llama.cpp’s server now is loaded again at its next reply).`,
              });
            },
            (error: Error) => setOutcome({ ok: false, text: error.message }),
          )
          .finally(() => setBusy(false));
      }}
    >
      <fieldset className="placement-devices">
        <legend>Placement: devices</legend>
        <div className="placement-modes">
          <label className="inline-field">
            <input
              type="radio"
              name={`${id}-placement-mode`}
              aria-label={`Automatic (every GPU) for ${name}`}
              checked={draft.mode === 'auto'}
              onChange={() => edit({ mode: 'auto' })}
            />
            <span>Automatic (every GPU)</span>
          </label>
          <label className="inline-field">
            <input
              type="radio"
              name={`${id}-placement-mode`}
              aria-label={`CPU only for ${name}`}
              checked={draft.mode === 'cpu'}
              onChange={() => edit({ mode: 'cpu' })}
            />
            <span>CPU only</span>
          </label>
          {offerChosen && (
            <label className="inline-field">
              <input
                type="radio"
                name={`${id}-placement-mode`}
                aria-label={`Chosen GPUs for ${name}`}
                checked={draft.mode === 'gpus'}
                onChange={() => edit({ mode: 'gpus' })}
              />
              <span>Chosen GPUs</span>
            </label>
          )}
        </div>
        {asking && (
          <p className="muted" aria-busy="true">
            Asking llama.cpp for its GPUs…
          </p>
        )}
        {noServer && (
          <p className="muted">
            {engines.status === 'error' ? `Could not ask for llama.cpp’s server: ${engines.message}. ` : ''}
            {engines.status === 'ready' && engines.data.building
              ? 'llama.cpp’s server is being built: its GPUs are listed here once it is ready.'
              : 'llama.cpp’s server is not here yet (Hardware → Engines gets it): its GPUs are listed here once it is, and plans shown.'}
          </p>
        )}
        {serverHere && devicesQuery.status === 'error' && <p className="tone-warn">Could not list the GPUs: {devicesQuery.message}</p>}
        {noGpus && <p className="muted">llama.cpp sees no GPU here: the model runs on the CPU.</p>}
        {listed.length > 0 && draft.mode !== 'cpu' && (
          <ul className="placement-gpus" aria-label={`GPUs for ${name}`}>
            {listed.map(({ id: deviceId, device }) => {
              const order = inUse.findIndex((l) => l.id === deviceId);
              const used = order >= 0;
              const detail = `${id}-placement-${deviceId}`;
              return (
                <li key={deviceId} className="placement-gpu">
                  <label className="inline-field">
                    <input
                      type="checkbox"
                      aria-label={`Use ${deviceId} for ${name}`}
                      aria-describedby={detail}
                      checked={used}
                      disabled={draft.mode === 'auto'}
                      onChange={(e) => toggle(deviceId, e.target.checked)}
                    />
                    <strong>{deviceId}</strong>
                  </label>
                  <span id={detail} className="muted">
                    {device ? `${device.name} · ${formatSize(device.freeBytes)} free of ${formatSize(device.totalBytes)}` : 'not seen now'}
                  </span>
                  <label className="inline-field">
                    <span>Max memory</span>
                    <input
                      type="number"
                      className="placement-cap"
                      inputMode="numeric"
                      min={1}
                      step={1}
                      placeholder="no cap"
                      aria-label={`Max memory on ${deviceId} for ${name} (MiB)`}
                      disabled={!used}
                      value={capOf(draft, deviceId)}
                      onChange={(e) => {
                        const others = Object.entries(draft.caps).filter(([key]) => key.toLowerCase() !== deviceId.toLowerCase());
                        edit({ caps: { ...Object.fromEntries(others), [deviceId]: e.target.value } });
                      }}
                    />
                    <span>MiB</span>
                  </label>
                  {used && inUse.length > 1 && <span className="badge">{order === 0 ? 'main GPU' : `${ordinal(order + 1)} GPU`}</span>}
                </li>
              );
            })}
          </ul>
        )}
      </fieldset>
      {listed.length > 0 && draft.mode !== 'cpu' && (
        <fieldset className="placement-split" aria-describedby={`${id}-split-hint`}>
          <legend>Split</legend>
          <label className="inline-field">
            <input
              type="radio"
              name={`${id}-placement-split`}
              aria-label={`Split ${name} by layers`}
              checked={!rows || draft.split === 'layers'}
              disabled={inUse.length < 2}
              onChange={() => edit({ split: 'layers' })}
            />
            <span>By layers</span>
          </label>
          <label className="inline-field">
            <input
              type="radio"
              name={`${id}-placement-split`}
              aria-label={`Split ${name} by rows`}
              checked={rows && draft.split === 'rows'}
              disabled={!rows}
              onChange={() => edit({ split: 'rows' })}
            />
            <span>By rows</span>
          </label>
          <span id={`${id}-split-hint`} className="muted">
            {inUse.length < 2
              ? 'A split needs two GPUs or more.'
              : rows
                ? 'By layers: each GPU holds whole layers. By rows: every matrix is shared out.'
                : 'By rows needs every GPU in use to be a CUDA one; these are split by layers.'}
          </span>
        </fieldset>
      )}
      <div className="machine-actions">
        <button
          type="button"
          className="secondary"
          aria-label={`Show plan for ${name}`}
          disabled={!placement || planning || !serverHere}
          onClick={showPlan}
        >
          {planning ? 'Planning…' : 'Show plan'}
        </button>
        <button type="submit" disabled={busy || !placement || !changed} aria-label={`Save the placement for ${name}`}>
          Save
        </button>
      </div>
      <p id={hint} className="muted field-hint">
        Which GPUs hold the layers, in order (the first is the main GPU), and the most memory each may use. Chosen GPUs, caps per GPU and a
        split by rows run on llama.cpp’s server.
      </p>
      {'problem' in result && <p className="field-error tone-warn">{result.problem}</p>}
      {planned && !shown && <p className="muted">The choice changed since the last plan: show the plan again.</p>}
      {shown && 'error' in shown && (
        <p role="alert" className="field-error tone-bad">
          {shown.error}
        </p>
      )}
      {shown && 'view' in shown && <PlanPreview view={shown.view} modelName={name} />}
      {outcome && (
        <p role={outcome.ok ? 'status' : 'alert'} className={outcome.ok ? 'field-hint' : 'field-error tone-bad'}>
          {outcome.text}
        </p>
      )}
    </form>
  );
}
