import type { MachinesService } from '../../machines/machines-service';
import type { SharingService } from '../../machines/sharing';
import type { HandlerSlice } from './handler-slice';

/** Other machines (paired Freeholds, OpenAI-compatible servers) and sharing this one. */
export function machineHandlers({ machines, sharing }: { machines: MachinesService; sharing: SharingService }): HandlerSlice<'machines'> {
  return {
    'machines.list': () => machines.list(),
    'machines.add': (input) => machines.add(input),
    'machines.update': ({ id, ...patch }) => machines.update(id, patch),
    'machines.remove': ({ id }) => machines.remove(id),
    'machines.reconnect': ({ id }) => machines.reconnect(id),
    'machines.download': ({ machineId, ...input }) => machines.download(machineId, input),
    'machines.downloadControl': ({ machineId, id, action }) => machines.downloadControl(machineId, id, action),
    'machines.uploadBegin': ({ machineId, ...input }) => machines.remote(machineId)['uploads.begin'](input),
    'machines.uploadChunk': ({ machineId, ...input }) => machines.remote(machineId)['uploads.chunk'](input),
    'machines.uploadFinish': ({ machineId, ...input }) => machines.remote(machineId)['uploads.finish'](input),
    'machines.uploadCancel': ({ machineId, ...input }) => machines.remote(machineId)['uploads.cancel'](input),
    'machines.sharing': () => sharing.status(),
    'machines.share': ({ enabled }) => sharing.setEnabled(enabled),
    'machines.newCode': () => sharing.newCode(),
    'machines.revoke': ({ id }) => sharing.revoke(id),
  };
}

/** What only a UI on this machine may do: pair, share, show the pairing code, revoke. */
export const localOnlyMethods = new Set([
  'machines.add',
  'machines.share',
  'machines.newCode',
  'machines.revoke',
  'machines.sharing',
] as const);
