/**
 * `freehold <command>` (or `npm run cli -- <command>` in a checkout): the same
 * services as the app, from a terminal. Human-readable output by default,
 * `--json` for scripts. Exit codes: 0 ok, 1 failure, 2 usage error. Each
 * feature adds its commands to the table below.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { GenerateResult, HardwareReport, Sampling } from '../../shared/inference';
import { settingsPatchSchema, type SettingsPatch } from '../../shared/settings';
import { createHostServices, type HostServices } from '../services/host-services';
import { ensureDataDir, resolveDataDir } from '../services/data-dir';
import { appVersion } from '../services/version';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Streamed output without a newline (chat replies). */
  write?: (text: string) => void;
  /** Called with an abort function while a long command runs (Ctrl+C stops a reply). */
  onInterrupt?: (abort: (() => void) | undefined) => void;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;

interface CliContext {
  io: CliIo;
  /** How the user runs the CLI, for the commands it suggests: `freehold` or `npm run cli --`. */
  program: string;
  json: boolean;
  args: string[];
  values: Values;
  services: () => Promise<HostServices>;
}

interface Command {
  summary: string;
  usage: string;
  options?: Options;
  run(ctx: CliContext): Promise<number>;
}

class UsageError extends Error {}

function numberOption(values: Values, name: string, integer: boolean): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'}, not "${String(raw)}".`);
  }
  return value;
}

function gb(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
}

function printHardware(io: CliIo, report: HardwareReport): void {
  const label = report.backend.toUpperCase();
  io.out(`Backend:   ${label}${report.requested === 'auto' ? ' (automatic)' : ` (selected: ${report.requested})`}`);
  io.out(`Why:       ${report.reason}`);
  for (const attempt of report.attempts) io.out(`           ${attempt.backend.padEnd(7)} ${attempt.outcome}: ${attempt.reason}`);
  io.out(`GPUs:      ${report.gpus.length ? report.gpus.map((g) => g.name).join(', ') : 'none'}`);
  if (report.vram.totalBytes > 0) {
    io.out(
      `VRAM:      ${gb(report.vram.freeBytes)} free of ${gb(report.vram.totalBytes)} (${gb(report.vram.usedBytes)} used)` +
        (report.vram.unifiedBytes > 0 ? `, ${gb(report.vram.unifiedBytes)} shared with the CPU` : '') +
        (report.vram.capBytes !== null ? `, capped at ${gb(report.vram.capBytes)}` : ''),
    );
  }
  io.out(`RAM:       ${gb(report.ram.freeBytes)} free of ${gb(report.ram.totalBytes)}`);
  io.out(`CPU:       ${report.cpu.model}, ${report.cpu.logicalCores} logical cores`);
  io.out(`Features:  ${report.cpu.features.join(' ') || 'none reported'}`);
  io.out(`Threads:   ${report.threads.used} (${report.threads.reason})`);
  io.out(`Versions:  node-llama-cpp ${report.versions.nodeLlamaCpp}, llama.cpp ${report.versions.llamaCpp} (${report.versions.binary})`);
  io.out(`OS:        ${report.os}`);
}

function statsLine(result: GenerateResult): string {
  const s = result.stats;
  return `[${s.generatedTokens} tokens, ${s.tokensPerSecond.toFixed(1)} tokens/s, first token after ${s.timeToFirstTokenMs.toFixed(0)} ms, prompt ${s.promptTokens} tokens, stopped: ${s.stopReason}]`;
}

function choice<T>(key: string, value: string, options: Record<string, T>): T {
  if (!Object.hasOwn(options, value)) throw new UsageError(`${key} must be ${Object.keys(options).join(' or ')}, not "${value}".`);
  return options[value]!;
}

/** `settings set` keys, in the words of the README, mapped onto the settings file. */
const settingKeys: Record<string, (value: string) => SettingsPatch> = {
  theme: (value) => ({ appearance: { theme: value as never } }),
  backend: (value) => ({ inference: { backend: value as never } }),
  threads: (value) => ({ inference: { threads: value === 'auto' ? 0 : Number(value) } }),
  'max-vram-per-gpu': (value) => ({ inference: { maxVramPerGpuMiB: value === 'none' ? null : Number(value) } }),
  'hub-endpoint': (value) => ({ hub: { endpoint: value } }),
  api: (value) => ({ api: { enabled: choice('api', value, { on: true, off: false }) } }),
  'api-host': (value) => ({ api: { host: value } }),
  'api-port': (value) => ({ api: { port: Number(value) } }),
  'api-key-required': (value) => ({ api: { requireKey: choice('api-key-required', value, { yes: true, no: false }) } }),
  'api-cors': (value) => ({ api: { corsOrigins: value === 'none' ? [] : value.split(',').map((o) => o.trim()) } }),
  'api-idle-minutes': (value) => ({ api: { idleUnloadMinutes: Number(value) } }),
};

function formatSize(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GB` : `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

function formatParams(count: number): string {
  return count >= 1e9 ? `${(count / 1e9).toFixed(1)}B` : count >= 1e6 ? `${(count / 1e6).toFixed(0)}M` : `${(count / 1e3).toFixed(0)}K`;
}

/** A one-line progress bar for a terminal; plain lines when stderr is not one. */
function progressBar(done: number, total: number, speed: number, eta: number | null): string {
  const width = 30;
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  const etaText = eta === null ? '' : ` ETA ${Math.ceil(eta)} s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatSize(done)} / ${formatSize(total)} ${formatSize(speed)}/s${etaText}`;
}

const modelsCommand: Command = {
  summary: 'The model library: list, search the hub, download, import, remove',
  usage: 'models list|search <query>|download <repo> [--file F | --quant Q]|import <path...> [--copy]|remove <id> [--json]',
  options: { file: { type: 'string' }, quant: { type: 'string' }, copy: { type: 'boolean', default: false }, sort: { type: 'string' } },
  async run({ io, json, args, values, services, program }) {
    const [action, ...rest] = args;
    if (action === undefined) throw new UsageError('models needs an action: list, search, download, import or remove.');
    const host = await services();
    switch (action) {
      case 'list': {
        const snapshot = await host.handlers['models.list'](undefined);
        if (json) {
          io.out(JSON.stringify(snapshot));
          return 0;
        }
        if (snapshot.models.length === 0) io.out(`No models yet. Try: ${program} models search qwen`);
        for (const m of snapshot.models) {
          io.out(
            `${m.id}  ${m.name}  ${m.architecture ?? '?'} ${formatParams(m.parameterCount)} ${m.quantization ?? ''}  ${formatSize(m.sizeBytes)}  ${m.origin}${m.duplicateOf ? ` (duplicate of ${m.duplicateOf})` : ''}\n    ${m.files[0]}`,
          );
        }
        io.out(
          `${snapshot.models.length} models, ${formatSize(snapshot.totalBytes)} (${formatSize(snapshot.ownedBytes)} stored by Freehold)`,
        );
        return 0;
      }
      case 'search': {
        const sort = (values.sort as 'downloads' | 'likes' | 'recent' | undefined) ?? 'downloads';
        if (!['downloads', 'likes', 'recent'].includes(sort)) throw new UsageError('--sort must be downloads, likes or recent.');
        const results = await host.handlers['hub.search']({ query: rest.join(' '), sort, limit: 30 });
        if (json) io.out(JSON.stringify(results));
        else {
          for (const r of results)
            io.out(
              `${r.repo.padEnd(50)} ${String(r.downloads).padStart(9)} downloads ${String(r.likes).padStart(6)} likes${r.gated ? '  (gated)' : ''}`,
            );
          if (results.length === 0) io.out('No GGUF models found.');
        }
        return 0;
      }
      case 'download': {
        const repo = rest[0];
        if (!repo) throw new UsageError('models download needs a repo, e.g. Qwen/Qwen2.5-0.5B-Instruct-GGUF');
        const job = await host.handlers['downloads.start']({
          repo,
          file: typeof values.file === 'string' ? values.file : undefined,
          quantization: typeof values.quant === 'string' ? values.quant : undefined,
        });
        if (!json) io.err(`Downloading ${job.repo} ${job.quantization ?? ''} (${formatSize(job.totalBytes)}) …`);
        const final = await new Promise<import('../../shared/hub').DownloadJob>((resolve) => {
          const finish = (j: import('../../shared/hub').DownloadJob) => ['done', 'failed', 'canceled'].includes(j.state) && resolve(j);
          host.events.subscribeAll((event, payload) => {
            if (event !== 'onDownloadProgress') return;
            const j = payload as import('../../shared/hub').DownloadJob;
            if (j.id !== job.id) return;
            if (!json && j.state === 'downloading') io.err(progressBar(j.bytesDone, j.totalBytes, j.bytesPerSecond, j.etaSeconds));
            finish(j);
          });
          const current = host.downloads.list().find((j) => j.id === job.id);
          if (current) finish(current);
          io.onInterrupt?.(() => resolve(host.downloads.pause(job.id)));
        });
        io.onInterrupt?.(undefined);
        if (json) io.out(JSON.stringify(final));
        else if (final.state === 'done')
          io.out(
            `Done: ${final.modelId} (verified sha256) — ${program} chat --model ${host.library.get(final.modelId!)?.files[0]} "Hello"`,
          );
        else if (final.state === 'paused') io.out('Paused; run the same command to resume.');
        else io.err(`Download ${final.state}: ${final.error ?? ''}`);
        return final.state === 'done' || final.state === 'paused' ? 0 : 1;
      }
      case 'import': {
        if (rest.length === 0) throw new UsageError('models import needs one or more paths.');
        const results = await host.handlers['models.import']({
          paths: rest.map((p) => path.resolve(p)),
          mode: values.copy ? 'copy' : 'reference',
        });
        if (json) io.out(JSON.stringify(results));
        else
          for (const r of results)
            io.out(r.ok ? `imported ${r.model!.id}  ${r.model!.name}  (${r.model!.origin})` : `refused ${r.path}: ${r.error}`);
        return results.every((r) => r.ok) ? 0 : 1;
      }
      case 'remove': {
        const id = rest[0];
        if (!id) throw new UsageError('models remove needs a model id (see models list).');
        const { deletedFiles } = await host.handlers['models.remove']({ id });
        if (json) io.out(JSON.stringify({ id, deletedFiles }));
        else
          io.out(
            deletedFiles.length
              ? `Removed ${id} and deleted ${deletedFiles.length} file(s).`
              : `Removed ${id} from the library; its files were left where they are.`,
          );
        return 0;
      }
      default:
        throw new UsageError(`unknown models action "${action ?? ''}".`);
    }
  },
};

const chatsCommand: Command = {
  summary: 'Saved conversations: list them, or export one as Markdown or JSON',
  usage: 'chats list [--json] | chats export <id> [--format md|json]',
  options: { format: { type: 'string' } },
  async run({ io, json, args, values, services }) {
    const [action, id] = args;
    if (action === undefined) throw new UsageError('chats needs an action: list or export.');
    const host = await services();
    if (action === 'list') {
      const list = await host.handlers['chats.list'](undefined);
      if (json) io.out(JSON.stringify(list));
      else if (list.length === 0) io.out('No conversations yet.');
      else
        for (const c of list)
          io.out(`${c.id}  ${c.pinned ? '* ' : ''}${c.title}  (${c.messageCount} messages, ${c.updatedAt.slice(0, 16).replace('T', ' ')})`);
      return 0;
    }
    if (action === 'export') {
      if (!id) throw new UsageError('chats export needs a conversation id (see chats list).');
      const format = (values.format as string | undefined) ?? 'md';
      if (format !== 'md' && format !== 'json') throw new UsageError('--format must be md or json.');
      io.out((await host.handlers['chats.export']({ id, format })).content);
      return 0;
    }
    throw new UsageError(`unknown chats action "${action ?? ''}".`);
  },
};

const benchCommand: Command = {
  summary: 'Measure prompt processing (pp512) and generation (tg128) on the active backend',
  usage: 'bench --model <id> [--all-backends] [--json]',
  options: { model: { type: 'string' }, 'all-backends': { type: 'boolean', default: false } },
  async run({ io, json, values, services }) {
    const modelId = values.model;
    if (typeof modelId !== 'string' || !modelId) throw new UsageError('bench needs --model <id> (see models list).');
    const host = await services();
    const results = await host.handlers['hardware.benchmark']({ modelId, allBackends: Boolean(values['all-backends']) });
    if (json) io.out(JSON.stringify(results.length === 1 ? results[0] : results));
    else {
      for (const result of results) {
        io.out(
          `${result.modelName} on ${result.backend.toUpperCase()}${result.gpus.length ? ` (${result.gpus.join(', ')})` : ''}, ${result.threads} thread(s)`,
        );
        io.out(`  pp${result.promptTokens}: ${result.promptTokensPerSecond.toFixed(1)} tokens/s`);
        io.out(`  tg${result.generatedTokens}: ${result.generationTokensPerSecond.toFixed(1)} tokens/s`);
      }
    }
    return 0;
  },
};

const commands: Record<string, Command> = {
  bench: benchCommand,
  models: modelsCommand,
  chats: chatsCommand,
  settings: {
    summary: 'Show settings, or change them: settings set backend=cuda threads=auto max-vram-per-gpu=8192',
    usage: 'settings [set key=value ...] [--json]',
    async run({ io, json, args, services }) {
      const host = await services();
      const [verb, ...pairs] = args;
      if (verb !== undefined && verb !== 'set') throw new UsageError(`unknown settings action "${verb}".`);
      if (verb === 'set') {
        if (pairs.length === 0) throw new UsageError(`settings set needs key=value pairs; keys: ${Object.keys(settingKeys).join(', ')}.`);
        let patch: SettingsPatch = {};
        for (const pair of pairs) {
          const [key, value] = pair.split(/=(.*)/s, 2);
          const make = key !== undefined && Object.hasOwn(settingKeys, key) ? settingKeys[key] : undefined;
          if (!make || value === undefined || value === '')
            throw new UsageError(`"${pair}" is not key=value with a key of ${Object.keys(settingKeys).join(', ')}.`);
          const part = make(value);
          patch = {
            appearance: { ...patch.appearance, ...part.appearance },
            inference: { ...patch.inference, ...part.inference },
            hub: { ...patch.hub, ...part.hub },
            api: { ...patch.api, ...part.api },
          };
        }
        const parsed = settingsPatchSchema.safeParse(patch);
        if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
        await host.settings.update(parsed.data);
      }
      const settings = host.settings.get();
      if (json) io.out(JSON.stringify(settings));
      else {
        io.out(`theme             ${settings.appearance.theme}`);
        io.out(`backend           ${settings.inference.backend}`);
        io.out(`threads           ${settings.inference.threads === 0 ? 'auto' : settings.inference.threads}`);
        io.out(`max-vram-per-gpu  ${settings.inference.maxVramPerGpuMiB === null ? 'none' : `${settings.inference.maxVramPerGpuMiB} MiB`}`);
        io.out(`hub-endpoint      ${settings.hub.endpoint}`);
        const api = settings.api;
        io.out(
          `api               ${api.enabled ? 'on' : 'off'} (desktop app), ${api.host}:${api.port}, key ${api.requireKey ? 'required' : 'not required on loopback'}, ` +
            `cors ${api.corsOrigins.length ? api.corsOrigins.join(',') : 'none'}, idle unload ${api.idleUnloadMinutes} min`,
        );
        if (verb === 'set') io.out('Saved. An app already running applies it when next started.');
      }
      return 0;
    },
  },
  hardware: {
    summary: 'Show the detected hardware and the inference backend chosen, and why',
    usage: 'hardware [--json]',
    async run({ io, json, services }) {
      const host = await services();
      const report = await host.handlers['inference.hardware'](undefined);
      if (json) io.out(JSON.stringify(report));
      else printHardware(io, report);
      return 0;
    },
  },
  chat: {
    summary: 'Load a GGUF model and stream its reply to a prompt',
    usage:
      'chat --model <path> [--system TEXT] [--temperature X] [--top-p X] [--top-k N] [--min-p X] [--repeat-penalty X] [--max-tokens N] [--seed N] [--context-size N] [--gpu-layers N] "prompt"',
    options: {
      model: { type: 'string' },
      system: { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      'min-p': { type: 'string' },
      'repeat-penalty': { type: 'string' },
      'max-tokens': { type: 'string' },
      seed: { type: 'string' },
      'context-size': { type: 'string' },
      'gpu-layers': { type: 'string' },
    },
    async run({ io, json, args, values, services, program }) {
      const modelArg = values.model;
      if (typeof modelArg !== 'string' || modelArg === '') throw new UsageError('chat needs --model <path to a .gguf file>.');
      const prompt = args.join(' ').trim();
      if (!prompt) throw new UsageError(`chat needs a prompt, e.g. ${program} chat --model model.gguf "Hello"`);
      const sampling: Sampling = {
        temperature: numberOption(values, 'temperature', false),
        topP: numberOption(values, 'top-p', false),
        topK: numberOption(values, 'top-k', true),
        minP: numberOption(values, 'min-p', false),
        repeatPenalty: numberOption(values, 'repeat-penalty', false),
        maxTokens: numberOption(values, 'max-tokens', true),
        seed: numberOption(values, 'seed', true),
      };
      const contextSize = numberOption(values, 'context-size', true);
      const gpuLayers = numberOption(values, 'gpu-layers', true);
      const host = await services();
      const modelPath = path.resolve(modelArg);

      let lastShown = -1;
      const offProgress = host.events.subscribeAll((event, payload) => {
        if (event !== 'onLoadProgress' || json) return;
        const percent = Math.floor((payload as { progress: number }).progress * 100);
        if (percent >= lastShown + 10 || percent === 100) {
          lastShown = percent;
          io.err(`loading ${path.basename(modelPath)}: ${percent}%`);
        }
      });
      const model = await host.handlers['inference.load']({ modelPath, contextSize, gpuLayers });
      offProgress();
      if (!json) {
        io.err(
          `${model.name}: ${model.gpuLayers}/${model.totalLayers} layers on the GPU, ${model.contextSize}-token context, ${model.chatWrapper} template`,
        );
        if (model.retried) io.err(`note: ${model.retried}`);
      }

      const requestId = `cli-${process.pid}-${Date.now()}`;
      let thinking = false;
      const offDelta = host.events.subscribeAll((event, payload) => {
        if (event !== 'onChatDelta' || json) return;
        const delta = payload as import('../../shared/inference').ChatDelta;
        if (delta.requestId !== requestId) return;
        for (const part of delta.parts) {
          if (part.kind === 'reasoning') {
            if (!thinking) io.err('[thinking]');
            thinking = true;
            io.err(part.text);
          } else {
            if (thinking) io.err('[/thinking]');
            thinking = false;
            (io.write ?? io.out)(part.text);
          }
        }
      });
      io.onInterrupt?.(() => void host.handlers['chat.abort']({ requestId }));
      try {
        const result = await host.handlers['chat.generate']({
          requestId,
          system: typeof values.system === 'string' ? values.system : undefined,
          messages: [{ role: 'user', text: prompt }],
          sampling,
        });
        if (json) io.out(JSON.stringify({ model, text: result.text, reasoning: result.reasoning, stats: result.stats }));
        else {
          (io.write ?? io.out)('\n');
          io.out(statsLine(result));
        }
      } finally {
        io.onInterrupt?.(undefined);
        offDelta();
      }
      return 0;
    },
  },
  version: {
    summary: 'Print the Freehold version (also --version, -v)',
    usage: 'version [--json]',
    async run({ io, json }) {
      printVersion(io, json);
      return 0;
    },
  },
  info: {
    summary: 'Show where Freehold keeps its data and its current settings',
    usage: 'info [--json]',
    async run({ io, json, services }) {
      const host = await services();
      const info = await host.handlers['app.info'](undefined);
      const settings = host.settings.get();
      if (json) {
        io.out(JSON.stringify({ version: info.version, dataDir: info.dataDir, settingsFile: host.settings.file, settings }));
      } else {
        io.out(`Freehold ${info.version}`);
        io.out(`Data directory: ${info.dataDir}`);
        io.out(`Settings file:  ${host.settings.file}`);
        io.out(`Backend:        ${settings.inference.backend}`);
        io.out(`Threads:        ${settings.inference.threads === 0 ? 'auto' : settings.inference.threads}`);
        io.out(`Hub endpoint:   ${settings.hub.endpoint}`);
      }
      return 0;
    },
  },
};

function printVersion(io: CliIo, json: boolean): void {
  const versions = { freehold: appVersion, node: process.versions.node };
  io.out(json ? JSON.stringify(versions) : `Freehold ${appVersion} (Node.js ${process.versions.node})`);
}

function helpText(program: string): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.length));
  return [
    'Freehold: run open models on the hardware you own.',
    '',
    `Usage: ${program} <command> [options]`,
    '',
    'Commands:',
    ...Object.values(commands).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'Options for every command:',
    '  --json            Machine-readable output',
    '  --data-dir DIR    Use DIR instead of the per-user data directory (or set FREEHOLD_DATA_DIR)',
    '  --help, -h        Show this help',
    '  --version, -v     Print the version',
    '',
    'Exit status: 0 done, 1 failed, 2 usage error (unknown command or option, missing or bad value).',
  ].join('\n');
}

const globalOptions: Options = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', short: 'v', default: false },
  'data-dir': { type: 'string' },
};

/**
 * Runs one command and resolves to its exit status: 0 done, 1 failed, 2 usage
 * error (unknown command or option, missing or bad value), so shell scripts
 * can tell a typo from a failure. `program` is how the user ran it, for the
 * usage lines and the commands suggested.
 */
export async function runCli(argv: string[], io: CliIo, program = 'npm run cli --'): Promise<number> {
  // First find the command, then parse strictly with its own options.
  const loose = parseArgs({ args: argv, options: globalOptions, allowPositionals: true, strict: false });
  const commandName = loose.positionals[0];
  const known = commandName !== undefined && Object.hasOwn(commands, commandName) ? commands[commandName] : undefined;
  const usageError = (message: string, command = known): number => {
    io.err(`freehold${command ? ` ${commandName}` : ''}: ${message}`);
    io.err(`Usage: ${program} ${command ? command.usage : '<command> [options]'}`);
    if (!command) io.err(`Run "${program} --help" to see the commands.`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...globalOptions, ...known?.options }, allowPositionals: true, strict: true });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const values = parsed.values as Values & { json: boolean; help: boolean; version: boolean; 'data-dir'?: string };
  const [name, ...rest] = parsed.positionals;
  if (values.help || name === 'help') {
    io.out(helpText(program));
    return 0;
  }
  if (values.version) {
    printVersion(io, values.json);
    return 0;
  }
  if (name === undefined) {
    io.err(helpText(program));
    return 2;
  }
  const command = known;
  if (!command) return usageError(`unknown command "${name}".`);

  let services: HostServices | undefined;
  const ctx: CliContext = {
    io,
    program,
    json: values.json,
    args: rest,
    values,
    services: async () => {
      if (!services) {
        const dataDir = ensureDataDir(resolveDataDir({ flag: values['data-dir'] }));
        services = await createHostServices({ dataDir, host: 'cli', log: () => undefined });
        for (const notice of services.notices.list()) io.err(`warning: ${notice.message}`);
      }
      return services;
    },
  };
  try {
    return await command.run(ctx);
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message, command);
    io.err(`freehold ${name}: ${(error as Error).message}`);
    return 1;
  } finally {
    await services?.close();
  }
}

/** Runs the CLI as this process: the terminal's streams, Ctrl+C, the exit status. */
export function main(argv: string[], program: string): void {
  let interrupt: (() => void) | undefined;
  process.on('SIGINT', () => {
    // First Ctrl+C stops the reply in progress; a second one (or none running) quits.
    if (interrupt) {
      interrupt();
      interrupt = undefined;
    } else process.exit(130);
  });
  // `freehold models list | head -1`: a reader that stops early is not a failure.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  runCli(
    argv,
    {
      out: (text) => process.stdout.write(`${text}\n`),
      err: (text) => process.stderr.write(`${text}\n`),
      write: (text) => process.stdout.write(text),
      onInterrupt: (abort) => (interrupt = abort),
    },
    program,
  ).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`freehold: ${(error as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}

const isEntry = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) main(process.argv.slice(2), 'npm run cli --');
