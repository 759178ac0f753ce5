import type http from 'node:http';
import net from 'node:net';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An HTTP/1.1 request head written by hand: the request line (`GET /path`), then the headers as given, in their order. */
export function requestHead(requestLine: string, headers: Record<string, string>): string {
  return (
    `${requestLine} HTTP/1.1\r\n` +
    Object.entries(headers)
      .map(([key, value]) => `${key}: ${value}\r\n`)
      .join('') +
    '\r\n'
  );
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A raw connection to 127.0.0.1:`port`: writes the request head now, then each
 * body chunk after its delay (stopping once the server closed), and reports
 * what came back (decoded as `encoding`), when the first of it came, and when
 * the socket closed (ms after the start).
 */
export function rawRequest(
  port: number,
  head: string,
  chunks: Array<{ data: Buffer | string; delayMs?: number }> = [],
  encoding: BufferEncoding = 'latin1',
) {
  const socket = net.connect(port, '127.0.0.1');
  const started = Date.now();
  let text = '';
  let answeredAt: number | null = null;
  let sentChunks = 0;
  socket.on('data', (data) => {
    answeredAt ??= Date.now() - started;
    text += data.toString(encoding);
  });
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  void (async () => {
    socket.write(head);
    for (const chunk of chunks) {
      if (chunk.delayMs) await sleep(chunk.delayMs);
      if (socket.destroyed || socket.writableEnded) return;
      socket.write(chunk.data);
      sentChunks += 1;
    }
  })();
  /** The answer parsed, once its head is complete (a chunked body with its chunk lines taken out). */
  const answer = (): RawAnswer | null => {
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
    const headers: http.IncomingHttpHeaders = {};
    for (const line of lines) {
      const at = line.indexOf(':');
      headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
    }
    let body = text.slice(end + 4);
    if (headers['transfer-encoding'] === 'chunked') body = body.replace(/^[0-9a-f]+\r\n|\r\n[0-9a-f]+\r\n/gi, '');
    return { status: Number(statusLine!.split(' ')[1]), headers, body };
  };
  return {
    socket,
    closed,
    answer,
    answeredAt: () => answeredAt,
    sentChunks: () => sentChunks,
    /** Everything that came back so far, as it came. */
    text: () => text,
    /** The status of what came back so far, if it began with a status line. */
    status: () => (/^HTTP\/1\.1 (\d{3})/.exec(text) ? Number(/^HTTP\/1\.1 (\d{3})/.exec(text)![1]) : null),
    /** A header of what came back so far, by its name as written. */
    header: (name: string) => new RegExp(`^${name}: *(.*)\\r$`, 'im').exec(text)?.[1],
  };
}
