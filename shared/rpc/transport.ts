/**
 * A transport is just "send" and "onMessage" (VS Code's IMessagePassingProtocol),
 * plus close. Adapters exist for Electron IPC, WebSocket, child processes and an
 * in-memory pair for tests. Messages are JSON-safe values.
 */
export interface Transport {
  send(message: unknown): void;
  /** byteLength is given by transports that know the encoded size (WebSocket). */
  onMessage(listener: (message: unknown, byteLength?: number) => void): () => void;
  onClose(listener: (reason: string) => void): () => void;
  close(reason?: string): void;
  readonly closed: boolean;
}

/** Shared plumbing for adapters: listener sets and a once-only close. */
export class TransportBase {
  private readonly messageListeners = new Set<(message: unknown, byteLength?: number) => void>();
  private readonly closeListeners = new Set<(reason: string) => void>();
  private isClosed = false;

  get closed(): boolean {
    return this.isClosed;
  }

  onMessage(listener: (message: unknown, byteLength?: number) => void): () => void {
    this.messageListeners.add(listener);
    return () => this.messageListeners.delete(listener);
  }

  onClose(listener: (reason: string) => void): () => void {
    if (this.isClosed) {
      listener('closed');
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  protected deliver(message: unknown, byteLength?: number): void {
    if (this.isClosed) return;
    for (const listener of [...this.messageListeners]) listener(message, byteLength);
  }

  protected markClosed(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const listener of [...this.closeListeners]) listener(reason);
    this.closeListeners.clear();
    this.messageListeners.clear();
  }
}
