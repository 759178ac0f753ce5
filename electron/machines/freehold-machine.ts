/*
 * Over 500 lines with two purposes, the link's client (open, pair, tunnel) and
 * the machine it presents (state, models, replies): to be split by issue 24.
 */
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import type { InferenceStatus } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { DownloadJob } from '../../shared/hub';
import type { GenerateResult } from '../../shared/inference';
import { remoteModelRef, type MachineHardware, type MachineInfo, type MachineState, type RemoteModel } from '../../shared/machines';
import { createHostClient, type HostClient } from '../../shared/rpc/client';
import { WebSocketTransport } from '../platform/ws-transport';
import { fingerprintOf } from './certificate';
import {
  answerSchema,
  CLOSE_RATE_LIMITED,
  CLOSE_REFUSED,
  LINK_PATH,
  MAX_LINK_MESSAGE_BYTES,
  TUNNEL_PATH,
  TUNNEL_PROTOCOL,
  type Answer,
  type Hello,
} from './link-protocol';
import type { DeltaParts, MachineBackend, RemoteGenerateInput } from './machine';
import type { PairingCode } from './pairing-code';

/** A paired Freehold as stored on this machine: where it is, the fingerprint it must show, and this pairing's key. */
export interface PairedMachineRecord {
  id: string;
  kind: 'freehold';
  name: string;
  host: string;
  port: number;
  fingerprint: string;
  pairingId: string;
  key: string;
  order: number;
  addedAt: string;
}

export interface LinkTimings {
  /** To connect and be welcomed. */
  connectTimeoutMs: number;
  /** A ping this often … */
  heartbeatMs: number;
  /** … and the link is dead when nothing has come back for this long. */
  deadAfterMs: number;
  /** Reconnection delays; the last repeats. */
  backoffMs: number[];
  /** How often hardware and memory are read again while online. */
  refreshMs: number;
}

export const LINK_TIMINGS: LinkTimings = {
  connectTimeoutMs: 8000,
  heartbeatMs: 1000,
  deadAfterMs: 4000,
  backoffMs: [1000, 2000, 5000, 10_000, 30_000],
  refreshMs: 10_000,
};

class LinkRefused extends RpcError {}

const addressOf = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Opens a link: TLS, with the certificate checked against the pinned
 * fingerprint before anything but the request line is sent, then the hello.
 * Resolves with the open socket and the answer.
 */
function openLink(
  target: { host: string; port: number; fingerprint: string; name: string },
  hello: Hello,
  timeoutMs: number,
): Promise<{ ws: WebSocket; answer: Answer }> {
  return new Promise((resolve, reject) => {
    const where = `${target.name} (${addressOf(target.host, target.port)})`;
    const ws = new WebSocket(`wss://${addressOf(target.host, target.port)}${LINK_PATH}`, {
      // No CA is involved: the certificate is trusted by its fingerprint alone, checked below.
      rejectUnauthorized: false,
      maxPayload: MAX_LINK_MESSAGE_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    let settled = false;
    const fail = (error: RpcError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new RpcError('disconnected', `${where} did not answer within ${Math.round(timeoutMs / 1000)} s.`)),
      timeoutMs,
    );
    ws.on('upgrade', (response) => {
      const socket = response.socket as TLSSocket;
      const raw = socket.getPeerCertificate?.()?.raw;
      if (!raw || fingerprintOf(raw) !== target.fingerprint) {
        fail(
          new LinkRefused(
            'refused',
            `${where} presented a different certificate from the one paired, so the link was refused: something on the network may be intercepting it, or ${target.name}'s data folder was replaced. If you trust it, remove the machine and pair again.`,
          ),
        );
      }
    });
    ws.on('open', () => {
      if (settled) return;
      ws.send(JSON.stringify(hello));
    });
    ws.once('message', (data) => {
      if (settled) return;
      let answer: Answer;
      try {
        const parsed = answerSchema.safeParse(JSON.parse(String(data)));
        if (!parsed.success) throw new Error('unreadable');
        answer = parsed.data;
      } catch {
        return fail(new RpcError('bad_message', `${where} answered with something that is not a Freehold link message.`));
      }
      if (answer.t === 'refused') {
        return fail(new LinkRefused(answer.code === 'rate_limited' ? 'rate_limited' : 'refused', answer.message));
      }
      settled = true;
      clearTimeout(timer);
      resolve({ ws, answer });
    });
    ws.on('close', (code, reason) => {
      if (code === CLOSE_REFUSED || code === CLOSE_RATE_LIMITED)
        return fail(new LinkRefused('refused', `${where} refused the link (${reason.toString()}).`));
      fail(new RpcError('disconnected', `${where} closed the connection.`));
    });
    ws.on('error', (error) => fail(new RpcError('disconnected', `${where} could not be reached: ${error.message}`)));
  });
}

/** Pairs with the machine a code names: the one-time secret for a key of this pairing's own. */
export async function pairWithCode(
  code: PairingCode,
  me: { name: string; machineId: string },
  timeoutMs = LINK_TIMINGS.connectTimeoutMs,
): Promise<{ machineId: string; name: string; pairingId: string; key: string }> {
  const { ws, answer } = await openLink(
    { host: code.host, port: code.port, fingerprint: code.fingerprint, name: code.name || 'The machine' },
    { t: 'pair', v: 1, secret: code.secret, name: me.name, machineId: me.machineId },
    timeoutMs,
  );
  ws.close(1000, 'paired');
  if (answer.t !== 'paired') throw new RpcError('bad_message', `${code.name} did not complete the pairing.`);
  return { machineId: answer.machine.id, name: answer.machine.name, pairingId: answer.pairingId, key: answer.key };
}

/**
 * A port on 127.0.0.1 here that leads, through the paired link (TLS, this
 * pairing's key, the pinned certificate), to the machine's RPC helper: each
 * connection made to it opens its own tunnel. Only what runs on this machine
 * can connect to it, and only to that helper.
 */
export async function forwardToHelper(
  record: PairedMachineRecord,
  events: { onTunnelClosed?: (error: Error | null) => void } = {},
): Promise<{ port: number; close(): void; bytes(): { sent: number; received: number } }> {
  const sockets = new Set<net.Socket>();
  let sent = 0;
  let received = 0;
  const where = `${record.name} (${addressOf(record.host, record.port)})`;
  const server = net.createServer((local) => {
    sockets.add(local);
    local.on('close', () => sockets.delete(local));
    local.on('error', () => undefined);
    local.setNoDelay(true);
    local.pause();
    const fail = (error: Error) => {
      events.onTunnelClosed?.(error);
      local.destroy();
    };
    // TLS to the pinned certificate; the upgrade request (with this pairing's key) only once the certificate is checked.
    const remote = tls.connect({
      host: record.host,
      port: record.port,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      servername: undefined,
    });
    remote.setNoDelay(true);
    local.once('close', () => remote.destroy());
    remote.once('secureConnect', () => {
      const raw = remote.getPeerCertificate()?.raw;
      if (!raw || fingerprintOf(raw) !== record.fingerprint) {
        remote.destroy();
        return fail(new Error(`${where} presented a different certificate from the one paired, so the tunnel was refused.`));
      }
      remote.write(
        `GET ${TUNNEL_PATH} HTTP/1.1\r\nHost: ${addressOf(record.host, record.port)}\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_PROTOCOL}\r\n` +
          `X-Freehold-Pairing: ${record.pairingId}\r\nX-Freehold-Key: ${record.key}\r\n\r\n`,
      );
    });
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16 * 1024) fail(new Error(`${where} answered the tunnel with something unreadable.`));
        return;
      }
      remote.off('data', onHead);
      const response = head.subarray(0, end).toString('utf8');
      const rest = head.subarray(end + 4);
      if (!/^HTTP\/1\.1 101 /.test(response)) {
        const text = rest.toString('utf8').slice(0, 300) || response.split('\r\n')[0];
        remote.destroy();
        return fail(new Error(`${where} refused the tunnel: ${text}`));
      }
      // Closed from this side (llama-server let go of it): nothing lost. From the other side: the helper or the link went away.
      let closedHere = false;
      local.on('close', () => {
        closedHere = true;
        sockets.delete(local);
        remote.destroy();
      });
      remote.on('close', () => {
        if (!closedHere) events.onTunnelClosed?.(new Error(`${record.name} closed the link to its part of the split`));
        local.destroy();
      });
      local.on('error', () => remote.destroy());
      remote.on('error', () => local.destroy());
      local.on('data', (data: Buffer) => (sent += data.length));
      remote.on('data', (data: Buffer) => (received += data.length));
      if (rest.length) local.write(rest);
      local.pipe(remote).pipe(local);
      local.resume();
    };
    remote.on('data', onHead);
    // Errors handled from the first byte, on both sides (a second one, after the first, too).
    let reported = false;
    remote.on('error', (error) => {
      if (reported) return local.destroy();
      reported = true;
      fail(new Error(`${where} could not be reached for the tunnel: ${error.message}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    /** What went through the tunnels so far (the layers' weights on their way, then each step's activations). */
    bytes: () => ({ sent, received }),
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Asks the machine to forget this pairing's key. True when it did; false when it could not be reached (it will refuse the key anyway once revoked there). */
export async function unpair(record: PairedMachineRecord, timeoutMs = 3000): Promise<boolean> {
  try {
    const { ws, answer } = await openLink(record, { t: 'unpair', v: 1, pairingId: record.pairingId, key: record.key }, timeoutMs);
    ws.close();
    return answer.t === 'unpaired';
  } catch {
    return false;
  }
}

/**
 * A paired Freehold host, over its link: the host contract (restricted on
 * that side to what a paired machine may do), reconnected with backoff, a
 * heartbeat that notices a silent machine within seconds.
 */
export class FreeholdMachine implements MachineBackend {
  private state: MachineState = 'connecting';
  private since = new Date().toISOString();
  private error: string | null = null;
  private retryAt: number | null = null;
  private attempt = 0;
  private client: HostClient | null = null;
  private ws: WebSocket | null = null;
  private hardware: MachineHardware | null = null;
  private models: RemoteModel[] = [];
  private downloads = new Map<string, DownloadJob>();
  private busy = false;
  private timers = new Set<NodeJS.Timeout>();
  private refreshTimer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(info: MachineInfo) => void>();
  private closed = false;
  private connecting = false;
  private readonly timings: LinkTimings;

  constructor(
    private record: PairedMachineRecord,
    options: { timings?: Partial<LinkTimings>; log?: (line: string) => void } = {},
  ) {
    this.timings = { ...LINK_TIMINGS, ...options.timings };
    this.log = options.log ?? (() => undefined);
  }

  private readonly log: (line: string) => void;

  get id(): string {
    return this.record.id;
  }

  get name(): string {
    return this.record.name;
  }

  update(record: PairedMachineRecord): void {
    this.record = record;
    this.models = this.models.map((m) => ({ ...m, machineName: record.name }));
    this.emit();
  }

  info(): MachineInfo {
    return {
      id: this.record.id,
      name: this.record.name,
      kind: 'freehold',
      address: addressOf(this.record.host, this.record.port),
      state: this.state,
      since: this.since,
      error: this.error,
      retryAt: this.retryAt ? new Date(this.retryAt).toISOString() : null,
      busy: this.busy,
      hardware: this.hardware,
      models: this.models,
      downloads: [...this.downloads.values()],
      order: this.record.order,
    };
  }

  /** The contract of the machine, while online. */
  api(): HostClient['api'] {
    if (!this.client || this.client.closed || this.state !== 'online')
      throw new RpcError(
        'unavailable',
        `${this.record.name} is ${this.state === 'refused' ? 'refusing this machine' : 'offline'}${this.error ? `: ${this.error}` : '.'}`,
      );
    return this.client.api;
  }

  onChange(listener: (info: MachineInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    const info = this.info();
    for (const listener of [...this.listeners]) listener(info);
  }

  private setState(state: MachineState, error: string | null): void {
    if (this.state !== state) this.since = new Date().toISOString();
    this.state = state;
    this.error = error;
    if (state === 'online') this.retryAt = null;
    this.emit();
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  start(): void {
    void this.connect();
  }

  reconnect(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.attempt = 0;
    if (this.state === 'online') return;
    void this.connect();
  }

  private scheduleRetry(): void {
    if (this.closed || this.state === 'refused') return;
    const delays = this.timings.backoffMs;
    const delay = delays[Math.min(this.attempt, delays.length - 1)]!;
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.emit();
    this.later(delay, () => void this.connect());
  }

  private async connect(): Promise<void> {
    if (this.closed || this.connecting) return;
    this.connecting = true;
    if (this.state !== 'offline') this.setState('connecting', this.error);
    try {
      const { ws, answer } = await openLink(
        this.record,
        { t: 'auth', v: 1, pairingId: this.record.pairingId, key: this.record.key },
        this.timings.connectTimeoutMs,
      );
      if (answer.t !== 'welcome') throw new RpcError('bad_message', `${this.record.name} did not welcome this machine.`);
      if (this.closed) {
        ws.close();
        return;
      }
      this.attach(ws);
      await this.refresh();
      this.attempt = 0;
      this.setState('online', null);
      this.log(`machines: ${this.record.name} is online`);
    } catch (error) {
      const e = error instanceof RpcError ? error : new RpcError('disconnected', String(error));
      if (e instanceof LinkRefused || e.code === 'refused') {
        this.setState('refused', e.message);
      } else {
        this.setState('offline', e.message);
        this.scheduleRetry();
      }
    } finally {
      this.connecting = false;
    }
  }

  private attach(ws: WebSocket): void {
    this.ws = ws;
    const transport = new WebSocketTransport(ws);
    const client = createHostClient(transport, { outgoingBytes: MAX_LINK_MESSAGE_BYTES, incomingBytes: MAX_LINK_MESSAGE_BYTES });
    this.client = client;
    let lastHeard = Date.now();
    const heard = () => (lastHeard = Date.now());
    ws.on('pong', heard);
    ws.on('ping', heard);
    ws.on('message', heard);
    const heartbeat = setInterval(() => {
      if (Date.now() - lastHeard > this.timings.deadAfterMs) {
        transport.close(`stopped answering (nothing for ${Math.round(this.timings.deadAfterMs / 1000)} s)`, 4000);
        ws.terminate();
        return;
      }
      if (ws.readyState === ws.OPEN) ws.ping();
    }, this.timings.heartbeatMs);
    client.on('onInferenceStatus', (status) => this.setBusy(status));
    client.on('onLibraryChanged', () => this.refreshSoon());
    client.on('onDownloadProgress', (job) => {
      this.downloads.set(job.id, job);
      if (job.state === 'done') this.refreshSoon();
      this.emit();
    });
    transport.onClose((reason) => {
      clearInterval(heartbeat);
      if (this.refreshTimer) clearTimeout(this.refreshTimer);
      this.refreshTimer = null;
      if (this.client === client) this.client = null;
      if (this.closed) return;
      const refused = reason.startsWith(`${CLOSE_REFUSED}`);
      const what = refused
        ? `${this.record.name} revoked this machine's pairing.`
        : /stopped answering/.test(reason)
          ? `${this.record.name} stopped answering (nothing for ${Math.round(this.timings.deadAfterMs / 1000)} s).`
          : `${this.record.name} closed the connection.`;
      this.log(`machines: ${what}`);
      this.busy = false;
      if (refused) this.setState('refused', what);
      else {
        this.setState('offline', what);
        this.scheduleRetry();
      }
    });
    const poll = setInterval(() => {
      if (client.closed) return clearInterval(poll);
      void this.refreshHardware().catch(() => undefined);
    }, this.timings.refreshMs);
    transport.onClose(() => clearInterval(poll));
  }

  private setBusy(status: InferenceStatus): void {
    const busy = status.queue.running !== null;
    if (busy !== this.busy) {
      this.busy = busy;
      this.emit();
    }
  }

  private refreshSoon(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshModels()
        .then(() => this.emit())
        .catch(() => undefined);
    }, 200);
  }

  private async refreshHardware(): Promise<void> {
    const api = this.client!.api;
    const [report, system, status] = await Promise.all([api['inference.hardware'](), api['system.info'](), api['inference.status']()]);
    this.hardware = {
      backend: report.backend,
      gpus: report.gpus.map((g) => g.name),
      cpu: report.cpu.model || system.cpuModel,
      os: system.os,
      ramTotalBytes: system.memoryTotalBytes,
      ramFreeBytes: system.memoryFreeBytes,
      vramTotalBytes: report.vram.totalBytes,
      vramFreeBytes: report.vram.freeBytes,
      vramCapBytes: report.vram.capBytes,
    };
    this.busy = status.queue.running !== null;
    this.emit();
  }

  private async refreshModels(): Promise<void> {
    const api = this.client!.api;
    const [library, fits] = await Promise.all([api['models.list'](), api['hardware.fit']().catch(() => [])]);
    const fitOf = new Map(fits.map((f) => [f.modelId, f.fit]));
    this.models = library.models.map((m) => ({
      ref: remoteModelRef(this.record.id, m.id),
      machineId: this.record.id,
      machineName: this.record.name,
      modelId: m.id,
      name: m.name,
      sizeBytes: m.sizeBytes,
      quantization: m.quantization,
      architecture: m.architecture,
      sha256: m.sha256,
      fit: fitOf.get(m.id) ?? null,
    }));
  }

  private async refresh(): Promise<void> {
    const api = this.client!.api;
    await Promise.all([this.refreshHardware(), this.refreshModels()]);
    const jobs = await api['downloads.list']().catch(() => []);
    this.downloads = new Map(jobs.map((j) => [j.id, j]));
  }

  async generate(
    modelId: string,
    requestId: string,
    input: RemoteGenerateInput,
    onDelta: (parts: DeltaParts) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult> {
    const client = this.client;
    if (!client || client.closed || this.state !== 'online') {
      throw new RpcError('unavailable', `${this.record.name} is offline${this.error ? `: ${this.error}` : '.'}`);
    }
    const off = client.on('onChatDelta', (delta) => {
      if (delta.requestId === requestId) onDelta(delta.parts);
    });
    const onAbort = () => void client.api['chat.abort']({ requestId }).catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await client.api['models.generate']({ modelId, requestId, ...input });
    } catch (error) {
      const e = error instanceof RpcError ? error : new RpcError('internal', String(error));
      if (e.code === 'disconnected') {
        // The link's own words (stopped answering, closed) name the machine and what happened.
        throw new RpcError('disconnected', `${this.error ?? `${this.record.name} closed the connection.`} The reply was cut off.`);
      }
      throw new RpcError(e.code, `${this.record.name}: ${e.message}`, e.details);
    } finally {
      off();
      signal.removeEventListener('abort', onAbort);
      // Asked again once the reply is over: a status event sent while it ended may have overtaken the last one.
      if (!client.closed)
        void client.api['inference.status']()
          .then((status) => this.setBusy(status))
          .catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.client?.close();
    this.ws?.terminate();
  }
}

export const newMachineToken = () => randomBytes(18).toString('base64url');
