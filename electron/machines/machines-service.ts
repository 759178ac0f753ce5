import { randomBytes } from 'node:crypto';
import { promises as fs, watchFile, unwatchFile } from 'node:fs';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { DownloadJob } from '../../shared/hub';
import type { GenerateResult } from '../../shared/inference';
import { parseModelRef, type AddMachineInput, type MachineInfo } from '../../shared/machines';
import { SerialFileWriter } from '../platform/atomic-file';
import type { EventBus } from '../platform/events';
import { FreeholdMachine, type LinkTimings } from './freehold-machine';
import { pairWithCode, unpair, type PairedMachineRecord } from './link-client';
import type { DeltaParts, MachineBackend, RemoteGenerateInput } from './machine';
import { OpenAiMachine } from './openai-machine';
import { probeOpenAiServer } from './openai-server';
import { decodePairingCode } from './pairing-code';
import { machineIdOf } from './link-protocol';

export interface OpenAiMachineRecord {
  id: string;
  kind: 'openai';
  name: string;
  url: string;
  apiKey: string | null;
  order: number;
  addedAt: string;
}

export type MachineRecord = PairedMachineRecord | OpenAiMachineRecord;

export interface MachinesOptions {
  dataDir: string;
  events: EventBus;
  log: (line: string) => void;
  /** This machine as a paired one knows it (its name and certificate-derived id). */
  self: () => Promise<{ name: string; machineId: string }>;
  /** Shorter link timings, for tests. */
  timings?: Partial<LinkTimings>;
  openAi?: { pollMs?: number; backoffMs?: number[]; stallTimeoutMs?: number };
  /** Whether to connect to the machines (the CLI only edits the list). */
  connect?: boolean;
}

/** Where a reply on a conversation's model will run. */
export type Placement =
  | { kind: 'local'; modelId: string; fallbackFrom: string | null }
  | { kind: 'remote'; machine: MachineBackend; machineName: string; modelId: string; fallbackFrom: string | null };

const isRecord = (value: unknown): value is MachineRecord => {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  if (typeof r.id !== 'string' || typeof r.name !== 'string' || typeof r.order !== 'number') return false;
  if (r.kind === 'freehold')
    return (
      typeof r.host === 'string' &&
      typeof r.port === 'number' &&
      typeof r.fingerprint === 'string' &&
      typeof r.pairingId === 'string' &&
      typeof r.key === 'string'
    );
  return r.kind === 'openai' && typeof r.url === 'string';
};

/**
 * The other machines this one uses: paired Freeholds and OpenAI-compatible
 * servers, kept in `<dataDir>/machines.json` (readable by this user only: it
 * holds each pairing's key). Another process (the CLI) may change the file;
 * a running host picks that up within seconds.
 */
export class MachinesService {
  private records: MachineRecord[] = [];
  private readonly backends = new Map<string, MachineBackend>();
  private readonly writer: SerialFileWriter;
  private emitTimer: NodeJS.Timeout | null = null;
  private lastWritten = '';
  private closed = false;

  constructor(private readonly options: MachinesOptions) {
    this.writer = new SerialFileWriter(path.join(options.dataDir, 'machines.json'));
  }

  private readonly onFileChanged = () => void this.reload().catch(() => undefined);

  async open(): Promise<void> {
    await this.reload();
    if (this.options.connect !== false) {
      // The CLI adds and removes machines in the same file: follow it.
      watchFile(this.writer.file, { interval: 2000 }, this.onFileChanged);
    }
  }

  private async reload(): Promise<void> {
    const text = await fs.readFile(this.writer.file, 'utf8').catch(() => '');
    if (text === this.lastWritten && this.records.length > 0) return;
    let records: MachineRecord[] = [];
    try {
      const parsed = text ? (JSON.parse(text) as { machines?: unknown }) : { machines: [] };
      records = Array.isArray(parsed.machines) ? parsed.machines.filter(isRecord) : [];
    } catch {
      this.options.log('machines: machines.json is unreadable; no machines are listed until it is fixed or a machine is added');
    }
    this.lastWritten = text;
    this.records = records;
    this.sync();
  }

  /** Connects to every machine (the CLI, which otherwise does not) and waits up to `timeoutMs` for each to answer or fail. */
  async settle(timeoutMs: number): Promise<void> {
    this.connectNow = true;
    this.sync();
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && [...this.backends.values()].some((b) => b.info().state === 'connecting')) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private connectNow = false;

  /** Starts a backend for each record, stops those of removed ones. */
  private sync(): void {
    if ((this.options.connect === false && !this.connectNow) || this.closed) return;
    const ids = new Set([...this.records, ...this.ephemeral].map((r) => r.id));
    for (const [id, backend] of this.backends) {
      if (!ids.has(id)) {
        void backend.close();
        this.backends.delete(id);
      }
    }
    for (const record of this.records) {
      const existing = this.backends.get(record.id);
      if (existing) {
        if (existing instanceof FreeholdMachine && record.kind === 'freehold') existing.update(record);
        continue;
      }
      const backend: MachineBackend =
        record.kind === 'freehold'
          ? new FreeholdMachine(record, { timings: this.options.timings, log: this.options.log })
          : new OpenAiMachine(record, { ...this.options.openAi, log: this.options.log });
      backend.onChange(() => this.changed());
      this.backends.set(record.id, backend);
      backend.start();
    }
    this.changed();
  }

  private changed(): void {
    if (this.emitTimer || this.closed) return;
    this.emitTimer = setTimeout(() => {
      this.emitTimer = null;
      this.options.events.emit('onMachinesChanged', this.list());
    }, 100);
  }

  private async save(): Promise<void> {
    const text = JSON.stringify({ machines: this.records }, null, 2);
    this.lastWritten = text;
    await this.writer.write(text);
  }

  /** Machines that exist only while something runs (a split model's llama-server): listed, never saved. */
  private ephemeral: MachineRecord[] = [];

  addEphemeral(record: OpenAiMachineRecord): void {
    this.removeEphemeral(record.id);
    this.ephemeral.push(record);
    const backend = new OpenAiMachine(record, { ...this.options.openAi, log: this.options.log });
    backend.onChange(() => this.changed());
    this.backends.set(record.id, backend);
    backend.start();
    this.changed();
  }

  removeEphemeral(id: string): void {
    if (!this.ephemeral.some((r) => r.id === id)) return;
    this.ephemeral = this.ephemeral.filter((r) => r.id !== id);
    void this.backends.get(id)?.close();
    this.backends.delete(id);
    this.changed();
  }

  /** A paired machine's record (address, fingerprint, key): for the split model's tunnels. */
  pairedRecord(id: string): PairedMachineRecord {
    const record = this.get(id);
    if (record.kind !== 'freehold') throw new RpcError('invalid_input', `${record.name} is not a paired Freehold.`);
    return record;
  }

  list(): MachineInfo[] {
    return [...this.records, ...this.ephemeral]
      .map((record) => this.backends.get(record.id)?.info() ?? this.offlineInfo(record))
      .sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
  }

  /** The list as the CLI shows it, without connecting. */
  private offlineInfo(record: MachineRecord): MachineInfo {
    return {
      id: record.id,
      name: record.name,
      kind: record.kind,
      address: record.kind === 'freehold' ? `${record.host}:${record.port}` : record.url,
      state: 'offline',
      since: record.addedAt,
      error: null,
      retryAt: null,
      busy: false,
      hardware: null,
      models: [],
      downloads: [],
      order: record.order,
    };
  }

  private get(id: string): MachineRecord {
    const record = [...this.records, ...this.ephemeral].find((r) => r.id === id || r.name.toLowerCase() === id.toLowerCase());
    if (!record) throw new RpcError('not_found', `No machine named "${id.slice(0, 60)}".`);
    return record;
  }

  private uniqueName(wanted: string, exceptId?: string): string {
    const taken = new Set(this.records.filter((r) => r.id !== exceptId).map((r) => r.name.toLowerCase()));
    if (!taken.has(wanted.toLowerCase())) return wanted;
    for (let i = 2; ; i++) if (!taken.has(`${wanted} (${i})`.toLowerCase())) return `${wanted} (${i})`;
  }

  private nextOrder(): number {
    return this.records.reduce((max, r) => Math.max(max, r.order + 1), 0);
  }

  async add(input: AddMachineInput): Promise<MachineInfo> {
    await this.reload();
    let record: MachineRecord;
    if ('code' in input) {
      const code = decodePairingCode(input.code);
      const self = await this.options.self();
      if (machineIdOf(code.fingerprint) === self.machineId)
        throw new RpcError('invalid_input', 'That is this machine’s own pairing code: add it on the other machine.');
      const paired = await pairWithCode(code, self);
      const previous = this.records.find((r) => r.id === paired.machineId);
      record = {
        id: paired.machineId,
        kind: 'freehold',
        name: previous?.name ?? this.uniqueName(paired.name),
        host: code.host,
        port: code.port,
        fingerprint: code.fingerprint,
        pairingId: paired.pairingId,
        key: paired.key,
        order: previous?.order ?? this.nextOrder(),
        addedAt: new Date().toISOString(),
      };
      // Pairing again replaces the old key (and the backend, which had the old one).
      if (previous) {
        this.records = this.records.filter((r) => r.id !== previous.id);
        void this.backends.get(previous.id)?.close();
        this.backends.delete(previous.id);
      }
    } else {
      const url = input.url.trim().replace(/\/+$/, '');
      // The UI's input is checked against the contract; the CLI's is checked here.
      if (!/^https?:\/\/[^/\s]+/i.test(url))
        throw new RpcError('invalid_input', `"${url.slice(0, 100)}" is not a server URL: it must start with http:// or https://.`);
      const probe = await probeOpenAiServer(url, input.apiKey || null);
      record = {
        id: randomBytes(6).toString('hex'),
        kind: 'openai',
        name: this.uniqueName(input.name || probe.suggestedName),
        url,
        apiKey: input.apiKey || null,
        order: this.nextOrder(),
        addedAt: new Date().toISOString(),
      };
    }
    this.records.push(record);
    await this.save();
    this.options.log(`machines: added ${record.name}`);
    this.sync();
    return this.backends.get(record.id)?.info() ?? this.offlineInfo(record);
  }

  async update(id: string, patch: { name?: string; order?: number }): Promise<MachineInfo> {
    const record = this.get(id);
    if (this.ephemeral.includes(record))
      throw new RpcError('invalid_input', `${record.name} is a split model running here; it cannot be renamed.`);
    if (patch.name) record.name = this.uniqueName(patch.name, record.id);
    if (patch.order !== undefined) record.order = patch.order;
    await this.save();
    this.sync();
    return this.backends.get(record.id)?.info() ?? this.offlineInfo(record);
  }

  async remove(id: string): Promise<{ removed: boolean; revoked: boolean }> {
    const record = this.get(id);
    if (this.ephemeral.includes(record))
      throw new RpcError('invalid_input', `${record.name} is a split model running here: unload it instead.`);
    const revoked = record.kind === 'freehold' ? await unpair(record) : false;
    this.records = this.records.filter((r) => r.id !== record.id);
    await this.save();
    this.options.log(`machines: removed ${record.name}${revoked ? ' (and its pairing revoked there)' : ''}`);
    this.sync();
    return { removed: true, revoked };
  }

  reconnect(id: string): MachineInfo {
    const record = this.get(id);
    const backend = this.backends.get(record.id);
    backend?.reconnect();
    return backend?.info() ?? this.offlineInfo(record);
  }

  private freehold(machineId: string): FreeholdMachine {
    const record = this.get(machineId);
    const backend = this.backends.get(record.id);
    if (!(backend instanceof FreeholdMachine))
      throw new RpcError('invalid_input', `${record.name} is not a Freehold machine: downloads and imports go to Freehold machines only.`);
    return backend;
  }

  /** The host contract of a paired Freehold that is online (what a paired machine may call there). */
  remote(machineId: string): ReturnType<FreeholdMachine['api']> {
    return this.freehold(machineId).api();
  }

  download(machineId: string, input: { repo: string; revision?: string; file?: string; quantization?: string }): Promise<DownloadJob> {
    return this.freehold(machineId).api()['downloads.start'](input);
  }

  downloadControl(machineId: string, id: string, action: 'pause' | 'resume' | 'cancel'): Promise<DownloadJob> {
    const api = this.freehold(machineId).api();
    return action === 'pause'
      ? api['downloads.pause']({ id })
      : action === 'resume'
        ? api['downloads.resume']({ id })
        : api['downloads.cancel']({ id });
  }

  /**
   * Where a reply on `ref` runs: its own machine when that is online, else
   * the next online machine (this one first, then by preference) that has
   * the same file (same sha256). Says why when there is none.
   */
  place(ref: string, local: (sha256: string) => string | null): Placement {
    const parsed = parseModelRef(ref);
    if (!parsed) return { kind: 'local', modelId: ref, fallbackFrom: null };
    const machines = this.list();
    const home = machines.find((m) => m.id === parsed.machineId);
    if (!home) throw new RpcError('not_found', 'The machine of this conversation’s model is no longer among your machines.');
    const backend = this.backends.get(home.id);
    const listed = home.models.find((m) => m.modelId === parsed.modelId);
    if (home.state === 'online' && backend) {
      if (!listed && home.models.length > 0) throw new RpcError('not_found', `${home.name} no longer has the model of this conversation.`);
      return { kind: 'remote', machine: backend, machineName: home.name, modelId: parsed.modelId, fallbackFrom: null };
    }
    const sha = listed?.sha256 ?? null;
    if (sha) {
      const here = local(sha);
      if (here) return { kind: 'local', modelId: here, fallbackFrom: home.name };
      for (const other of machines) {
        if (other.id === home.id || other.state !== 'online') continue;
        const same = other.models.find((m) => m.sha256 === sha);
        const otherBackend = this.backends.get(other.id);
        if (same && otherBackend)
          return { kind: 'remote', machine: otherBackend, machineName: other.name, modelId: same.modelId, fallbackFrom: home.name };
      }
    }
    const since = new Date(home.since).toLocaleString();
    throw new RpcError(
      'unavailable',
      `${home.name} is ${home.state === 'refused' ? 'refusing this machine' : `offline (since ${since})`}${home.error ? `: ${home.error}` : ''}, and no other machine online has this model.`,
    );
  }

  generate(
    placement: Extract<Placement, { kind: 'remote' }>,
    requestId: string,
    input: RemoteGenerateInput,
    onDelta: (parts: DeltaParts) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult> {
    return placement.machine.generate(placement.modelId, requestId, input, onDelta, signal).catch(async (error: unknown) => {
      // A split model's failure is best told by the split (which machine went away).
      const why = placement.machine.id === 'split' ? await this.explainSplitFailure?.() : null;
      throw why ? new RpcError('disconnected', why) : error;
    });
  }

  /** Set by the split service: says which machine's part went away when a reply on the split fails. */
  explainSplitFailure: (() => Promise<string | null>) | null = null;

  async close(): Promise<void> {
    this.closed = true;
    // This listener only: another service in the same process may watch the same file.
    unwatchFile(this.writer.file, this.onFileChanged);
    if (this.emitTimer) clearTimeout(this.emitTimer);
    await Promise.all([...this.backends.values()].map((b) => b.close()));
    this.backends.clear();
    await this.writer.flush();
  }
}
