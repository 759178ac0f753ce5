/*
 * Over 500 lines, one purpose: the sharing side of a link (listening, pairing,
 * sessions, tunnels). Strangers' limits live in link-admission.ts; what a peer
 * may call lives in peer-handlers.ts.
 */
import { randomBytes, createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { HostHandlers } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { PairedClient, SharingStatus } from '../../shared/machines';
import { isLoopbackAddress } from '../../shared/loopback';
import { secretsMatch } from '../platform/http-security';
import { WebSocketTransport } from '../platform/ws-transport';
import { serveConnection } from '../platform/serve-connection';
import { SerialFileWriter } from '../platform/atomic-file';
import type { EventBus } from '../platform/events';
import { loadOrCreateIdentity, type LinkIdentity } from './certificate';
import {
  CLOSE_RATE_LIMITED,
  CLOSE_REFUSED,
  helloSchema,
  LINK_PATH,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL,
  machineIdOf,
  MAX_LINK_MESSAGE_BYTES,
  type Answer,
} from './link-protocol';
import { addressKey, endThenDestroy, MAX_GUEST_REPLIES, StrangerGate } from './link-admission';
import { encodePairingCode } from './pairing-code';
import { peerSession } from './peer-handlers';

export const DEFAULT_SHARE_PORT = 4850;
/** A pairing code is good for one pairing within this time. */
const CODE_LIFETIME_MS = 10 * 60 * 1000;
/** The first message must come within this time of connecting. */
const HELLO_TIMEOUT_MS = 10_000;

interface PairingRecord {
  id: string;
  name: string;
  /** The peer's machine id, as it said when pairing. */
  machineId: string;
  /** SHA-256 of the key, hex: the key itself is kept only by the paired machine. */
  keyHash: string;
  pairedAt: string;
  lastSeenAt: string | null;
}

interface SharingFile {
  enabled: boolean;
  /** The port last listened on: kept, so paired machines find this one again after a restart. */
  port?: number;
  name: string | null;
  pairings: PairingRecord[];
}

export interface SharingOptions {
  dataDir: string;
  events: EventBus;
  /** The host's own handlers; a paired machine gets a restricted view of them (peer-handlers.ts). */
  handlers: () => HostHandlers;
  log: (line: string) => void;
  /** From the command line (`serve --share --share-host … --share-port …`), over the stored switch. */
  override?: { enabled?: boolean; host?: string; port?: number; name?: string };
  /** Shorter heartbeat, for tests. */
  heartbeatMs?: number;
  /** The local port of the RPC helper running for a pairing (split models), if any: what a tunnel reaches. */
  tunnelPort?: (pairingId: string) => number | null;
  /** Called when a pairing's last link closes (its RPC helper can stop). */
  onPairingGone?: (pairingId: string) => void;
  /** Starts and stops a pairing's RPC helper (split models). */
  helpers?: { start(pairingId: string): Promise<unknown>; stop(pairingId: string): boolean };
  /** Replies for paired machines (see guestGenerate). */
  generateForPeer?: HostHandlers['models.generate'];
  /** Downloads for paired machines, saying whether the call made the job (see peer-handlers). */
  startDownloadForPeer?: (
    input: Parameters<HostHandlers['downloads.start']>[0],
  ) => Promise<{ job: import('../../shared/hub').DownloadJob; created: boolean }>;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const token = (bytes = 32) => randomBytes(bytes).toString('base64url');

/** An address a machine on the LAN can reach this one at, for the pairing code. */
function advertisedHost(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return bindHost;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const entry of list ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  return '127.0.0.1';
}

/**
 * "Share this machine": a TLS WebSocket server (the certificate made once and
 * kept; paired machines pin its fingerprint) that takes paired machines only.
 * Off unless switched on. A pairing code carries the address, the fingerprint
 * and a one-time secret; each pairing gets its own key, revocable from
 * either side.
 */
export class SharingService {
  private identity: LinkIdentity | null = null;
  private state: SharingFile = { enabled: false, name: null, pairings: [] };
  private readonly writer: SerialFileWriter;
  private server: https.Server | null = null;
  private wss: WebSocketServer | null = null;
  private listening: { host: string; port: number } | null = null;
  private error: string | null = null;
  private code: { secret: string; expiresAt: number } | null = null;
  private readonly sessions = new Map<string, Set<WebSocket>>(); // pairing id → live links
  private readonly peerDownloads = new Map<string, Set<string>>(); // pairing id → the downloads it started
  private readonly guestReplies = new Map<string, { count: number }>(); // pairing id → its replies running or waiting
  private readonly sockets = new Set<Socket>();
  /** Strangers' connections and attempts, and their limits (link-admission.ts). */
  private readonly gate = new StrangerGate();
  private readonly hiddenPaths: string[];

  constructor(private readonly options: SharingOptions) {
    this.writer = new SerialFileWriter(path.join(options.dataDir, 'link', 'sharing.json'));
    this.hiddenPaths = [options.dataDir, os.homedir()].filter((p) => p.length > 3);
  }

  async open(): Promise<void> {
    try {
      const stored = JSON.parse(await fs.readFile(this.writer.file, 'utf8')) as Partial<SharingFile>;
      this.state = {
        enabled: stored.enabled === true,
        name: typeof stored.name === 'string' ? stored.name : null,
        pairings: Array.isArray(stored.pairings) ? stored.pairings.filter((p) => p && typeof p.keyHash === 'string') : [],
        ...(typeof stored.port === 'number' && Number.isInteger(stored.port) && stored.port > 0 && stored.port < 65536
          ? { port: stored.port }
          : {}),
      };
    } catch {
      // none yet (or unreadable: sharing stays off and no pairing is honoured)
    }
    if (this.options.override?.name) this.state.name = this.options.override.name;
    const enabled = this.options.override?.enabled ?? this.state.enabled;
    if (enabled) await this.setEnabled(true, { persist: this.options.override?.enabled === undefined });
  }

  name(): string {
    return (this.state.name ?? os.hostname().split('.')[0] ?? 'this machine').slice(0, 60) || 'this machine';
  }

  /** This machine's id as paired machines know it (from its certificate). */
  async machineId(): Promise<string> {
    return machineIdOf((await this.ensureIdentity()).fingerprint);
  }

  private async ensureIdentity(): Promise<LinkIdentity> {
    this.identity ??= await loadOrCreateIdentity(this.options.dataDir);
    return this.identity;
  }

  status(): SharingStatus {
    const code =
      this.listening && this.identity && this.code && this.code.expiresAt > Date.now()
        ? encodePairingCode({
            host: advertisedHost(this.listening.host),
            port: this.listening.port,
            fingerprint: this.identity.fingerprint,
            secret: this.code.secret,
            name: this.name(),
          })
        : null;
    const address = this.listening ? `${advertisedHost(this.listening.host)}:${this.listening.port}` : null;
    return {
      name: this.name(),
      enabled: this.listening !== null || this.state.enabled,
      listening: this.listening !== null,
      address,
      fingerprint: this.identity?.fingerprint ?? null,
      code,
      codeExpiresAt: code && this.code ? new Date(this.code.expiresAt).toISOString() : null,
      error: this.error,
      clients: this.state.pairings.map((p): PairedClient => ({
        id: p.id,
        name: p.name,
        pairedAt: p.pairedAt,
        lastSeenAt: p.lastSeenAt,
        connected: this.sessions.has(p.id),
      })),
    };
  }

  private changed(): void {
    this.options.events.emit('onSharingChanged', this.status());
  }

  private save(): Promise<void> {
    return this.writer.write(JSON.stringify(this.state, null, 2)).catch((error: unknown) => {
      this.options.log(`sharing: could not save: ${(error as Error).message}`);
    });
  }

  async setEnabled(enabled: boolean, { persist = true } = {}): Promise<SharingStatus> {
    if (persist && this.state.enabled !== enabled) {
      this.state.enabled = enabled;
      await fs.mkdir(path.dirname(this.writer.file), { recursive: true, mode: 0o700 });
      await this.save();
    }
    if (enabled && !this.listening) await this.listen();
    if (!enabled && this.listening) await this.stopListening();
    this.changed();
    return this.status();
  }

  newCode(): SharingStatus {
    if (!this.listening) throw new RpcError('unavailable', 'Turn on "Share this machine" first.');
    this.code = { secret: token(16), expiresAt: Date.now() + CODE_LIFETIME_MS };
    this.changed();
    return this.status();
  }

  async revoke(pairingId: string): Promise<SharingStatus> {
    const before = this.state.pairings.length;
    this.state.pairings = this.state.pairings.filter((p) => p.id !== pairingId);
    if (this.state.pairings.length === before) throw new RpcError('not_found', 'No such paired machine.');
    await this.save();
    for (const ws of this.sessions.get(pairingId) ?? []) ws.close(CLOSE_REFUSED, 'pairing revoked');
    this.sessions.delete(pairingId);
    this.peerDownloads.delete(pairingId);
    this.guestReplies.delete(pairingId);
    this.options.log('sharing: a pairing was revoked');
    this.changed();
    return this.status();
  }

  private async listen(): Promise<void> {
    const identity = await this.ensureIdentity();
    const host = this.options.override?.host ?? '0.0.0.0';
    // Port 0 (any free port) is chosen once and then kept, so that paired machines find this one again.
    const wanted = this.options.override?.port ?? DEFAULT_SHARE_PORT;
    const port = wanted === 0 && this.state.port ? this.state.port : wanted;
    const server = https.createServer(
      { key: identity.key, cert: identity.cert, minVersion: 'TLSv1.3', handshakeTimeout: 10_000 },
      (_req, res) => {
        // Nothing is served over plain requests: the link is a WebSocket, and only for paired machines.
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
        res.end('Not found');
      },
    );
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    server.on('connection', (socket: Socket) => {
      if (!this.gate.connection(socket)) return;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('tlsClientError', () => undefined);
    server.on('secureConnection', (socket: TLSSocket) => this.gate.admit(socket));
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_LINK_MESSAGE_BYTES, perMessageDeflate: false });
    server.on('upgrade', (req, socket, head) => {
      // From here on the socket is ours alone (the HTTP server has let go of it): its errors too.
      socket.on('error', () => socket.destroy());
      const url = new URL(req.url ?? '/', 'https://link');
      if (url.pathname === TUNNEL_PATH && req.headers.origin === undefined && req.headers.upgrade === TUNNEL_PROTOCOL) {
        this.tunnel(req, socket as Socket, head);
        return;
      }
      // A browser always sends Origin: no web page may open a link.
      if (url.pathname !== LINK_PATH || req.headers.origin !== undefined) {
        endThenDestroy(socket, 'HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req.socket));
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.error =
        code === 'EADDRINUSE'
          ? `Port ${port} is in use: another program (or another Freehold) is sharing on it.`
          : `Could not listen on ${host}:${port}: ${(error as Error).message}`;
      this.options.log(`sharing: ${this.error}`);
      server.close();
      return;
    }
    this.server = server;
    this.wss = wss;
    this.error = null;
    this.listening = { host, port: (server.address() as AddressInfo).port };
    if (this.state.port !== this.listening.port) {
      this.state.port = this.listening.port;
      await fs.mkdir(path.dirname(this.writer.file), { recursive: true, mode: 0o700 });
      await this.save();
    }
    this.code = { secret: token(16), expiresAt: Date.now() + CODE_LIFETIME_MS };
    if (!isLoopbackAddress(host)) this.options.log(`sharing: listening on ${host}:${this.listening.port} for paired machines (TLS)`);
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    for (const ws of this.wss?.clients ?? []) ws.close(1001, 'sharing turned off');
    this.wss?.close();
    this.server = null;
    this.wss = null;
    this.listening = null;
    this.code = null;
    this.sessions.clear();
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of this.sockets) socket.end();
        setTimeout(() => {
          for (const socket of this.sockets) socket.destroy();
        }, 500).unref();
      });
    }
  }

  private accept(ws: WebSocket, socket: Socket): void {
    const address = addressKey(socket.remoteAddress ?? 'unknown');
    let inSession = false;
    // Frames the ws library rejects (oversized, unmasked, bad UTF-8) arrive here, from the first byte on.
    ws.on('error', () => {
      if (!inSession) this.gate.failed(address);
      ws.terminate();
    });
    const answer = (message: Answer) => ws.send(JSON.stringify(message));
    const refuse = (code: 'refused' | 'rate_limited' | 'bad_message', message: string) => {
      answer({ t: 'refused', code, message });
      ws.close(code === 'rate_limited' ? CLOSE_RATE_LIMITED : CLOSE_REFUSED, code);
    };
    const timer = setTimeout(() => ws.terminate(), HELLO_TIMEOUT_MS);
    ws.once('message', (data, isBinary) => {
      clearTimeout(timer);
      if (this.gate.turnedAway(address)) {
        return refuse('rate_limited', 'Too many failed attempts from this address: wait a minute and try again.');
      }
      let hello;
      try {
        hello = helloSchema.safeParse(isBinary ? null : JSON.parse(String(data)));
      } catch {
        hello = null;
      }
      if (!hello?.success) {
        this.gate.failed(address);
        return refuse('bad_message', 'Not a Freehold link message.');
      }
      const message = hello.data;
      if (message.t === 'pair') {
        if (!this.gate.pairAttempt(address)) {
          return refuse('rate_limited', 'Too many pairing attempts: wait a minute and try again.');
        }
        const code = this.code;
        if (!code || code.expiresAt <= Date.now() || !secretsMatch(message.secret, code.secret)) {
          this.gate.failed(address);
          return refuse(
            'refused',
            `${this.name()} refused the pairing: the code is wrong, expired or already used. Make a new code on ${this.name()}.`,
          );
        }
        // One use only; the next machine gets a new code.
        this.code = { secret: token(16), expiresAt: Date.now() + CODE_LIFETIME_MS };
        const key = token(32);
        const record: PairingRecord = {
          id: token(12),
          name: message.name,
          machineId: message.machineId,
          keyHash: sha256(key),
          pairedAt: new Date().toISOString(),
          lastSeenAt: new Date().toISOString(),
        };
        this.state.pairings.push(record);
        void this.save();
        this.options.log(`sharing: paired with ${record.name}`);
        void this.machineId().then((id) => {
          answer({ t: 'paired', pairingId: record.id, key, machine: { id, name: this.name() } });
          ws.close(1000, 'paired');
          this.changed();
        });
        return;
      }
      // A session or an unpairing: the key is checked against its hash in constant time.
      const record = this.state.pairings.find((p) => p.id === message.pairingId);
      const expected = record?.keyHash ?? sha256(token(32));
      if (!record || !secretsMatch(sha256(message.key), expected)) {
        this.gate.failed(address);
        return refuse(
          'refused',
          `${this.name()} does not know this machine: the pairing was revoked (or never made). Pair again with a new code.`,
        );
      }
      if (message.t === 'unpair') {
        void this.revoke(record.id).catch(() => undefined);
        answer({ t: 'unpaired' });
        ws.close(1000, 'unpaired');
        return;
      }
      void this.machineId().then((id) => {
        if (ws.readyState !== ws.OPEN) return;
        inSession = true;
        this.gate.welcomed(socket);
        answer({ t: 'welcome', machine: { id, name: this.name() } });
        this.startSession(ws, record);
      });
    });
  }

  /**
   * A tunnel to this pairing's RPC helper: the TLS connection itself, after an
   * HTTP upgrade that carries the pairing's id and key (checked as for a
   * link), is piped to the helper on 127.0.0.1. No framing on the way: each
   * of llama.cpp's small RPC messages costs only the relay.
   */
  private tunnel(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const address = addressKey(req.socket.remoteAddress ?? 'unknown');
    const deny = (status: number, text: string) => {
      endThenDestroy(
        socket,
        `HTTP/1.1 ${status} ${status === 429 ? 'Too Many Requests' : 'Forbidden'}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      );
    };
    if (this.gate.turnedAway(address)) return deny(429, 'Too many failed attempts from this address.');
    const pairingId = String(req.headers['x-freehold-pairing'] ?? '');
    const key = String(req.headers['x-freehold-key'] ?? '');
    const record = this.state.pairings.find((p) => p.id === pairingId);
    if (!record || !secretsMatch(sha256(key), record.keyHash)) {
      this.gate.failed(address);
      return deny(403, `${this.name()} does not know this machine: the pairing was revoked (or never made).`);
    }
    const port = this.options.tunnelPort?.(record.id) ?? null;
    if (port === null) return deny(403, `${this.name()} is not running a split-model helper for this machine.`);
    // Authenticated: the helper's traffic (tensors, megabytes) is not a stranger's.
    this.gate.welcomed(socket);
    const helper = net.connect({ host: '127.0.0.1', port });
    helper.setNoDelay(true);
    socket.setNoDelay(true);
    helper.once('connect', () => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_PROTOCOL}\r\n\r\n`);
      if (head.length) helper.write(head);
      socket.pipe(helper).pipe(socket);
    });
    helper.on('error', () => socket.destroy());
    socket.on('error', () => helper.destroy());
    socket.on('close', () => helper.destroy());
    helper.on('close', () => socket.destroy());
  }

  private startSession(ws: WebSocket, record: PairingRecord): void {
    let set = this.sessions.get(record.id);
    if (!set) this.sessions.set(record.id, (set = new Set()));
    set.add(ws);
    record.lastSeenAt = new Date().toISOString();
    void this.save();
    this.changed();
    const transport = new WebSocketTransport(ws);
    const session = peerSession(this.options.handlers(), {
      pairingId: record.id,
      hiddenPaths: this.hiddenPaths,
      helpers: this.options.helpers,
      generate: this.options.generateForPeer,
      startDownload: this.options.startDownloadForPeer,
      downloads: this.peerDownloads.get(record.id) ?? this.peerDownloads.set(record.id, new Set()).get(record.id)!,
      replies: this.guestReplies.get(record.id) ?? this.guestReplies.set(record.id, { count: 0 }).get(record.id)!,
      maxReplies: MAX_GUEST_REPLIES,
    });
    let protocolErrors = 0;
    serveConnection(transport, session.handlers, this.options.events, {
      maxMessageBytes: MAX_LINK_MESSAGE_BYTES,
      filterEvent: session.filterEvent,
      onProtocolError: (error) => {
        protocolErrors += 1;
        this.options.log(`link: ${error.code}: ${error.message}`);
        if (protocolErrors >= 20) transport.close('too many malformed messages', 1008);
      },
    });
    // A dead peer (its machine asleep, the cable out) is noticed by the missing pongs.
    let alive = true;
    ws.on('pong', () => (alive = true));
    const heartbeat = setInterval(() => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    }, this.options.heartbeatMs ?? 5000);
    transport.onClose(() => {
      clearInterval(heartbeat);
      session.abortAll();
      set.delete(ws);
      if (set.size === 0) {
        this.sessions.delete(record.id);
        this.options.onPairingGone?.(record.id);
      }
      record.lastSeenAt = new Date().toISOString();
      void this.save();
      this.changed();
    });
  }

  async close(): Promise<void> {
    if (this.listening) await this.stopListening();
    await this.writer.flush();
  }
}
