/**
 * `npm run cli -- <command>`: the same services as the app, from a terminal.
 * Human-readable output by default, `--json` for scripts. Each feature adds
 * its commands to the table below.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHostServices, type HostServices } from '../services/host-services';
import { ensureDataDir, resolveDataDir } from '../services/data-dir';
import { appVersion } from '../services/version';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

interface CliContext {
  io: CliIo;
  json: boolean;
  args: string[];
  services: () => Promise<HostServices>;
}

interface Command {
  summary: string;
  usage: string;
  run(ctx: CliContext): Promise<number>;
}

const commands: Record<string, Command> = {
  version: {
    summary: 'Print the Freehold version',
    usage: 'version [--json]',
    async run({ io, json }) {
      const versions = { freehold: appVersion, node: process.versions.node };
      io.out(json ? JSON.stringify(versions) : `Freehold ${appVersion} (Node.js ${process.versions.node})`);
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
      for (const notice of host.notices.list()) io.err(`warning: ${notice.message}`);
      return 0;
    },
  },
};

function helpText(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.length));
  return [
    'Freehold: run open models on the hardware you own.',
    '',
    'Usage: npm run cli -- <command> [options]',
    '',
    'Commands:',
    ...Object.values(commands).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'Options for every command:',
    '  --json            Machine-readable output',
    '  --data-dir DIR    Use DIR instead of the per-user data directory (or set FREEHOLD_DATA_DIR)',
    '  --help            Show this help',
  ].join('\n');
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        'data-dir': { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    io.err(`freehold: ${(error as Error).message}\n\n${helpText()}`);
    return 2;
  }
  const [name, ...rest] = parsed.positionals;
  if (parsed.values.help || name === undefined || name === 'help') {
    io.out(helpText());
    return name === undefined && !parsed.values.help ? 2 : 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    io.err(`freehold: unknown command "${name}".\n\n${helpText()}`);
    return 2;
  }

  let services: HostServices | undefined;
  const ctx: CliContext = {
    io,
    json: parsed.values.json,
    args: rest,
    services: async () => {
      if (!services) {
        const dataDir = ensureDataDir(resolveDataDir({ flag: parsed.values['data-dir'] }));
        services = await createHostServices({ dataDir, host: 'cli' });
      }
      return services;
    },
  };
  try {
    return await command.run(ctx);
  } catch (error) {
    io.err(`freehold ${name}: ${(error as Error).message}`);
    return 1;
  } finally {
    await services?.close();
  }
}

const isEntry = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  runCli(process.argv.slice(2), {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  }).then((code) => {
    process.exitCode = code;
  });
}
