/**
 * A streamed request to llama-server on loopback, read as server-sent events
 * straight from node:http: each event's JSON to onEvent as it comes. A
 * connection per request: llama-server (cpp-httplib) closes the connection
 * after a streamed answer although it says keep-alive, so a reused one would
 * be found closed (a new one costs a fraction of a millisecond on loopback). This is the hot path of every reply on the server
 * engine (an event per token, a thousand a second on a small model), so it
 * does without the fetch and WHATWG streams under the OpenAI SDK, which cost
 * several times the CPU per token (bench server-engine).
 *
 * A refusal (an HTTP error, or an error event in the stream) rejects with an
 * error carrying `status` and llama-server's `error` object, as the SDK's
 * APIError does (server-failures.ts reads both); a stream that ends without
 * its `[DONE]` (the server died) rejects too; an abort rejects with the
 * signal's reason.
 */
import http from 'node:http';

export class ServerStreamError extends Error {
  override readonly name = 'ServerStreamError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly error: Record<string, unknown> | undefined,
  ) {
    super(message);
  }
}

export interface ServerEndpoint {
  url: string;
  apiKey: string;
  /** For streams: a connection each (see above). */
  agent: http.Agent;
  /** For short requests (a rendered template, a count of tokens): kept alive, which llama-server honours for those. */
  shortAgent: http.Agent;
}

/** The agents for one server's requests. */
export function serverAgents(): Pick<ServerEndpoint, 'agent' | 'shortAgent'> {
  return { agent: new http.Agent({ keepAlive: false }), shortAgent: new http.Agent({ keepAlive: true, keepAliveMsecs: 1000 }) };
}

function errorOf(status: number | undefined, text: string): ServerStreamError {
  let error: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (parsed && typeof parsed.error === 'object' && parsed.error !== null) error = parsed.error as Record<string, unknown>;
  } catch {
    // not JSON: the text is the message
  }
  const said = typeof error?.message === 'string' ? error.message : text.slice(0, 500) || 'no answer';
  return new ServerStreamError(
    status ? `${status} ${said}` : said,
    status ?? (typeof error?.code === 'number' ? error.code : undefined),
    error,
  );
}

/** POSTs `body` to `route` with stream: true and reads the events until `[DONE]`. */
export function streamFromServer(
  server: ServerEndpoint,
  route: string,
  body: unknown,
  signal: AbortSignal,
  onEvent: (event: Record<string, unknown>) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const payload = Buffer.from(JSON.stringify(body));
    const url = new URL(route, server.url);
    let settled = false;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error as Error);
    };
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: server.agent,
        headers: {
          'content-type': 'application/json',
          'content-length': payload.length,
          authorization: `Bearer ${server.apiKey}`,
          accept: 'text/event-stream',
        },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        response.setEncoding('utf8');
        if (status >= 400) {
          let text = '';
          response.on('data', (piece: string) => (text += piece));
          response.on('end', () => settle(errorOf(status, text)));
          response.on('error', (error) => settle(error));
          return;
        }
        let buffer = '';
        let done = false;
        response.on('data', (piece: string) => {
          if (settled) return;
          buffer += piece;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            // An event is its data line (llama-server sends one); other fields (error:, comments) are read as data too.
            const data =
              event.startsWith('data: ') && !event.includes('\n', 6)
                ? event.slice(6)
                : event
                    .split('\n')
                    .map((line) => line.replace(/^(data|error): ?/, ''))
                    .join('\n');
            if (!data.trim() || event.startsWith(':')) continue;
            if (data === '[DONE]') {
              done = true;
              continue;
            }
            let parsed: Record<string, unknown>;
            try {
              parsed = JSON.parse(data) as Record<string, unknown>;
            } catch {
              settle(new ServerStreamError(`llama-server sent an unreadable event: ${data.slice(0, 200)}`, undefined, undefined));
              request.destroy();
              return;
            }
            if (parsed.error && typeof parsed.error === 'object') {
              settle(errorOf(undefined, data));
              request.destroy();
              return;
            }
            try {
              onEvent(parsed);
            } catch (error) {
              settle(error);
              request.destroy();
              return;
            }
          }
        });
        response.on('end', () =>
          settle(
            done
              ? undefined
              : new ServerStreamError('llama-server ended the stream before its end (the connection closed)', undefined, undefined),
          ),
        );
        response.on('error', (error) => settle(error));
        response.on('aborted', () => settle(new ServerStreamError('llama-server closed the connection mid-stream', undefined, undefined)));
      },
    );
    const onAbort = () => {
      settle(signal.reason);
      request.destroy();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error) => settle(error));
    request.end(payload);
  });
}

/**
 * POSTs `body` to `route` and resolves with the JSON answer (a refusal
 * rejects as above), on a kept-alive connection; a reused connection the
 * server had closed meanwhile is tried again once on a new one.
 */
export function postToServer<T>(server: ServerEndpoint, route: string, body: unknown, signal: AbortSignal, retried = false): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const payload = Buffer.from(JSON.stringify(body));
    const url = new URL(route, server.url);
    const onAbort = () => {
      reject(signal.reason as Error);
      request.destroy();
    };
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: server.shortAgent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${server.apiKey}` },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (piece: string) => (text += piece));
        response.on('error', reject);
        response.on('end', () => {
          signal.removeEventListener('abort', onAbort);
          const status = response.statusCode ?? 0;
          if (status >= 400) return reject(errorOf(status, text));
          try {
            resolve(JSON.parse(text) as T);
          } catch {
            reject(new ServerStreamError(`llama-server answered ${route} with unreadable JSON`, status, undefined));
          }
        });
      },
    );
    signal.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort);
      if (request.reusedSocket && !retried && !signal.aborted && error.code === 'ECONNRESET')
        resolve(postToServer<T>(server, route, body, signal, true));
      else reject(error);
    });
    request.end(payload);
  });
}
