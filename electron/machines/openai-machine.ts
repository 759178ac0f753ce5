/**
 * An OpenAI-compatible server as a machine: llama-server, vLLM, Ollama,
 * LM Studio, or another Freehold's local API. Its models come from
 * GET /v1/models (polled while online, retried with backoff while not), and
 * replies stream from POST /v1/chat/completions through the official `openai`
 * client. The server's own error messages reach the user as they are, with
 * the HTTP status; the API key never appears in a message or a log line.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { RpcError, type ErrorCode } from '../../shared/errors';
import type { GenerateResult, GenerationStats, StopReason } from '../../shared/inference';
import { remoteModelRef, type MachineInfo, type MachineState, type RemoteModel } from '../../shared/machines';
import type { DeltaParts, MachineBackend, RemoteGenerateInput } from './machine';

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

export interface ProbeOptions {
  requestTimeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULTS = {
  pollMs: 15_000,
  backoffMs: [1000, 2000, 5000, 10_000, 30_000],
  requestTimeoutMs: 10_000,
  stallTimeoutMs: 10_000,
  firstDataTimeoutMs: 300_000,
};

/** The URL as the user gave it, without trailing slashes: the machine's address. */
export function normalizeServerUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

/** The OpenAI base URL: the server's URL with /v1 unless it already ends in /v1. */
export function apiBaseUrl(url: string): string {
  const base = normalizeServerUrl(url);
  return /\/v1$/i.test(base) ? base : `${base}/v1`;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** What went wrong talking to a server, before it is put in words for one place or another. */
class ServerFailure extends Error {
  constructor(
    readonly kind: 'http' | 'connection' | 'timeout' | 'invalid',
    message: string,
    /** The HTTP status of an error answer; null for an error sent inside a stream. */
    readonly status: number | null = null,
    /** The error's code in the server's body, where it gave one. */
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

/** The innermost message of an error and its causes: "connect ECONNREFUSED 127.0.0.1:8080" rather than "fetch failed". */
function rootMessage(error: unknown): string {
  let message = '';
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== null && typeof current === 'object'; depth++) {
    const { message: text, code, errors } = current as { message?: unknown; code?: unknown; errors?: unknown };
    if (typeof text === 'string' && text) message = text;
    else if (typeof code === 'string') message = code;
    if (Array.isArray(errors) && errors.length && !(current as { cause?: unknown }).cause) {
      current = errors[0];
      continue;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return message || String(error);
}

/** The server's own message from an error body, whichever of the usual shapes it has. */
function messageFromBody(text: string, statusText: string): { message: string; code: string | null } {
  const trimmed = text.trim();
  try {
    const body = JSON.parse(trimmed) as Record<string, unknown>;
    const error = body?.error;
    if (typeof error === 'string' && error) return { message: error, code: null };
    if (error && typeof error === 'object') {
      const e = error as Record<string, unknown>;
      const code = typeof e.code === 'string' ? e.code : e.type === 'exceed_context_size_error' ? 'context_length_exceeded' : null;
      if (typeof e.message === 'string' && e.message) return { message: e.message, code };
    }
    if (typeof body?.message === 'string' && body.message)
      return { message: body.message, code: typeof body.code === 'string' ? body.code : null };
    if (typeof body?.detail === 'string' && body.detail) return { message: body.detail, code: null };
    if (body?.detail !== undefined) return { message: JSON.stringify(body.detail).slice(0, 500), code: null };
  } catch {
    // Not JSON: the text itself, unless it is a web page.
  }
  if (trimmed && !/^<(!doctype|html)/i.test(trimmed)) return { message: trimmed.slice(0, 500), code: null };
  return { message: statusText || 'no message', code: null };
}

/**
 * fetch as the client uses it: error answers are rewritten to OpenAI's
 * { error: { message, code } } whatever shape the server used, and every piece
 * of a successful body is reported (the stall watchdog).
 */
function serverFetch(onBytes?: () => void): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (!response.ok) {
      const text = await response.text();
      const { message, code } = messageFromBody(text, response.statusText);
      return new Response(JSON.stringify({ error: { message, code } }), {
        status: response.status,
        statusText: response.statusText,
        headers: { 'content-type': 'application/json' },
      });
    }
    if (!onBytes || !response.body) return response;
    const tap = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        onBytes();
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(tap), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}

/**
 * A client for one server. Nothing comes from the environment (OPENAI_API_KEY,
 * OPENAI_ORG_ID and the like are for OpenAI, not for this server), and no
 * Authorization header is sent when there is no key.
 */
function makeClient(url: string, apiKey: string | null, timeoutMs: number, onBytes?: () => void): OpenAI {
  const headers: Record<string, null> = {};
  for (const line of (process.env.OPENAI_CUSTOM_HEADERS ?? '').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim()] = null;
  }
  if (!apiKey) headers.Authorization = null;
  return new OpenAI({
    baseURL: apiBaseUrl(url),
    apiKey: apiKey || 'none',
    adminAPIKey: null,
    organization: null,
    project: null,
    webhookSecret: null,
    defaultHeaders: headers,
    maxRetries: 0,
    timeout: timeoutMs,
    logLevel: 'off',
    fetch: serverFetch(onBytes),
  });
}

/** Any error from the client (or fetch beneath it) as a ServerFailure. */
function describe(error: unknown, timeoutMs: number): ServerFailure {
  if (error instanceof ServerFailure) return error;
  if (error instanceof APIConnectionTimeoutError) return new ServerFailure('timeout', `within ${seconds(timeoutMs)}`);
  if (error instanceof APIConnectionError) return new ServerFailure('connection', rootMessage(error.cause ?? error));
  if (error instanceof APIError && !(error instanceof APIUserAbortError)) {
    const body = error.error as { message?: unknown } | undefined;
    const message = typeof body?.message === 'string' && body.message ? body.message : error.message.replace(/^\d{3}\s+/, '');
    return new ServerFailure('http', message, error.status ?? null, typeof error.code === 'string' ? error.code : null);
  }
  if (error instanceof SyntaxError) return new ServerFailure('invalid', `sent something that is not an OpenAI answer (${error.message})`);
  return new ServerFailure('connection', rootMessage(error));
}

const withStatus = (f: ServerFailure) => (f.status === null ? f.message : `${f.message} (HTTP ${f.status})`);
const isRefusal = (f: ServerFailure) => f.kind === 'http' && (f.status === 401 || f.status === 403);

/** A failure as a sentence about `subject` (the URL, when adding), or on its own (a machine's state). */
function failureText(f: ServerFailure, subject?: string): string {
  const [verb, rest] =
    f.kind === 'timeout'
      ? ['did not answer', ` ${f.message}`]
      : f.kind === 'connection'
        ? ['did not answer', `: ${f.message}`]
        : f.kind === 'invalid'
          ? ['is not an OpenAI-compatible server', `: ${f.message}`]
          : isRefusal(f)
            ? ['refused', `: ${withStatus(f)}`]
            : ['answered with an error', `: ${withStatus(f)}`];
  return subject ? `${subject} ${verb}${rest}` : `${verb[0]!.toUpperCase()}${verb.slice(1)}${rest}`;
}

function scrubKey(text: string, apiKey: string | null): string {
  return apiKey && apiKey.length >= 4 ? text.split(apiKey).join('…') : text;
}

interface ModelList {
  ids: string[];
  ownedBy: string[];
}

/** GET /v1/models, all of it (body included) within timeoutMs. */
async function listModels(url: string, apiKey: string | null, timeoutMs: number, signal?: AbortSignal): Promise<ModelList> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const body = await makeClient(url, apiKey, timeoutMs + 1000).get<unknown>('/models', { signal: controller.signal });
    const data = (body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) throw new ServerFailure('invalid', 'GET /v1/models did not return a model list');
    const models = data.filter((m): m is { id: string; owned_by?: unknown } => typeof (m as { id?: unknown })?.id === 'string');
    return { ids: models.map((m) => m.id), ownedBy: models.map((m) => (typeof m.owned_by === 'string' ? m.owned_by : '')) };
  } catch (error) {
    if (timedOut) throw new ServerFailure('timeout', `within ${seconds(timeoutMs)}`);
    if (signal?.aborted) throw new RpcError('aborted', 'Canceled.');
    throw describe(error, timeoutMs);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A name for a server just added: what it is where that shows cheaply, and where it is. */
function suggestName(url: string, list: ModelList): string {
  let host = url;
  let port = '';
  let local = false;
  try {
    const parsed = new URL(url);
    host = parsed.host;
    port = parsed.port;
    local = ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
  } catch {
    // The URL is checked before it gets here; keep it as it is.
  }
  const owners = new Set(list.ownedBy);
  const kind = owners.has('llamacpp')
    ? 'llama-server'
    : owners.has('vllm')
      ? 'vLLM'
      : owners.has('library') || port === '11434'
        ? 'Ollama'
        : port === '1234' || owners.has('organization_owner')
          ? 'LM Studio'
          : null;
  const name = kind ? (local ? kind : `${kind} on ${host}`) : host;
  return name.slice(0, 60);
}

/**
 * Checks a server the user is adding: lists its models, or throws an RpcError
 * naming the URL with the server's own message and HTTP status
 * ("http://127.0.0.1:8080 refused: Invalid API Key (HTTP 401)").
 */
export async function probeOpenAiServer(
  url: string,
  apiKey: string | null,
  options: ProbeOptions = {},
): Promise<{ models: string[]; suggestedName: string }> {
  const address = normalizeServerUrl(url);
  try {
    const list = await listModels(address, apiKey, options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs, options.signal);
    return { models: list.ids, suggestedName: suggestName(address, list) };
  } catch (error) {
    if (error instanceof RpcError) throw error;
    const failure = error as ServerFailure;
    const code: ErrorCode = isRefusal(failure)
      ? 'refused'
      : failure.kind === 'http'
        ? 'remote_error'
        : failure.kind === 'invalid'
          ? 'invalid_input'
          : 'unavailable';
    throw new RpcError(
      code,
      scrubKey(failureText(failure, address), apiKey),
      failure.status === null ? undefined : { status: failure.status },
    );
  }
}

/** One reply under way: how to end it, and when it last heard from the server. */
interface RunningReply {
  controller: AbortController;
  startedAt: number;
  lastDataAt: number | null;
  fail: (error: RpcError) => void;
}

const stopReasons: Record<string, StopReason> = { stop: 'eos', length: 'max-tokens' };

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
    const { stallTimeoutMs, firstDataTimeoutMs } = this.options;
    const startedAt = performance.now();
    let text = '';
    let reasoning = '';
    let firstTokenAt: number | null = null;
    let reasoningFrom: number | null = null;
    let reasoningUntil: number | null = null;
    let pieces = 0;
    let finish: string | null = null;
    let usage: ChatCompletionChunk['usage'] | null = null;
    let timings: Record<string, unknown> | null = null;

    const result = (stopReason: StopReason): GenerateResult => {
      const end = performance.now();
      const generated = usage?.completion_tokens ?? (typeof timings?.predicted_n === 'number' ? timings.predicted_n : pieces);
      const prompt = usage?.prompt_tokens ?? (typeof timings?.prompt_n === 'number' ? timings.prompt_n : 0);
      const cached = usage?.prompt_tokens_details?.cached_tokens ?? (typeof timings?.cache_n === 'number' ? timings.cache_n : undefined);
      const afterFirst = firstTokenAt === null ? 0 : (end - firstTokenAt) / 1000;
      const measured = afterFirst > 0 && generated > 1 ? (generated - 1) / afterFirst : 0;
      const stats: GenerationStats = {
        promptTokens: prompt,
        ...(cached ? { cachedPromptTokens: cached } : {}),
        generatedTokens: generated,
        timeToFirstTokenMs: Math.round((firstTokenAt ?? end) - startedAt),
        tokensPerSecond: typeof timings?.predicted_per_second === 'number' ? timings.predicted_per_second : measured,
        totalMs: Math.round(end - startedAt),
        stopReason,
        ...(reasoningFrom !== null ? { reasoningMs: Math.round((reasoningUntil ?? end) - reasoningFrom) } : {}),
      };
      return { requestId, text, reasoning, stats };
    };
    if (signal.aborted) return result('abort');

    const controller = new AbortController();
    // Set from callbacks (the watchdog, the caller's signal), read once the stream has ended.
    const ended: { failure: RpcError | null; aborted: boolean; timer: ReturnType<typeof setTimeout> | null } = {
      failure: null,
      aborted: false,
      timer: null,
    };
    let callerError: unknown = null;
    const reply: RunningReply = {
      controller,
      startedAt: Date.now(),
      lastDataAt: null,
      fail: (error) => {
        ended.failure ??= error;
        controller.abort();
      },
    };
    const arm = (ms: number, message: string) => {
      if (ended.timer) clearTimeout(ended.timer);
      ended.timer = setTimeout(() => reply.fail(new RpcError('disconnected', message)), ms);
    };
    const onAbort = () => {
      ended.aborted = true;
      controller.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    arm(firstDataTimeoutMs, `${name} did not start its reply within ${seconds(firstDataTimeoutMs)}`);
    const onBytes = () => {
      reply.lastDataAt = Date.now();
      arm(stallTimeoutMs, `${name} stopped answering mid-reply (no data for ${seconds(stallTimeoutMs)})`);
    };
    this.running.add(reply);
    this.emit();

    let answered = false;
    let caught: unknown = null;
    try {
      const client = makeClient(this.address, this.apiKey, firstDataTimeoutMs + 5000, onBytes);
      const stream = await client.chat.completions.create(requestBody(modelId, input), { signal: controller.signal });
      answered = true;
      for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        const extra = (chunk as { timings?: unknown }).timings;
        if (extra && typeof extra === 'object') timings = extra as Record<string, unknown>;
        for (const choice of chunk.choices ?? []) {
          const delta = (choice.delta ?? {}) as Record<string, unknown>;
          const thought =
            typeof delta.reasoning_content === 'string'
              ? delta.reasoning_content
              : typeof delta.reasoning === 'string'
                ? delta.reasoning
                : '';
          const content = typeof delta.content === 'string' ? delta.content : '';
          const parts: DeltaParts = [];
          const now = performance.now();
          if (thought) {
            parts.push({ kind: 'reasoning', text: thought });
            reasoning += thought;
            reasoningFrom ??= now;
          }
          if (content) {
            parts.push({ kind: 'text', text: content });
            text += content;
            if (reasoningFrom !== null) reasoningUntil ??= now;
          }
          if (choice.finish_reason) finish = choice.finish_reason;
          if (!parts.length) continue;
          firstTokenAt ??= now;
          pieces++;
          try {
            onDelta(parts);
          } catch (error) {
            callerError = error;
            controller.abort();
          }
        }
      }
    } catch (error) {
      caught = error;
    } finally {
      if (ended.timer) clearTimeout(ended.timer);
      signal.removeEventListener('abort', onAbort);
      this.running.delete(reply);
      this.emit();
    }

    if (callerError) throw callerError;
    if (ended.failure) {
      this.connectionLost(ended.failure.message);
      throw ended.failure;
    }
    if (ended.aborted && !this.closed) return result('abort');
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
    return result(finish ? (stopReasons[finish] ?? 'eos') : 'eos');
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

function errorCodeFor(f: ServerFailure): ErrorCode {
  if (isRefusal(f)) return 'refused';
  if (f.code === 'context_length_exceeded') return 'context_length_exceeded';
  if (f.status === 429) return 'busy';
  return 'remote_error';
}

/** The chat request: messages and sampling in OpenAI's names, plus llama.cpp's own sampling fields (ignored elsewhere). */
function requestBody(model: string, input: RemoteGenerateInput): ChatCompletionCreateParamsStreaming {
  const s = input.sampling ?? {};
  const body: Record<string, unknown> = {
    model,
    messages: [
      ...(input.system ? [{ role: 'system', content: input.system }] : []),
      ...input.messages.map((m) => ({ role: m.role, content: m.text })),
    ],
    stream: true,
    stream_options: { include_usage: true },
  };
  const fields: Array<[string, number | undefined]> = [
    ['temperature', s.temperature],
    ['top_p', s.topP],
    ['max_tokens', s.maxTokens],
    ['seed', s.seed],
    ['frequency_penalty', s.frequencyPenalty],
    ['presence_penalty', s.presencePenalty],
    ['top_k', s.topK],
    ['min_p', s.minP],
    ['repeat_penalty', s.repeatPenalty],
    ['repetition_penalty', s.repeatPenalty],
  ];
  for (const [key, value] of fields) if (value !== undefined) body[key] = value;
  return body as unknown as ChatCompletionCreateParamsStreaming;
}
