/**
 * Parses a document in a worker thread when the built parser is beside this
 * bundle (dist/electron/docs-parser.mjs), else in this thread (tests that run
 * the sources). Aborting ends the worker at once, wherever it is.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ParsedDocument } from '../../shared/documents';
import { DocParseError, parseDocument, type ParseOptions } from './parse';
import type { ParserReply } from './parse-worker';

function parserScript(): string | null {
  try {
    const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'docs-parser.mjs');
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

const aborted = () => Object.assign(new Error('Indexing was cancelled.'), { name: 'AbortError' });

export async function parseOffThread(fileName: string, bytes: Uint8Array, options: ParseOptions = {}): Promise<ParsedDocument> {
  const script = parserScript();
  if (!script) return parseDocument(fileName, bytes, options);
  if (options.signal?.aborted) throw aborted();
  return new Promise<ParsedDocument>((resolve, reject) => {
    let worker: Worker;
    try {
      worker = new Worker(script);
    } catch {
      // A runtime without worker threads for this file (some packaged layouts): parsed here instead.
      parseDocument(fileName, bytes, options).then(resolve, reject);
      return;
    }
    let settled = false;
    const finish = (result: () => void) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      result();
    };
    const onAbort = () => finish(() => reject(aborted()));
    options.signal?.addEventListener('abort', onAbort);
    // The worker itself failing (not the file: that is a DocParseError) is not the user's problem: parsed here instead.
    const here = () => parseDocument(fileName, bytes, options).then(resolve, reject);
    worker.on('message', (reply: ParserReply) => {
      if (reply.kind === 'page') options.onPage?.(reply.read, reply.total);
      else if (reply.kind === 'done') finish(() => resolve(reply.doc));
      else finish(() => (reply.code ? reject(new DocParseError(reply.message, reply.code)) : void here()));
    });
    worker.on('error', () => finish(() => void here()));
    worker.on('exit', () => finish(() => void here()));
    const copy = bytes.slice();
    worker.postMessage({ fileName, bytes: copy }, [copy.buffer]);
  });
}
