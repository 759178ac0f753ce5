/**
 * One llama.cpp `llama-server` run by Freehold: on 127.0.0.1, a free port, a
 * random key, tethered to this process (it dies with the host, however the
 * host ends), its last 300 log lines kept, ready once `/health` says so, and
 * its end explained in llama.cpp's own words. The split model (split-service.ts)
 * and the server engine (server-engine.ts) both run theirs through this.
 *
 * The key goes in the environment (LLAMA_API_KEY), which only this user can
 * read, not on the command line, which every local user sees (`ps`); a
 * llama-server that does not read it (an old build on the PATH) is found out
 * by a request without the key, and started again with the key as an argument.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { RpcError } from '../../shared/errors';
import { freePort, waitForHealth } from './rpc-helpers';
import { spawnTethered } from './tethered-process';

export interface LlamaServerStart {
  binary: string;
  /** The model's arguments (`-m`, `-c`, `-t`, …): host, port, key and web UI are added here. */
  args: string[];
  /** The name the server answers to in `model`. */
  alias: string;
  env?: NodeJS.ProcessEnv;
  /** How long loading may take before it is given up (default 10 minutes: a large model from a slow disk). */
  readyWithinMs?: number;
  /** Called once if it ends after it was ready, with why. */
  onExit?: (why: string) => void;
}

const LOG_LINES = 300;

export class LlamaServerProcess {
  readonly url: string;
  private readonly log: string[] = [];
  private ended: string | null = null;
  private stopping = false;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly apiKey: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Starts it and resolves once it is ready to answer; rejects with llama.cpp's reason if it ends first. */
  static async start(options: LlamaServerStart): Promise<LlamaServerProcess> {
    const server = await LlamaServerProcess.launch(options, 'environment');
    if (await server.answersWithoutKey()) {
      await server.stop();
      return LlamaServerProcess.launch(options, 'argument');
    }
    return server;
  }

  /**
   * Whether it may answer without the key (it did not take the key from its environment): asked on a
   * route that always needs it (newer builds leave /v1/models public). Only a 401 proves the key is
   * in force; anything else, an error included, counts as not.
   */
  private async answersWithoutKey(): Promise<boolean> {
    try {
      const response = await fetch(`${this.url}/tokenize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ content: '' }),
        signal: AbortSignal.timeout(10_000),
      });
      return response.status !== 401;
    } catch {
      return true;
    }
  }

  private static async launch(options: LlamaServerStart, keyIn: 'environment' | 'argument'): Promise<LlamaServerProcess> {
    const port = await freePort();
    const apiKey = randomBytes(24).toString('base64url');
    const args = [
      ...options.args,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      ...(keyIn === 'argument' ? ['--api-key', apiKey] : []),
      '--alias',
      options.alias,
      '--no-webui',
    ];
    const env = { ...(options.env ?? process.env), ...(keyIn === 'environment' ? { LLAMA_API_KEY: apiKey } : {}) };
    // Tethered: a llama-server left behind by a crashed host would keep the model's memory.
    const child = spawnTethered(options.binary, args, { env }).child;
    const server = new LlamaServerProcess(child, port, apiKey);
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        server.log.push(line);
        if (server.log.length > LOG_LINES) server.log.shift();
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let ready = false;
    child.on('error', (error) => {
      server.ended ??= `llama-server could not be started: ${error.message}`;
    });
    child.on('exit', (code, signal) => {
      server.ended = `llama-server stopped (${signal ?? `exit ${code}`})${server.reason() ? `: ${server.reason()}` : ''}`;
      if (ready && !server.stopping) options.onExit?.(server.ended);
    });
    try {
      await waitForHealth(port, options.readyWithinMs ?? 10 * 60 * 1000, () => server.ended);
    } catch (error) {
      await server.stop();
      throw error instanceof RpcError ? error : new RpcError('unavailable', (error as Error).message);
    }
    ready = true;
    return server;
  }

  /** Why it ended, or null while it runs. */
  get exited(): string | null {
    return this.ended;
  }

  /** Whether Freehold asked it to stop (an end that is not a crash). */
  get stopRequested(): boolean {
    return this.stopping;
  }

  /** llama.cpp's last words: its last error lines, else its last lines. */
  reason(): string {
    const errors = this.log.filter((line) => /error|failed|abort|exception|out of memory/i.test(line)).slice(-3);
    return (errors.length ? errors : this.log.slice(-2)).join(' | ');
  }

  /** The log lines kept (the last 300). */
  lines(): string[] {
    return [...this.log];
  }

  /** Ends it (SIGTERM, then SIGKILL after 5 s) and resolves once it has gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
