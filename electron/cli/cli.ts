/**
 * `freehold <command>` (or `npm run cli -- <command>` in a checkout): the same
 * services as the app, from a terminal. Human-readable output by default,
 * `--json` for scripts. Exit codes: 0 ok, 1 failure, 2 usage error. This file
 * parses the command line and runs one of the commands in ./commands; a
 * feature adds its command there and to the table below.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHostServices, type HostServices } from '../services/host-services';
import { ensureDataDir, resolveDataDir } from '../platform/data-dir';
import { UsageError, type CliContext, type CliIo, type Command, type Options, type Values } from './command';
import { apiCommand } from './commands/api';
import { benchCommand } from './commands/bench';
import { chatCommand } from './commands/chat';
import { chatsCommand } from './commands/chats';
import { docsCommand } from './commands/docs';
import { hardwareCommand } from './commands/hardware';
import { infoCommand } from './commands/info';
import { machinesCommand } from './commands/machines';
import { enginesCommand, splitCommand } from './commands/split';
import { modelsCommand } from './commands/models';
import { loadCommand, planCommand } from './commands/placement';
import { settingsCommand } from './commands/settings';
import { toolsCommand } from './commands/tools';
import { printVersion, versionCommand } from './commands/version';

/** Every command by name, in the order the help lists them. */
const commands: Record<string, Command> = {
  bench: benchCommand,
  models: modelsCommand,
  machines: machinesCommand,
  tools: toolsCommand,
  split: splitCommand,
  engines: enginesCommand,
  chats: chatsCommand,
  docs: docsCommand,
  settings: settingsCommand,
  api: apiCommand,
  hardware: hardwareCommand,
  plan: planCommand,
  load: loadCommand,
  chat: chatCommand,
  version: versionCommand,
  info: infoCommand,
};

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
  const command = commandName !== undefined && Object.hasOwn(commands, commandName) ? commands[commandName] : undefined;
  const usageError = (message: string): number => {
    io.err(`freehold${command ? ` ${commandName}` : ''}: ${message}`);
    io.err(`Usage: ${program} ${command ? command.usage : '<command> [options]'}`);
    if (!command) io.err(`Run "${program} --help" to see the commands.`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...globalOptions, ...command?.options }, allowPositionals: true, strict: true });
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
    if (error instanceof UsageError) return usageError(error.message);
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
