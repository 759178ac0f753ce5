/**
 * Talking to an OpenAI-compatible server: the official `openai` client with
 * nothing taken from the environment, the server's error answers read in
 * whatever shape it used and put in words (with the HTTP status, never the
 * API key), the model listing, and the check of a server being added.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { RpcError, type ErrorCode } from '../../shared/errors';

export interface ProbeOptions {
  requestTimeoutMs?: number;
  signal?: AbortSignal;
}

/** The longest a model listing may take, unless told otherwise. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The URL as the user gave it, without trailing slashes: the machine's address. */
export function normalizeServerUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

/** The OpenAI base URL: the server's URL with /v1 unless it already ends in /v1. */
export function apiBaseUrl(url: string): string {
  const base = normalizeServerUrl(url);
  return /\/v1$/i.test(base) ? base : `${base}/v1`;
}

export function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** What went wrong talking to a server, before it is put in words for one place or another. */
export class ServerFailure extends Error {
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
export function makeClient(url: string, apiKey: string | null, timeoutMs: number, onBytes?: () => void): OpenAI {
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
export function describe(error: unknown, timeoutMs: number): ServerFailure {
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

export const withStatus = (f: ServerFailure) => (f.status === null ? f.message : `${f.message} (HTTP ${f.status})`);
export const isRefusal = (f: ServerFailure) => f.kind === 'http' && (f.status === 401 || f.status === 403);

/** A failure as a sentence about `subject` (the URL, when adding), or on its own (a machine's state). */
export function failureText(f: ServerFailure, subject?: string): string {
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

export function scrubKey(text: string, apiKey: string | null): string {
  return apiKey && apiKey.length >= 4 ? text.split(apiKey).join('…') : text;
}

interface ModelList {
  ids: string[];
  ownedBy: string[];
}

/** GET /v1/models, all of it (body included) within timeoutMs. */
export async function listModels(url: string, apiKey: string | null, timeoutMs: number, signal?: AbortSignal): Promise<ModelList> {
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
    const list = await listModels(address, apiKey, options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS, options.signal);
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

export function errorCodeFor(f: ServerFailure): ErrorCode {
  if (isRefusal(f)) return 'refused';
  if (f.code === 'context_length_exceeded') return 'context_length_exceeded';
  if (f.status === 429) return 'busy';
  return 'remote_error';
}
