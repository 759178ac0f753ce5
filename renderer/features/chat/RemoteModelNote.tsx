import { parseModelRef, type MachineInfo } from '../../../shared/machines';
import { stateText, useNow } from '../machines/machines';

/**
 * Where a conversation's replies come from when its model is on another
 * machine, and what to expect when that machine cannot answer now.
 */
export function RemoteModelNote({ modelId, machines, ready }: { modelId: string | null; machines: MachineInfo[]; ready: boolean }) {
  const ref = modelId ? parseModelRef(modelId) : null;
  const machine = ref ? machines.find((m) => m.id === ref.machineId) : undefined;
  const now = useNow(machine?.state === 'offline' && machine.retryAt !== null);
  if (!ref || !ready) return null;
  if (!machine)
    return (
      <p className="remote-note tone-warn">
        This conversation's model was on a machine that is no longer added here: choose another model.
      </p>
    );
  if (machine.state !== 'online')
    return (
      <p className="remote-note tone-warn">
        {machine.name}: {stateText(machine, now)}. Replies fail until it answers again.
      </p>
    );
  if (!machine.models.some((m) => m.ref === modelId))
    return <p className="remote-note tone-warn">{machine.name} does not list this conversation's model now: choose another model.</p>;
  return (
    <p className="remote-note muted">
      Replies come from {machine.name}
      {machine.busy ? ', which is busy now: a reply may wait its turn there' : ''}.
    </p>
  );
}
