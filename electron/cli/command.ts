/**
 * What every CLI command is: a usage line and a summary for the help, its own
 * options, and a `run` that resolves to the exit status. The dispatcher
 * (cli.ts) parses the arguments and hands each command a `CliContext`.
 */
import type { ParseArgsConfig } from 'node:util';
import type { HostServices } from '../services/host-services';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Streamed output without a newline (chat replies). */
  write?: (text: string) => void;
  /** Called with an abort function while a long command runs (Ctrl+C stops a reply). */
  onInterrupt?: (abort: (() => void) | undefined) => void;
}

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;

export interface CliContext {
  io: CliIo;
  /** How the user runs the CLI, for the commands it suggests: `freehold` or `npm run cli --`. */
  program: string;
  json: boolean;
  /** The positional arguments after the command's name. */
  args: string[];
  values: Values;
  /** The app's services on the data directory, started on first use and closed after the command. */
  services: () => Promise<HostServices>;
}

export interface Command {
  summary: string;
  usage: string;
  options?: Options;
  /** Resolves to the exit status: 0 done, 1 failed. Throws `UsageError` for a usage error (2). */
  run(ctx: CliContext): Promise<number>;
}

/** A mistake in the command line: the dispatcher prints it with the command's usage and exits 2. */
export class UsageError extends Error {}

/** The numeric value of `--name`, or undefined when it is not given. */
export function numberOption(values: Values, name: string, integer: boolean): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'}, not "${String(raw)}".`);
  }
  return value;
}
