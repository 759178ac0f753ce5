import type { WebSocket, RawData } from 'ws';
import { messageMediaAllowance } from '../../shared/rpc/protocol';
import { TransportBase, type Transport } from '../../shared/rpc/transport';

export interface WebSocketTransportOptions {
  /**
   * Frames over this many bytes close the connection (1009), as the socket's
   * own maxPayload does, unless what is over is the base64 of a message's
   * images and audio (shared/rpc/protocol.ts: mediaAllowance). For a socket
   * whose maxPayload leaves room for a message with media.
   */
  maxBytes?: number;
}

/** RPC over one WebSocket: JSON text frames. */
export class WebSocketTransport extends TransportBase implements Transport {
  constructor(
    private readonly socket: WebSocket,
    private readonly options: WebSocketTransportOptions = {},
  ) {
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
    const { maxBytes } = this.options;
    // Over the limit, only a call that carries files may go on to be parsed (birpc writes the method first).
    if (maxBytes !== undefined && text.length > maxBytes && !/^\{"m":"chats\.(send|import)"/.test(text.slice(0, 40))) {
      this.close('message too big', 1009);
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
    const bytes = Buffer.byteLength(text);
    if (maxBytes !== undefined && bytes > maxBytes && bytes > maxBytes + messageMediaAllowance(message)) {
      this.close('message too big', 1009);
      return;
    }
    this.deliver(message, bytes);
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
