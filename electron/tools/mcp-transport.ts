/**
 * How the MCP service reaches a server: a stdio program (the SDK's transport,
 * which also keeps the program's exit status and the tail of its stderr) or a
 * Streamable HTTP endpoint; and what went wrong with either, in words.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../../shared/tools';
import { clip } from './mcp-text';

type StdioConfig = Extract<McpServerConfig, { transport: 'stdio' }>;
type HttpConfig = Extract<McpServerConfig, { transport: 'http' }>;

/** Characters of a stdio server's stderr kept, for the reason it failed. */
const STDERR_TAIL_CHARS = 4096;
/**
 * The largest message a stdio server may send: the SDK buffers a whole line
 * before parsing it (its default bound, 10 MiB, is under a 10 MB tool result
 * once in JSON), copying the buffer on every chunk, so the cost grows with
 * the square of the size. A server that sends more is closed.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * The SDK's stdio transport (argv, no shell; the environment it is given plus
 * its minimal PATH/HOME/USER set), which also tells how the program ended:
 * the SDK keeps the exit code to itself.
 */
export class ObservedStdioTransport extends StdioClientTransport {
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  onexit?: () => void;
  /** The last STDERR_TAIL_CHARS characters the program wrote to stderr. */
  stderrTail = '';
  private child: ChildProcess | undefined;

  constructor(config: StdioConfig) {
    super({
      command: config.command,
      args: config.args,
      // Only these: never this process's environment (API keys, tokens) beyond the SDK's PATH/HOME/USER set.
      env: { ...getDefaultEnvironment(), ...config.env },
      stderr: 'pipe',
      maxBufferSize: MAX_MESSAGE_BYTES,
      ...(config.cwd ? { cwd: config.cwd } : {}),
    });
    const stderr = this.stderr as Readable | null;
    stderr?.setEncoding('utf8');
    stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
  }

  override async start(): Promise<void> {
    await super.start();
    // The SDK's own handle on the process (private there): for its exit status, and to kill it.
    this.child = (this as unknown as { _process?: ChildProcess })._process;
    this.child?.once('exit', (code, signal) => {
      this.exit = { code, signal };
      this.onexit?.();
    });
  }

  kill(signal: NodeJS.Signals): void {
    try {
      if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    } catch {
      // gone already
    }
  }
}

export function httpTransport(config: HttpConfig): StreamableHTTPClientTransport {
  const url = new URL(config.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('the URL must start with http:// or https://');
  return new StreamableHTTPClientTransport(url, { requestInit: { headers: config.headers } });
}

/** What went wrong, in words, for the server's state and the model. Never includes the configured headers or env. */
export function describeError(error: unknown, config: McpServerConfig): string {
  if (error instanceof StreamableHTTPError) {
    const detail = error.message.replace(/^Streamable HTTP error: (Error POSTing to endpoint: )?/, '').trim();
    if (error.code === 401)
      return `the server refused the request: HTTP 401 Unauthorized (check the server's headers, e.g. "Authorization: Bearer …")`;
    if (error.code === 403) return `the server refused the request: HTTP 403 Forbidden${detail ? ` (${clip(detail, 200)})` : ''}`;
    if (error.code === 404) return `HTTP 404 Not Found: is the URL the server's MCP endpoint (often ending in /mcp)?`;
    if (error.code === 405) return `HTTP 405 Method Not Allowed: the URL may be an SSE endpoint, which Freehold does not support`;
    return `${error.code !== undefined && error.code > 0 ? `HTTP ${error.code}: ` : ''}${clip(detail || 'the server answered with an error')}`;
  }
  if (error instanceof McpError) return clip(error.message);
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (config.transport === 'stdio' && code === 'ENOENT')
      return `the program "${clip(config.command, 200)}" was not found${path.isAbsolute(config.command) ? '' : ' on the PATH'}${config.cwd ? ` (or the folder ${clip(config.cwd, 200)} does not exist)` : ''}`;
    if (config.transport === 'stdio' && code === 'EACCES') return `"${clip(config.command, 200)}" cannot be run (permission denied)`;
    const cause = (error as { cause?: unknown }).cause;
    if (config.transport === 'http' && cause instanceof Error) {
      const causeCode = (cause as NodeJS.ErrnoException).code;
      let where = 'the server';
      try {
        where = new URL(config.url).host; // not the whole URL: its query may hold a token
      } catch {
        // keep "the server"
      }
      return `could not reach ${where}: ${clip(causeCode ?? cause.message, 200)}`;
    }
    return clip(error.message || String(error));
  }
  return clip(String(error));
}

export function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.signal ? `the program was ended by ${exit.signal}` : `the program exited with code ${exit.code}`;
}

/** What the user should see of a stdio server's stderr: without terminal escapes and control characters. */
export function cleanTail(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
      .trim()
  );
}
