import type { WebSocket, RawData } from 'ws';
import { TransportBase, type Transport } from '../../shared/rpc/transport';

/** RPC over one WebSocket: JSON text frames. */
export class WebSocketTransport extends TransportBase implements Transport {
  constructor(private readonly socket: WebSocket) {
    super();
    socket.on('message', (data: RawData, isBinary: boolean) => this.receive(data, isBinary));
    socket.on('close', (code, reason) => this.markClosed(`${code}${reason.length ? ` ${reason.toString()}` : ''}`));
    socket.on('error', () => this.markClosed('socket error'));
  }

  private receive(data: RawData, isBinary: boolean): void {
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8');
    if (isBinary) {
      this.close('binary frames are not accepted', 1003);
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      // Nothing in an unparseable frame can be answered; refuse the connection.
      this.close('invalid JSON', 1007);
      return;
    }
    this.deliver(message, Buffer.byteLength(text));
  }

  send(message: unknown): void {
    if (this.closed) return;
    this.socket.send(JSON.stringify(message));
  }

  close(reason = 'closed', code = 1000): void {
    if (this.closed) return;
    this.socket.close(code, reason.slice(0, 120));
    this.markClosed(`${code} ${reason}`);
  }
}
