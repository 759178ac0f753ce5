/**
 * The documents' parser in its own thread (dist/electron/docs-parser.mjs):
 * one file a worker, so a large PDF or DOCX never holds the host's event loop
 * (on the desktop, Electron's main process), and Cancel ends it at once.
 */
import { parentPort } from 'node:worker_threads';
import { DocParseError, parseDocument } from './parse';

export type ParserRequest = { fileName: string; bytes: Uint8Array };
export type ParserReply =
  | { kind: 'page'; read: number; total: number }
  | { kind: 'done'; doc: Awaited<ReturnType<typeof parseDocument>> }
  | { kind: 'error'; message: string; code: DocParseError['code'] | null };

parentPort?.once('message', (request: ParserRequest) => {
  const post = (reply: ParserReply) => parentPort!.postMessage(reply);
  parseDocument(request.fileName, request.bytes, { onPage: (read, total) => post({ kind: 'page', read, total }) }).then(
    (doc) => post({ kind: 'done', doc }),
    (error: unknown) =>
      post({ kind: 'error', message: (error as Error).message, code: error instanceof DocParseError ? error.code : null }),
  );
});
