import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import type { InferenceStatus } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { DownloadJob } from '../../shared/hub';
import type { GenerateResult } from '../../shared/inference';
import { remoteModelRef, type MachineHardware, type MachineInfo, type MachineState, type RemoteModel } from '../../shared/machines';
import { createHostClient, type HostClient } from '../../shared/rpc/client';
import { WebSocketTransport } from '../platform/ws-transport';
import { addressOf, CONNECT_TIMEOUT_MS, LinkRefused, openLink, type PairedMachineRecord } from './link-client';
import { CLOSE_REFUSED, MAX_LINK_MESSAGE_BYTES } from './link-protocol';
import type { DeltaParts, MachineBackend, RemoteGenerateInput } from './machine';

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
  connectTimeoutMs: CONNECT_TIMEOUT_MS,
  heartbeatMs: 1000,
  deadAfterMs: 4000,
  backoffMs: [1000, 2000, 5000, 10_000, 30_000],
  refreshMs: 10_000,
};

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
