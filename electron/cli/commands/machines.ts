import { promises as fs } from 'node:fs';
import path from 'node:path';
import { formatSize } from '../../../shared/format';
import type { ModelEntry } from '../../../shared/library';
import type { HostServices } from '../../services/host-services';
import { backendLabel } from '../../../shared/inference';
import type { MachineInfo } from '../../../shared/machines';
import { UsageError, type Command } from '../command';

function stateText(m: MachineInfo): string {
  if (m.state === 'online') return m.busy ? 'online, busy' : 'online';
  if (m.state === 'refused') return `refused: ${m.error ?? ''}`;
  if (m.state === 'connecting') return 'connecting';
  return `offline since ${new Date(m.since).toLocaleString()}${m.error ? `: ${m.error}` : ''}`;
}

function describe(m: MachineInfo): string[] {
  const lines = [`${m.name}  ${m.kind === 'freehold' ? 'Freehold' : 'OpenAI-compatible server'}  ${m.address}  ${stateText(m)}`];
  const hw = m.hardware;
  if (hw) {
    const memory = [
      hw.ramFreeBytes !== null && hw.ramTotalBytes !== null
        ? `RAM ${formatSize(hw.ramFreeBytes)} free of ${formatSize(hw.ramTotalBytes)}`
        : null,
      hw.vramTotalBytes ? `VRAM ${formatSize(hw.vramFreeBytes ?? 0)} free of ${formatSize(hw.vramTotalBytes)}` : null,
    ].filter(Boolean);
    lines.push(
      `    ${hw.backend ? backendLabel(hw.backend) : '?'}${hw.gpus.length ? ` (${hw.gpus.join(', ')})` : ''}${memory.length ? `, ${memory.join(', ')}` : ''}`,
    );
  }
  for (const model of m.models) {
    lines.push(
      `    ${model.ref}  ${model.name}${model.sizeBytes ? `  ${formatSize(model.sizeBytes)}` : ''}${model.fit ? `  ${model.fit.verdict}` : ''}`,
    );
  }
  return lines;
}

/** Sends a file to a machine in pieces (its uploads.*), 4 MiB at a time; progress about every 5%. */
async function sendFile(
  host: HostServices,
  machine: string,
  file: string,
  progress: (done: number, total: number) => void,
): Promise<ModelEntry> {
  const api = host.machines.remote(machine);
  const handle = await fs.open(file, 'r');
  let uploadId: string | null = null;
  try {
    const { size } = await handle.stat();
    ({ uploadId } = await api['uploads.begin']({ name: path.basename(file), sizeBytes: size }));
    const buffer = Buffer.alloc(4 * 1024 * 1024);
    let offset = 0;
    let shown = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) throw new Error('The file got shorter while it was being sent.');
      await api['uploads.chunk']({ uploadId, offset, data: buffer.subarray(0, bytesRead).toString('base64') });
      offset += bytesRead;
      if (offset - shown >= size / 20 || offset === size) {
        shown = offset;
        progress(offset, size);
      }
    }
    const model = await api['uploads.finish']({ uploadId });
    uploadId = null;
    return model;
  } finally {
    await handle.close();
    if (uploadId) await api['uploads.cancel']({ uploadId }).catch(() => undefined);
  }
}

export const machinesCommand: Command = {
  summary: 'Other machines: pair with a code, add an OpenAI-compatible server, list, import a model onto one, remove',
  usage:
    'machines list [--json] | add <pairing code> | add --url URL [--key KEY] [--name NAME] | import <name> <file.gguf...> | remove <name>',
  options: { url: { type: 'string' }, key: { type: 'string' }, name: { type: 'string' } },
  async run({ io, json, args, values, services, program }) {
    const [action, ...rest] = args;
    if (action === 'list') {
      const host = await services();
      // Each machine is asked how it is now (a few seconds at most), so the list says what is true.
      await host.machines.settle(4000);
      const list = await host.handlers['machines.list'](undefined);
      if (json) io.out(JSON.stringify(list));
      else if (list.length === 0)
        io.out(
          `No other machines yet. On a machine to share: ${program === 'freehold' ? 'freehold serve' : 'npm run serve --'} --share, then: ${program} machines add <code>`,
        );
      else for (const m of list) for (const line of describe(m)) io.out(line);
      return 0;
    }
    if (action === 'add') {
      const url = typeof values.url === 'string' ? values.url : undefined;
      const code = rest.join('');
      if (!url && !code) throw new UsageError('machines add needs a pairing code (shown under "Share this machine") or --url URL.');
      if (url && code) throw new UsageError('give either a pairing code or --url, not both.');
      const host = await services();
      const input = url
        ? {
            url,
            ...(typeof values.key === 'string' ? { apiKey: values.key } : {}),
            ...(typeof values.name === 'string' ? { name: values.name } : {}),
          }
        : { code };
      const machine = await host.handlers['machines.add'](input);
      if (json) io.out(JSON.stringify(machine));
      else io.out(`Added ${machine.name} (${machine.address}). ${program} machines list shows its hardware and models.`);
      return 0;
    }
    if (action === 'import') {
      const [name, ...files] = rest;
      if (!name || files.length === 0) throw new UsageError('machines import needs a machine name and one or more .gguf files.');
      const host = await services();
      await host.machines.settle(4000);
      let failed = 0;
      for (const file of files) {
        try {
          const model = await sendFile(host, name, file, (done, total) =>
            io.err(`${path.basename(file)}: ${formatSize(done)} of ${formatSize(total)}`),
          );
          if (json) io.out(JSON.stringify(model));
          else io.out(`Imported ${path.basename(file)} onto ${name} as ${model.name} (${model.id}).`);
        } catch (error) {
          failed += 1;
          io.err(`${path.basename(file)}: ${(error as Error).message}`);
        }
      }
      return failed ? 1 : 0;
    }
    if (action === 'remove') {
      const name = rest.join(' ').trim();
      if (!name) throw new UsageError("machines remove needs the machine's name (see machines list).");
      const host = await services();
      const result = await host.handlers['machines.remove']({ id: name });
      if (json) io.out(JSON.stringify(result));
      else io.out(result.revoked ? `Removed ${name}; its pairing key was revoked there too.` : `Removed ${name}.`);
      return 0;
    }
    throw new UsageError(
      action === undefined ? 'machines needs an action: list, add, import or remove.' : `unknown machines action "${action}".`,
    );
  },
};
