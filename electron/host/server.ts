import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { displayFileName } from '../../shared/file-names';
import { MAX_MESSAGE_BYTES, MAX_UI_FRAME_BYTES } from '../../shared/rpc/protocol';
import { serveConnection } from '../platform/serve-connection';
import type { HostServices } from '../services/host-services';
import type { Events, HostHandlers } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import { isLoopbackAddress } from '../../shared/loopback';
import { LOCAL_ONLY_API_MESSAGE, localOnlyApiMethods } from '../services/handlers/api';
import { localOnlyMethods } from '../services/handlers/machines';
import { redactSecrets, restrictStdioEdits } from '../services/handlers/tools';
import { allowedHostHeaders, createLaunchSecret, isAllowedHost, isAllowedOrigin, secretsMatch } from '../platform/http-security';
import { securityHeaders, serveStatic } from './static-files';
import { UploadGuard, UploadRefused } from '../platform/upload-guard';
import { WebSocketTransport } from '../platform/ws-transport';

export interface HeadlessHostOptions {
  services: HostServices;
  rendererDir: string;
  port?: number;
  host?: string;
  /** Fixed secret, for tests; a random one is made per launch otherwise. */
  secret?: string;
  log?: (line: string) => void;
  /** Shorter timeouts, for tests (see HOST_TIMEOUTS). */
  timeouts?: Partial<HostTimeouts>;
  /** An upload's room on disk is checked again each time this many bytes have arrived (default 64 MiB). */
  uploadSpaceCheckBytes?: number;
}

export interface HostTimeouts {
  /** To receive a request's headers. */
  headersMs: number;
  /**
   * A connection with nothing moving either way for this long is closed. There
   * is no limit on a request's total time: an upload of 40 GB at 130 MB/s takes
   * five minutes, and Node's default of 300 s for the whole request would cut it.
   */
  idleMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveMs: number;
  /** How often Node looks for headers past their time. */
  checkEveryMs: number;
}

export const HOST_TIMEOUTS: HostTimeouts = { headersMs: 20_000, idleMs: 60_000, keepAliveMs: 5_000, checkEveryMs: 1_000 };

export interface HeadlessHost {
  url: string;
  port: number;
  secret: string;
  connections(): number;
  close(): Promise<void>;
}

export const RPC_PATH = '/rpc';

/** The handlers for a browser UI that is not on this machine: pairing, sharing and making or revoking API keys refused, with the reason. */
export function remoteBrowserHandlers(handlers: HostHandlers): HostHandlers {
  const copy = { ...handlers } as Record<string, unknown>;
  for (const name of localOnlyMethods) {
    copy[name] = () => {
      throw new RpcError('forbidden', 'Pairing and sharing are only possible from a browser on the machine Freehold runs on (127.0.0.1).');
    };
  }
  for (const name of localOnlyApiMethods) {
    copy[name] = () => {
      throw new RpcError('forbidden', LOCAL_ONLY_API_MESSAGE);
    };
  }
  // Files and folders by path are this machine's: a browser elsewhere uploads its documents instead.
  for (const name of ['docs.add', 'docs.createCollection'] as const) {
    const local = handlers[name] as (input: { folders?: string[] }) => unknown;
    copy[name] = (input: { folders?: string[] }) => {
      if (name === 'docs.createCollection' && !input.folders?.length) return local(input);
      throw new RpcError(
        'forbidden',
        'Documents by path are only added from a browser on the machine Freehold runs on; drop the files instead.',
      );
    };
  }
  // Where the hub's requests go decides where the Hugging Face token would go: set on this machine only.
  copy['settings.update'] = async (patch: Parameters<HostHandlers['settings.update']>[0]) => {
    const endpoint = patch.hub?.endpoint;
    if (endpoint !== undefined) {
      const now = (await handlers['settings.get'](undefined)).hub.endpoint;
      if (endpoint.replace(/\/+$/, '') !== now.replace(/\/+$/, '')) {
        throw new RpcError(
          'forbidden',
          'The Hugging Face endpoint (where searches, downloads and the access token go) is changed only from the machine Freehold runs on.',
        );
      }
    }
    return handlers['settings.update'](patch);
  };
  return copy as HostHandlers;
}
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

  const timeouts = { ...HOST_TIMEOUTS, ...options.timeouts };
  const serverOptions: http.ServerOptions = {
    headersTimeout: timeouts.headersMs,
    requestTimeout: 0,
    keepAliveTimeout: timeouts.keepAliveMs,
    connectionsCheckingInterval: timeouts.checkEveryMs,
  };
  const server = http.createServer(serverOptions, (req, res) => {
    if (!isAllowedHost(req.headers.host, allowed)) {
      // Refusals close the connection: the client may still be sending a body nobody will read.
      res.writeHead(421, { ...securityHeaders, 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
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
      res.writeHead(405, { ...securityHeaders, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
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
    const given = url.searchParams.get('name') ?? '';
    // Shown to every tab and stored as the model's name: no control or bidi characters, no folders.
    const name = displayFileName(given);
    if (!/.\.gguf$/i.test(name) || given.length > 255) return reply(400, { ok: false, error: 'Only .gguf files can be imported.' });
    const length = Number.isSafeInteger(Number(req.headers['content-length'])) ? Number(req.headers['content-length']) : null;
    const library = options.services.library;
    const dir = library.modelsDirectory();
    const guard = new UploadGuard({
      ensureSpace: (bytes) => library.ensureSpace(dir, bytes),
      expectedBytes: length,
      spaceCheckBytes: options.uploadSpaceCheckBytes ?? 64 * 1024 * 1024,
    });
    let refused: UploadRefused | undefined;
    guard.on('error', (error) => {
      if (error instanceof UploadRefused) refused = error;
    });
    // A client that goes away, or an upload idle past its time (the socket is then destroyed), leaves no partial file.
    req.on('close', () => {
      if (!req.complete) guard.destroy(new Error('The upload was cut off before its end.'));
    });
    // Once all of it has come, the check and the flush to disk may keep the connection quiet for a while.
    req.on('end', () => req.socket.setTimeout(0));
    req.pipe(guard);
    try {
      if (length !== null && length > 0) await library.ensureSpace(dir, length);
      const model = await library.importStream(name, guard, (bytes) =>
        options.services.events.emit('onImportProgress', { path: name, bytes, totalBytes: length ?? 0 }),
      );
      reply(200, { ok: true, model });
    } catch (error) {
      req.unpipe(guard);
      if (!guard.destroyed) guard.destroy();
      // Answered at once; Connection: close then ends the connection, so nothing more of the body is read.
      const status = refused?.status ?? ((error as { code?: string }).code === 'conflict' ? 507 : 422);
      reply(status, { ok: false, error: refused?.message ?? (error as Error).message });
    }
  }

  // Idle connections only: a steady upload, however long, is never cut.
  server.timeout = timeouts.idleMs;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  // Room for a message with images and audio; every other message is held to MAX_MESSAGE_BYTES (the transport closes on more).
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_UI_FRAME_BYTES });

  server.on('upgrade', (req, socket, head) => {
    // The HTTP server has let go of an upgraded socket: its errors are ours from here (a reset must not end the host).
    socket.on('error', () => socket.destroy());
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== RPC_PATH) return refuse(404, 'Not Found');
    if (!isAllowedHost(req.headers.host, allowed)) return refuse(421, 'Misdirected Request');
    if (!isAllowedOrigin(req.headers.origin, allowed)) return refuse(403, 'Forbidden');
    if (!secretsMatch(url.searchParams.get('token'), secret)) return refuse(401, 'Unauthorized');
    // A browser on another machine may use the paired machines, but not pair, share, or see the pairing code.
    const local = isLoopbackAddress(req.socket.remoteAddress ?? '');
    // Programs to run as tools are added from a browser only on this machine, with the host on 127.0.0.1 alone.
    const editsStdio = local && isLoopbackAddress(bindHost);
    const { mcp } = options.services;
    wss.handleUpgrade(req, socket, head, (ws) => {
      const transport = new WebSocketTransport(ws, { maxBytes: MAX_MESSAGE_BYTES });
      let protocolErrors = 0;
      const base = local ? options.services.handlers : remoteBrowserHandlers(options.services.handlers);
      serveConnection(transport, editsStdio ? base : restrictStdioEdits(base, mcp), options.services.events, {
        filterEvent: (event, payload) => {
          if (!local && event === 'onSharingChanged') return undefined;
          if (!editsStdio && event === 'onToolsChanged')
            return redactSecrets({ ...(payload as Events['onToolsChanged']), canEditStdio: false }) as typeof payload;
          return payload;
        },
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
