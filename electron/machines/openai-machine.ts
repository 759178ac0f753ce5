/**
 * An OpenAI-compatible server as a machine: llama-server, vLLM, Ollama,
 * LM Studio, or another Freehold's local API. Its models come from
 * GET /v1/models (polled while online, retried with backoff while not), and
 * replies stream from POST /v1/chat/completions. Here: the machine's state,
 * the polling, and each reply's outcome for that state. Talking to the server
 * (the client, its errors in words, the model listing) is in openai-server.ts;
 * reading one reply's stream, and its watchdog, in openai-reply.ts.
 */
import { RpcError } from '../../shared/errors';
import type { GenerateResult } from '../../shared/inference';
import { remoteModelRef, type MachineInfo, type MachineState, type RemoteModel } from '../../shared/machines';
import type { DeltaParts, MachineBackend, RemoteGenerateInput } from './machine';
import { ReplyReader, requestBody, RunningReply } from './openai-reply';
import {
  describe,
  errorCodeFor,
  failureText,
  isRefusal,
  listModels,
  makeClient,
  normalizeServerUrl,
  REQUEST_TIMEOUT_MS,
  scrubKey,
  ServerFailure,
  withStatus,
} from './openai-server';

export interface OpenAiMachineRecord {
  id: string;
  name: string;
  url: string;
  apiKey: string | null;
  order: number;
}

export interface OpenAiMachineOptions {
  /** How often the model list is refreshed while online (default 15 s). */
  pollMs?: number;
  /** Waits between reconnection attempts while offline; the last one repeats (default 1, 2, 5, 10, 30 s). */
  backoffMs?: number[];
  /** The longest a model listing may take (default 10 s). */
  requestTimeoutMs?: number;
  /** The longest silence allowed once a reply has started streaming (default 10 s). */
  stallTimeoutMs?: number;
  /**
   * The longest wait for the first data of a reply: the server may be loading
   * the model or reading a long prompt (default 5 min). A machine found gone
   * meanwhile (its model listing fails) ends the wait sooner.
   */
  firstDataTimeoutMs?: number;
  log?: (line: string) => void;
}

const DEFAULTS = {
  pollMs: 15_000,
  backoffMs: [1000, 2000, 5000, 10_000, 30_000],
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  stallTimeoutMs: 10_000,
  firstDataTimeoutMs: 300_000,
};

export class OpenAiMachine implements MachineBackend {
  readonly id: string;
  private readonly name: string;
  private readonly address: string;
  private readonly apiKey: string | null;
  private readonly order: number;
  private readonly options: Required<Omit<OpenAiMachineOptions, 'log'>>;
  private readonly log: (line: string) => void;

  private state: MachineState = 'connecting';
  private since = new Date().toISOString();
  /** When the current outage began: "offline since" stays put across failed retries. */
  private outageSince: string | null = null;
  private error: string | null = null;
  private retryAt: string | null = null;
  private models: RemoteModel[] = [];
  private last = '';

  private started = false;
  private closed = false;
  private checking: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private failures = 0;
  private readonly running = new Set<RunningReply>();
  private readonly listeners = new Set<(info: MachineInfo) => void>();

  constructor(record: OpenAiMachineRecord, options: OpenAiMachineOptions = {}) {
    this.id = record.id;
    this.name = record.name;
    this.address = normalizeServerUrl(record.url);
    this.apiKey = record.apiKey;
    this.order = record.order;
    this.options = {
      pollMs: options.pollMs ?? DEFAULTS.pollMs,
      backoffMs: options.backoffMs?.length ? options.backoffMs : DEFAULTS.backoffMs,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      stallTimeoutMs: options.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs,
      firstDataTimeoutMs: options.firstDataTimeoutMs ?? DEFAULTS.firstDataTimeoutMs,
    };
    this.log = options.log ?? (() => undefined);
    this.last = JSON.stringify(this.info());
  }

  info(): MachineInfo {
    return {
      id: this.id,
      name: this.name,
      kind: 'openai',
      address: this.address,
      state: this.state,
      since: this.since,
      error: this.error,
      retryAt: this.retryAt,
      busy: this.running.size > 0,
      hardware: null,
      models: this.models.map((m) => ({ ...m })),
      downloads: [],
      order: this.order,
    };
  }

  onChange(listener: (info: MachineInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    void this.check();
  }

  reconnect(): void {
    if (this.closed) return;
    this.started = true;
    this.failures = 0;
    void this.check();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    this.checking?.abort();
    for (const reply of this.running) reply.controller.abort();
    this.listeners.clear();
  }

  async generate(
    modelId: string,
    requestId: string,
    input: RemoteGenerateInput,
    onDelta: (parts: DeltaParts) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult> {
    if (this.closed) throw new RpcError('unavailable', `${this.name} was removed.`);
    const name = this.name;
    const { firstDataTimeoutMs } = this.options;
    const reader = new ReplyReader(requestId);
    if (signal.aborted) return reader.result('abort');

    const reply = new RunningReply(name, signal, this.options);
    let callerError: unknown = null;
    this.running.add(reply);
    this.emit();

    let answered = false;
    let caught: unknown = null;
    try {
      const client = makeClient(this.address, this.apiKey, firstDataTimeoutMs + 5000, reply.onBytes);
      const stream = await client.chat.completions.create(requestBody(modelId, input), { signal: reply.controller.signal });
      answered = true;
      for await (const chunk of stream) {
        reader.read(chunk, (parts) => {
          try {
            onDelta(parts);
          } catch (error) {
            callerError = error;
            reply.controller.abort();
          }
        });
      }
    } catch (error) {
      caught = error;
    } finally {
      reply.end();
      this.running.delete(reply);
      this.emit();
    }

    if (callerError) throw callerError;
    if (reply.failure) {
      this.connectionLost(reply.failure.message);
      throw reply.failure;
    }
    if (reply.aborted && !this.closed) return reader.result('abort');
    // Closed under a running reply (the machine was removed, a split model stopped): the reply did not finish.
    if (this.closed) throw new RpcError('disconnected', `${name} was closed mid-reply.`);
    if (caught) {
      const f = describe(caught, firstDataTimeoutMs);
      if (f.kind === 'http') {
        if (isRefusal(f)) this.refused(failureText(f));
        throw new RpcError(
          errorCodeFor(f),
          scrubKey(`${name}: ${withStatus(f)}`, this.apiKey),
          f.status === null ? undefined : { status: f.status },
        );
      }
      if (f.kind === 'invalid') throw new RpcError('remote_error', `${name} ${f.message}`);
      const message = answered
        ? `${name} closed the connection mid-reply`
        : f.kind === 'timeout'
          ? `${name} did not answer ${f.message}`
          : `${name} did not answer: ${f.message}`;
      this.connectionLost(failureText(f));
      throw new RpcError(answered ? 'disconnected' : 'unavailable', scrubKey(message, this.apiKey));
    }
    if (this.state === 'offline' && !this.checking) this.reconnect();
    return reader.result(reader.stopReason());
  }

  // ---- state ----

  private emit(): void {
    const info = this.info();
    const json = JSON.stringify(info);
    if (json === this.last) return;
    this.last = json;
    for (const listener of [...this.listeners]) {
      try {
        listener(info);
      } catch (error) {
        this.log(`machines: a listener of ${this.name} failed: ${(error as Error).message}`);
      }
    }
  }

  private setState(state: MachineState, fields: { error?: string | null; retryAt?: string | null } = {}): void {
    if (state !== this.state) {
      const now = new Date().toISOString();
      if (state === 'offline') {
        this.outageSince ??= now;
        this.since = this.outageSince;
      } else {
        if (state !== 'connecting') this.outageSince = null;
        this.since = now;
      }
      if (state !== 'connecting') this.log(`machines: ${this.name} is ${state}${fields.error ? `: ${fields.error}` : ''}`);
      this.state = state;
    }
    if (fields.error !== undefined) this.error = fields.error;
    if (fields.retryAt !== undefined) this.retryAt = fields.retryAt;
    this.emit();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    this.clearTimer();
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.check();
    }, ms);
    this.timer.unref?.();
  }

  /** One model listing: online with the models, or offline (retry scheduled), or refused. */
  private async check(): Promise<void> {
    if (this.closed || this.checking) return;
    this.clearTimer();
    const controller = new AbortController();
    this.checking = controller;
    if (this.state !== 'online') this.setState('connecting', { retryAt: null });
    try {
      const list = await listModels(this.address, this.apiKey, this.options.requestTimeoutMs, controller.signal);
      if (this.closed) return;
      this.failures = 0;
      this.models = list.ids.map((modelId) => ({
        ref: remoteModelRef(this.id, modelId),
        machineId: this.id,
        machineName: this.name,
        modelId,
        name: modelId,
        sizeBytes: null,
        quantization: null,
        architecture: null,
        sha256: null,
        fit: null,
      }));
      this.setState('online', { error: null, retryAt: null });
      this.schedule(this.options.pollMs);
    } catch (error) {
      if (this.closed) return;
      const failure = error instanceof ServerFailure ? error : describe(error, this.options.requestTimeoutMs);
      const words = scrubKey(failureText(failure), this.apiKey);
      if (isRefusal(failure)) this.refused(words);
      else {
        this.offline(words);
        if (failure.kind === 'connection' || failure.kind === 'timeout') this.failSilentReplies(words);
      }
    } finally {
      if (this.checking === controller) this.checking = null;
    }
  }

  private refused(words: string): void {
    this.clearTimer();
    this.setState('refused', { error: words, retryAt: null });
  }

  private offline(words: string): void {
    const { backoffMs } = this.options;
    const delay = backoffMs[Math.min(this.failures, backoffMs.length - 1)]!;
    this.failures++;
    this.setState('offline', { error: words, retryAt: new Date(Date.now() + delay).toISOString() });
    this.schedule(delay);
  }

  /** A reply lost its connection: the machine is offline until a listing says otherwise. */
  private connectionLost(words: string): void {
    if (this.closed || this.state === 'refused' || this.state === 'offline' || this.checking) return;
    this.offline(words);
  }

  /** The machine is gone: replies that have heard nothing for a while end now rather than at their own timeout. */
  private failSilentReplies(words: string): void {
    const now = Date.now();
    for (const reply of this.running) {
      if (now - (reply.lastDataAt ?? reply.startedAt) < this.options.stallTimeoutMs) continue;
      reply.fail(new RpcError('disconnected', `${this.name} stopped answering (${words[0]!.toLowerCase()}${words.slice(1)})`));
    }
  }
}
