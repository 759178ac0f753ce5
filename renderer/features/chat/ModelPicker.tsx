import type { ModelEntry } from '../../../shared/library';
import { parseModelRef, type MachineInfo, type RemoteModel } from '../../../shared/machines';
import { fitHint } from '../machines/machines';

const unavailable: Record<Exclude<MachineInfo['state'], 'online'>, string> = {
  offline: 'offline',
  connecting: 'connecting…',
  refused: 'refused',
};

/** "Qwen2.5 32B on tower — fits on GPU"; "… (offline)" while its machine cannot answer. */
export function remoteOptionLabel(machine: MachineInfo, model: RemoteModel): string {
  const name = `${model.name} on ${machine.name}`;
  if (machine.state !== 'online') return `${name} (${unavailable[machine.state]})`;
  return model.fit ? `${name} — ${fitHint[model.fit.verdict]}` : name;
}

/** A model id the picker does not list (deleted, or its machine removed or no longer listing it), named as well as can be. */
function missingLabel(value: string, machines: MachineInfo[], machinesReady: boolean): string {
  const remote = parseModelRef(value);
  if (!remote) return `${value} (not in the library)`;
  if (!machinesReady) return `${remote.modelId} (reading the other machines…)`;
  const machine = machines.find((m) => m.id === remote.machineId);
  return machine ? `${remote.modelId} (not on ${machine.name} now)` : `${remote.modelId} (its machine was removed)`;
}

/**
 * The conversation's model: this machine's library first, then a group per
 * other machine (the value is the model's ref, "@<machine>/<model>"), with
 * each model's fit there; a machine that cannot answer now has its models
 * listed but not choosable.
 */
export function ModelPicker({
  models,
  machines,
  machinesReady = true,
  value,
  onChange,
  emptyLabel,
}: {
  models: ModelEntry[];
  machines: MachineInfo[];
  /** False while the other machines are being read: a remote model is not yet known to be missing. */
  machinesReady?: boolean;
  value: string | null;
  onChange: (modelId: string | null) => void;
  /** The option shown for "none": a prompt to choose, or why there is nothing to choose. */
  emptyLabel: string | null;
}) {
  const withModels = machines.filter((m) => m.models.length > 0);
  const listed = !value || models.some((m) => m.id === value) || withModels.some((m) => m.models.some((r) => r.ref === value));
  const local = models.map((m) => (
    <option key={m.id} value={m.id}>
      {m.name}
    </option>
  ));
  return (
    <label className="inline-field">
      <span>Model</span>
      <select
        value={value ?? ''}
        disabled={models.length === 0 && withModels.length === 0}
        onChange={(e) => onChange(e.target.value || null)}
      >
        {emptyLabel !== null && <option value="">{emptyLabel}</option>}
        {!listed && value && (
          <option value={value} disabled>
            {missingLabel(value, machines, machinesReady)}
          </option>
        )}
        {withModels.length > 0 && models.length > 0 ? <optgroup label="This machine">{local}</optgroup> : local}
        {withModels.map((machine) => (
          <optgroup key={machine.id} label={machine.name}>
            {machine.models.map((r) => (
              <option key={r.ref} value={r.ref} disabled={machine.state !== 'online'}>
                {remoteOptionLabel(machine, r)}
              </option>
            ))}
          </optgroup>
        ))}
      </select>
    </label>
  );
}
