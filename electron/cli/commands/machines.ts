import { formatSize } from '../../../shared/format';
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
      `    ${(hw.backend ?? '?').toUpperCase()}${hw.gpus.length ? ` (${hw.gpus.join(', ')})` : ''}${memory.length ? `, ${memory.join(', ')}` : ''}`,
    );
  }
  for (const model of m.models) {
    lines.push(
      `    ${model.ref}  ${model.name}${model.sizeBytes ? `  ${formatSize(model.sizeBytes)}` : ''}${model.fit ? `  ${model.fit.verdict}` : ''}`,
    );
  }
  return lines;
}

export const machinesCommand: Command = {
  summary: 'Other machines: pair with a code, add an OpenAI-compatible server, list, remove',
  usage: 'machines list [--json] | add <pairing code> | add --url URL [--key KEY] [--name NAME] | remove <name>',
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
    if (action === 'remove') {
      const name = rest.join(' ').trim();
      if (!name) throw new UsageError("machines remove needs the machine's name (see machines list).");
      const host = await services();
      const result = await host.handlers['machines.remove']({ id: name });
      if (json) io.out(JSON.stringify(result));
      else io.out(result.revoked ? `Removed ${name}; its pairing key was revoked there too.` : `Removed ${name}.`);
      return 0;
    }
    throw new UsageError(action === undefined ? 'machines needs an action: list, add or remove.' : `unknown machines action "${action}".`);
  },
};
