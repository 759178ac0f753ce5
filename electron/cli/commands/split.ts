import { formatSize } from '../../../shared/format';
import type { SplitPlan } from '../../../shared/split';
import { UsageError, type CliContext, type Command } from '../command';

function planLines(plan: SplitPlan): string[] {
  const lines = [`${plan.modelName}: ${plan.totalLayers} layers, ${formatSize(plan.sizeBytes)}, ${plan.contextSize}-token context`];
  for (const d of plan.devices) {
    lines.push(
      `  ${d.name.padEnd(20)} ${String(d.layers).padStart(4)} layers  ~${formatSize(d.bytes)} of ${formatSize(d.budgetBytes)} it can give${d.capBytes ? ` (cap ${formatSize(d.capBytes)})` : ''}`,
    );
  }
  lines.push(plan.fits ? `Fits. ${plan.note}` : plan.note);
  if (plan.fitsOn) lines.push(`(${plan.fitsOn} could run it alone; it is split only because you asked.)`);
  return lines;
}

function input(values: CliContext['values']) {
  const model = values.model;
  const machines = values.machines;
  if (typeof model !== 'string' || !model) throw new UsageError('split needs --model <id> (see models list).');
  if (typeof machines !== 'string' || !machines)
    throw new UsageError('split needs --machines a,b (names from machines list; "this" is this machine).');
  const layers = typeof values.layers === 'string' ? values.layers.split(',').map(Number) : undefined;
  if (layers && layers.some((n) => !Number.isInteger(n) || n < 0))
    throw new UsageError('--layers takes whole numbers, one per machine: --layers 10,6');
  return {
    modelId: model,
    machineIds: machines
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean),
    ...(layers ? { layers } : {}),
  };
}

export const splitCommand: Command = {
  summary: 'Split one model across this machine and paired ones (llama.cpp RPC): plan it, or load and serve it',
  usage: 'split plan|load --model <id> --machines this,tower [--layers 10,6] [--json]',
  options: { model: { type: 'string' }, machines: { type: 'string' }, layers: { type: 'string' } },
  async run({ io, json, args, values, services, program }) {
    const action = args[0];
    if (action !== 'plan' && action !== 'load') throw new UsageError('split needs an action: plan or load.');
    const request = input(values);
    const host = await services();
    await host.machines.settle(4000);
    if (action === 'plan') {
      const plan = await host.handlers['split.plan'](request);
      if (json) io.out(JSON.stringify(plan));
      else for (const line of planLines(plan)) io.out(line);
      return plan.fits ? 0 : 1;
    }
    const status = await host.handlers['split.load'](request);
    const machine = host.machines.list().find((m) => m.id === 'split');
    if (json) io.out(JSON.stringify({ ...status, url: machine?.address ?? null }));
    else {
      for (const line of planLines(status.plan!)) io.out(line);
      io.out(`Loaded. Chat with it in the app, or: ${program} is serving it at ${machine?.address}/v1 until Ctrl+C.`);
    }
    // Served until interrupted: the RPC helpers and llama-server stop with this process.
    await new Promise<void>((resolve) => {
      io.onInterrupt?.(() => resolve());
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await host.handlers['split.unload'](undefined);
    return 0;
  },
};

export const enginesCommand: Command = {
  summary: "llama.cpp's own programs (llama.cpp's server engine, split models): which are used and why; --build builds them for this GPU",
  usage: 'engines [--build [--backend cuda|vulkan|metal|cpu]] [--json]',
  options: { build: { type: 'boolean', default: false }, backend: { type: 'string' } },
  async run({ io, json, values, services }) {
    const host = await services();
    let last = -1;
    const off = host.events.subscribeAll((event, payload) => {
      if (event !== 'onEngines' || json) return;
      const building = (payload as { building: { step: string; fraction: number } | null }).building;
      if (!building) return;
      const pct = Math.floor(building.fraction * 100);
      if (building.step !== 'build' || pct >= last + 10) {
        last = building.step === 'build' ? pct : last;
        io.err(`${building.step}${building.step === 'build' ? ` ${pct}%` : ''}`);
      }
    });
    const backend = values.backend;
    if (backend !== undefined && !['cuda', 'vulkan', 'metal', 'cpu'].includes(String(backend)))
      throw new UsageError('--backend is cuda, vulkan, metal or cpu.');
    const info = values.build
      ? await host.handlers['engines.build'](backend ? { backend: backend as 'cuda' | 'vulkan' | 'metal' | 'cpu' } : undefined)
      : await host.handlers['engines.status'](undefined);
    off();
    if (json) io.out(JSON.stringify(info));
    else {
      io.out(info.found ? `In use (${info.found.backend}): ${info.found.reason}` : `None in use (llama.cpp ${info.version}).`);
      for (const a of info.attempts) io.out(`  ${a.source.padEnd(9)} ${a.outcome.padEnd(12)} ${a.reason}`);
      if (!info.found)
        io.out(info.canBuild.ok ? `  ${info.canBuild.reason} Run with --build.` : `  Cannot build here: ${info.canBuild.reason}`);
    }
    return 0;
  },
};
