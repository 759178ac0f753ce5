import { TransportBase, type Transport } from './transport';

class MemoryEnd extends TransportBase implements Transport {
  peer: MemoryEnd | undefined;

  send(message: unknown): void {
    if (this.closed) throw new Error('Transport is closed');
    // structuredClone: a value that could not cross a process boundary fails
    // here, in a unit test, rather than in production.
    const copy = structuredClone(message);
    const peer = this.peer;
    queueMicrotask(() => peer?.receive(copy));
  }

  receive(message: unknown): void {
    this.deliver(message);
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.markClosed(reason);
    const peer = this.peer;
    queueMicrotask(() => peer?.close(reason));
  }
}

/** Two connected in-memory transports, as if across a process boundary. */
export function createMemoryPair(): [Transport, Transport] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
