import net from 'node:net';
import { RpcError } from '../../shared/errors';
import { spawnTethered, type TetheredChild } from './tethered-process';

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
  tether: TetheredChild;
  port: number;
  log: string[];
  exit: string | null;
}

/** How many RPC helpers this machine runs at once, in all (one per pairing, plus its own share). */
export const MAX_RPC_HELPERS = 8;

/**
 * llama.cpp's RPC servers on this machine, one per machine that uses this one
 * in a split (keyed by its pairing), or this machine's own share of a split it
 * runs. Each listens on 127.0.0.1 only: other machines reach it through their
 * authenticated link (sharing.ts tunnels), never directly; llama.cpp's RPC
 * server has no authentication of its own. So: one helper per key at most (a
 * start under way is joined, not repeated), a cap in all, and each one dies
 * with this process (tethered-process.ts), however it ends.
 */
export class RpcHelperPool {
  private readonly helpers = new Map<string, Helper>();
  /** Starts under way, by key: a second start joins the first. */
  private readonly starting = new Map<string, { promise: Promise<number>; cancelled: boolean }>();
  private closed = false;

  constructor(
    private readonly binary: () => Promise<string>,
    private readonly log: (line: string) => void,
    private readonly threads: () => number,
    private readonly max = MAX_RPC_HELPERS,
  ) {}

  port(key: string): number | null {
    const helper = this.helpers.get(key);
    return helper && helper.exit === null ? helper.port : null;
  }

  /** How many helpers run or are starting now. */
  count(): number {
    return new Set([...this.helpers.keys(), ...this.starting.keys()]).size;
  }

  start(key: string): Promise<number> {
    if (this.closed) return Promise.reject(new RpcError('unavailable', 'This machine is shutting down.'));
    const running = this.port(key);
    if (running !== null) return Promise.resolve(running);
    const pending = this.starting.get(key);
    // A start stopped half-way (its link closed, then came back) is not joined: a fresh one begins.
    if (pending && !pending.cancelled) return pending.promise;
    if (this.count() >= this.max) {
      return Promise.reject(
        new RpcError(
          'busy',
          `This machine already runs ${this.max} split-model helpers, the most it runs at once; try again when a split ends.`,
        ),
      );
    }
    if (pending) this.starting.delete(key);
    const entry = { promise: Promise.resolve(0), cancelled: false };
    entry.promise = this.launch(key, entry).finally(() => {
      if (this.starting.get(key) === entry) this.starting.delete(key);
    });
    this.starting.set(key, entry);
    return entry.promise;
  }

  private async launch(key: string, entry: { cancelled: boolean }): Promise<number> {
    const stopped = () => new RpcError('aborted', 'The split-model helper was stopped while it started.');
    const binary = await this.binary();
    const port = await freePort();
    if (entry.cancelled) throw stopped();
    const tether = spawnTethered(binary, ['-H', '127.0.0.1', '-p', String(port), '-t', String(Math.max(1, this.threads()))]);
    const child = tether.child;
    const helper: Helper = { tether, port, log: [], exit: null };
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
      if (entry.cancelled) throw stopped();
    } catch (error) {
      tether.stop(0);
      if (this.helpers.get(key) === helper) this.helpers.delete(key);
      throw error;
    }
    return port;
  }

  stop(key: string): boolean {
    const pending = this.starting.get(key);
    if (pending) pending.cancelled = true;
    const helper = this.helpers.get(key);
    if (!helper) return pending !== undefined;
    this.helpers.delete(key);
    helper.tether.stop();
    return true;
  }

  close(): void {
    this.closed = true;
    for (const key of new Set([...this.helpers.keys(), ...this.starting.keys()])) this.stop(key);
  }
}
