import WebSocket from 'ws';
import { TransportBase, type Transport } from '../../shared/rpc/transport';

/** A Node WebSocket as a client transport, for tests of the headless host. */
export class NodeWebSocketTransport extends TransportBase implements Transport {
  constructor(readonly socket: WebSocket) {
    super();
    socket.on('message', (data) => this.deliver(JSON.parse(data.toString())));
    socket.on('close', (code) => this.markClosed(String(code)));
  }
  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }
  close(): void {
    this.socket.close();
    this.markClosed('closed');
  }
}

export interface Opened {
  socket: WebSocket;
  transport: NodeWebSocketTransport;
}

/** Opens a WebSocket; resolves when open or rejects with the HTTP status of a refusal. */
export function openSocket(url: string, headers: Record<string, string> = {}): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => resolve({ socket, transport: new NodeWebSocketTransport(socket) }));
    socket.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`refused with ${res.statusCode}`), { status: res.statusCode }));
      socket.terminate();
    });
    socket.once('error', (error) => reject(error));
  });
}

export function closeCode(socket: WebSocket): Promise<number> {
  return new Promise((resolve) => socket.once('close', (code) => resolve(code)));
}
