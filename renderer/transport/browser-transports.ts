import type { FreeholdBridge } from '../../shared/bridge';
import { TransportBase, type Transport } from '../../shared/rpc/transport';

/** RPC over a browser WebSocket to the headless host (JSON text frames). */
export class BrowserWebSocketTransport extends TransportBase implements Transport {
  constructor(private readonly socket: WebSocket) {
    super();
    socket.addEventListener('message', (event: MessageEvent) => {
      if (typeof event.data !== 'string') return;
      let message: unknown;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.deliver(message);
    });
    socket.addEventListener('close', (event) => this.markClosed(`${event.code} ${event.reason}`.trim()));
  }

  send(message: unknown): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(JSON.stringify(message));
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.socket.close(1000, reason.slice(0, 120));
    this.markClosed(reason);
  }
}

/** RPC over the desktop app's preload bridge; lives as long as the page. */
export class BridgeTransport extends TransportBase implements Transport {
  private readonly unsubscribe: () => void;

  constructor(private readonly bridge: FreeholdBridge) {
    super();
    this.unsubscribe = bridge.onMessage((message) => this.deliver(message));
  }

  send(message: unknown): void {
    if (!this.closed) this.bridge.send(message);
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.unsubscribe();
    this.markClosed(reason);
  }
}
