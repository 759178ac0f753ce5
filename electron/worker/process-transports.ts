import type { ChildProcess } from 'node:child_process';
import { TransportBase, type Transport } from '../../shared/rpc/transport';

interface ParentPortLike {
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

/**
 * The worker's end of its channel to the host: Electron's parentPort in a
 * utilityProcess, or Node's IPC channel in a forked child process.
 */
export class ParentTransport extends TransportBase implements Transport {
  private readonly port: ParentPortLike | undefined;

  constructor() {
    super();
    this.port = (process as unknown as { parentPort?: ParentPortLike }).parentPort;
    if (this.port) {
      this.port.on('message', (event) => this.deliver(event.data));
    } else if (process.send) {
      process.on('message', (message) => this.deliver(message));
      process.on('disconnect', () => this.markClosed('host disconnected'));
    } else {
      throw new Error('The inference worker must be started by Freehold (no IPC channel).');
    }
  }

  send(message: unknown): void {
    if (this.closed) return;
    if (this.port) this.port.postMessage(message);
    else process.send?.(message);
  }

  close(reason = 'closed'): void {
    this.markClosed(reason);
  }
}

/** The host's end of a forked worker's IPC channel. */
export class ChildProcessTransport extends TransportBase implements Transport {
  constructor(private readonly child: ChildProcess) {
    super();
    child.on('message', (message) => this.deliver(message));
    child.on('exit', () => this.markClosed('worker exited'));
    child.on('disconnect', () => this.markClosed('worker disconnected'));
  }

  send(message: unknown): void {
    if (this.closed || !this.child.connected) return;
    this.child.send(message as never, (error) => {
      if (error) this.markClosed(`send failed: ${error.message}`);
    });
  }

  close(reason = 'closed'): void {
    this.markClosed(reason);
  }
}
