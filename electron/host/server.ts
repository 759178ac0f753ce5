import http from 'node:http';
import path from 'node:path';
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
export const UPLOAD_PATH = '/api/upload';
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
    const requestUrl = new URL(req.url ?? '/', 'http://localhost');
    if (requestUrl.pathname === UPLOAD_PATH) {
      handleUpload(req, res, requestUrl).catch((error: unknown) => {
        log(`upload error: ${String(error)}`);
        if (!res.headersSent) res.writeHead(500, { ...securityHeaders, 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error: 'The upload failed.' }));
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...securityHeaders, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Method not allowed');
      return;
    }
    serveStatic(options.rendererDir, requestUrl.pathname, res).catch((error: unknown) => {
      log(`static file error: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500, securityHeaders);
      res.end();
    });
  });
  /**
   * The browser UI cannot hand over a file path, so a dropped model is
   * streamed here and stored as a copy. Same checks as the WebSocket: Host,
   * Origin and the launch secret (in a header, so it is never in a URL).
   */
  async function handleUpload(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { ...securityHeaders, 'Content-Type': 'application/json', Connection: 'close' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST') return reply(405, { ok: false, error: 'Use POST.' });
    if (!isAllowedOrigin(req.headers.origin, allowed)) return reply(403, { ok: false, error: 'Forbidden origin.' });
    const token = req.headers['x-freehold-token'];
    if (!secretsMatch(typeof token === 'string' ? token : null, secret)) return reply(401, { ok: false, error: 'Unauthorized.' });
    const name = url.searchParams.get('name') ?? '';
    if (!/\.gguf$/i.test(name) || name.length > 255) return reply(400, { ok: false, error: 'Only .gguf files can be imported.' });
    const length = Number(req.headers['content-length']);
    const library = options.services.library;
    try {
      if (Number.isFinite(length) && length > 0) await library.ensureSpace(path.join(options.services.library.modelsDirectory()), length);
      const model = await library.importStream(name, req, (bytes) =>
        options.services.events.emit('onImportProgress', { path: name, bytes, totalBytes: Number.isFinite(length) ? length : 0 }),
      );
      reply(200, { ok: true, model });
    } catch (error) {
      req.resume();
      reply((error as { code?: string }).code === 'conflict' ? 507 : 422, { ok: false, error: (error as Error).message });
    }
  }

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
