import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES } from '../../shared/rpc/protocol';
import { serveConnection } from '../rpc/serve-connection';
import type { HostServices } from '../services/host-services';
import {
  allowedHostHeaders,
  createLaunchSecret,
  isAllowedHost,
  isAllowedOrigin,
  secretsMatch,
} from './http-security';
import { securityHeaders, serveStatic } from './static-files';
import { WebSocketTransport } from './ws-transport';

export interface HeadlessHostOptions {
  services: HostServices;
  rendererDir: string;
  port?: number;
  host?: string;
  /** Fixed secret, for tests; a random one is made per launch otherwise. */
  secret?: string;
  log?: (line: string) => void;
}

export interface HeadlessHost {
  url: string;
  port: number;
  secret: string;
  connections(): number;
  close(): Promise<void>;
}

export const RPC_PATH = '/rpc';
/** A connection that keeps sending garbage is dropped after this many bad messages. */
const MAX_PROTOCOL_ERRORS = 20;

/**
 * Serves the built renderer over HTTP and the host contract over a WebSocket
 * at /rpc. Every request's Host header is checked; the WebSocket also needs the
 * per-launch secret and, from a browser, this server's own Origin.
 */
export async function startHeadlessHost(options: HeadlessHostOptions): Promise<HeadlessHost> {
  const bindHost = options.host ?? '127.0.0.1';
  const secret = options.secret ?? createLaunchSecret();
  const log = options.log ?? (() => undefined);
  let allowed = new Set<string>();
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    if (!isAllowedHost(req.headers.host, allowed)) {
      res.writeHead(421, { ...securityHeaders, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Host not allowed');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...securityHeaders, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method not allowed');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    serveStatic(options.rendererDir, url.pathname, res).catch((error: unknown) => {
      log(`static file error: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500, securityHeaders);
      res.end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  server.on('upgrade', (req, socket, head) => {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== RPC_PATH) return refuse(404, 'Not Found');
    if (!isAllowedHost(req.headers.host, allowed)) return refuse(421, 'Misdirected Request');
    if (!isAllowedOrigin(req.headers.origin, allowed)) return refuse(403, 'Forbidden');
    if (!secretsMatch(url.searchParams.get('token'), secret)) return refuse(401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const transport = new WebSocketTransport(ws);
      let protocolErrors = 0;
      serveConnection(transport, options.services.handlers, options.services.events, {
        onProtocolError: (error) => {
          protocolErrors += 1;
          log(`rpc: ${error.code}: ${error.message}`);
          if (protocolErrors >= MAX_PROTOCOL_ERRORS) transport.close('too many malformed messages', 1008);
        },
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, bindHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  allowed = allowedHostHeaders(bindHost, port);
  const displayHost = bindHost === '0.0.0.0' || bindHost === '::' ? '127.0.0.1' : bindHost.includes(':') ? `[${bindHost}]` : bindHost;

  return {
    url: `http://${displayHost}:${port}/?token=${secret}`,
    port,
    secret,
    connections: () => wss.clients.size,
    async close() {
      for (const client of wss.clients) client.close(1001, 'host shutting down');
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive sockets would hold close() open; end them.
        for (const socket of sockets) socket.end();
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, 1000).unref();
      });
    },
  };
}
