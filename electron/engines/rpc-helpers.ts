import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { RpcError } from '../../shared/errors';

/** A free TCP port on 127.0.0.1 (asked of the OS, then released for the program that will bind it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on 127.0.0.1:port, or rejects after `ms`. */
export async function waitForPort(port: number, ms: number, exited: () => string | null): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const gone = exited();
    if (gone) throw new RpcError('unavailable', gone);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new RpcError('unavailable', `Nothing answered on 127.0.0.1:${port} within ${Math.round(ms / 1000)} s.`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves once llama-server at 127.0.0.1:port says it is ready (GET /health), or rejects with why not. */
export async function waitForHealth(port: number, ms: number, exited: () => string | null): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const gone = exited();
    if (gone) throw new RpcError('unavailable', gone);
    const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
    if (response?.ok) return;
    if (Date.now() > until) throw new RpcError('unavailable', `llama-server did not get ready within ${Math.round(ms / 1000)} s.`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Helper {
  child: ChildProcess;
  port: number;
  log: string[];
  exit: string | null;
}

/**
 * llama.cpp's RPC servers on this machine, one per machine that uses this one
 * in a split (keyed by its pairing), or this machine's own share of a split it
 * runs. Each listens on 127.0.0.1 only: other machines reach it through their
 * authenticated link (sharing.ts tunnels), never directly; llama.cpp's RPC
 * server has no authentication of its own.
 */
export class RpcHelperPool {
  private readonly helpers = new Map<string, Helper>();

  constructor(
    private readonly binary: () => Promise<string>,
    private readonly log: (line: string) => void,
    private readonly threads: () => number,
  ) {}

  port(key: string): number | null {
    const helper = this.helpers.get(key);
    return helper && helper.exit === null ? helper.port : null;
  }

  async start(key: string): Promise<number> {
    const running = this.port(key);
    if (running !== null) return running;
    const binary = await this.binary();
    const port = await freePort();
    const child = spawn(binary, ['-H', '127.0.0.1', '-p', String(port), '-t', String(Math.max(1, this.threads()))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const helper: Helper = { child, port, log: [], exit: null };
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        helper.log.push(line);
        if (helper.log.length > 200) helper.log.shift();
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.on('error', (error) => (helper.exit = `The RPC helper could not start: ${error.message}`));
    child.on('exit', (code, signal) => {
      helper.exit ??= `The RPC helper stopped (${signal ?? `exit ${code}`})${helper.log.length ? `: ${helper.log.slice(-3).join(' | ')}` : ''}`;
      this.log(`split: RPC helper ${key.slice(0, 8)}: ${helper.exit}`);
      if (this.helpers.get(key) === helper) this.helpers.delete(key);
    });
    this.helpers.set(key, helper);
    try {
      await waitForPort(port, 15_000, () => helper.exit);
    } catch (error) {
      child.kill('SIGKILL');
      this.helpers.delete(key);
      throw error;
    }
    return port;
  }

  stop(key: string): boolean {
    const helper = this.helpers.get(key);
    if (!helper) return false;
    this.helpers.delete(key);
    helper.child.kill('SIGTERM');
    setTimeout(() => helper.child.kill('SIGKILL'), 2000).unref();
    return true;
  }

  close(): void {
    for (const key of [...this.helpers.keys()]) this.stop(key);
  }
}
