/** One file of a download, from the hub to the disk: Range resume, retries with backoff honouring Retry-After, sha256 on the way. */
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import { Transform } from 'node:stream';
import path from 'node:path';
import type { RepoFile } from '../../shared/hub';
import { openRegularFile } from '../platform/regular-file';
import { httpGet, type HttpResponse } from './http-get';

export interface TransferOptions {
  url: string;
  /** Sent with each request (the token, for gated repos). */
  headers: () => Record<string, string>;
  /** Delays between retries; Retry-After from the server wins when longer. */
  retryDelaysMs?: number[];
  /** A transfer that receives nothing for this long is dropped and retried. */
  stallTimeoutMs?: number;
  /** How many bytes of the file are on disk (or on their way) now. */
  onBytes: (have: number) => void;
  /** A retry comes after `waitMs`, for this reason. */
  onRetry: (reason: string, waitMs: number) => void;
}

function headerValue(value: string | string[] | undefined): string | null {
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

class RetryableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * One file: resumed from its partial file (`<target>.partial`) if the server
 * honours Range, retried on network trouble, hashed while written, checked
 * against the hub's sha256 and renamed into place only once it verifies.
 */
export async function transferFile(file: RepoFile, target: string, signal: AbortSignal, options: TransferOptions): Promise<void> {
  const partial = `${target}.partial`;
  const { url } = options;
  const delays = options.retryDelaysMs ?? [1000, 2000, 5000, 10_000, 30_000, 30_000, 60_000];
  let have = 0;
  let hash: Hash = createHash('sha256');
  let stat = await fs.lstat(partial).catch(() => undefined);
  if (stat && !stat.isFile()) {
    // Not a partial this queue wrote (a link, a FIFO that would block the read): started over without it.
    if (stat.isDirectory()) throw new Error(`${path.basename(partial)} is a folder, not a partial download.`);
    await fs.rm(partial, { force: true });
    stat = undefined;
  }
  if (stat && stat.size <= file.sizeBytes) {
    // Resuming after a restart: the hash must cover the bytes already on disk.
    for await (const chunk of (await openRegularFile(partial)).createReadStream()) hash.update(chunk as Buffer);
    have = stat.size;
  } else if (stat) {
    await fs.rm(partial, { force: true });
  }

  for (let attempt = 0; ; attempt += 1) {
    if (signal.aborted) throw signal.reason;
    try {
      if (have === file.sizeBytes) break;
      const stall = new AbortController();
      const combined = AbortSignal.any([signal, stall.signal]);
      let stallTimer = setTimeout(() => stall.abort(new RetryableError('the transfer stalled')), options.stallTimeoutMs ?? 30_000);
      const headers: Record<string, string> = { ...options.headers() };
      if (have > 0) headers.Range = `bytes=${have}-`;
      let res: HttpResponse;
      try {
        res = await httpGet(url, headers, combined);
      } catch (error) {
        clearTimeout(stallTimer);
        if (signal.aborted) throw signal.reason;
        throw new RetryableError(`network error: ${(error as Error).message}`);
      }
      if (res.status === 429 || res.status >= 500) {
        clearTimeout(stallTimer);
        res.body.resume();
        throw new RetryableError(`the hub answered ${res.status}`, retryAfter(headerValue(res.headers['retry-after'])));
      }
      if (res.status === 401 || res.status === 403) {
        clearTimeout(stallTimer);
        res.body.resume();
        throw new Error(`access denied (${res.status}): this model is gated; set a Hugging Face token and accept its licence on the hub.`);
      }
      if (res.status === 416 && have === file.sizeBytes) {
        res.body.resume();
        break;
      }
      let append = false;
      if (res.status === 206) {
        // Append only if the server sends exactly the bytes we asked for, of the file we expect.
        const contentRange = headerValue(res.headers['content-range']);
        const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? '');
        if (!range || Number(range[1]) !== have || Number(range[3]) !== file.sizeBytes) {
          clearTimeout(stallTimer);
          res.body.resume();
          throw new RetryableError(`the server sent a range that does not match (${contentRange}); starting the file over`);
        }
        append = true;
      } else if (res.status === 200) {
        append = false; // Range ignored: the body is the whole file, so the partial restarts.
      } else {
        clearTimeout(stallTimer);
        res.body.resume();
        throw new Error(`the hub answered ${res.status} for ${file.name}`);
      }
      if (!append) {
        have = 0;
        hash = createHash('sha256');
      }
      // Network → hash and count → file, as one pipeline: the write happens on libuv's
      // threads while the next chunk is parsed and hashed, and backpressure holds the rest.
      const counter = new Transform({
        transform: (chunk: Buffer, _encoding, callback) => {
          clearTimeout(stallTimer);
          stallTimer = setTimeout(() => stall.abort(new RetryableError('the transfer stalled')), options.stallTimeoutMs ?? 30_000);
          if (have + chunk.length > file.sizeBytes)
            return callback(new Error(`the server sent more than the ${file.sizeBytes} bytes of ${file.name}`));
          hash.update(chunk);
          have += chunk.length;
          options.onBytes(have);
          callback(null, chunk);
        },
      });
      const out = createWriteStream(partial, { flags: append ? 'a' : 'w', highWaterMark: 4 * 1024 * 1024 });
      try {
        await new Promise<void>((resolve, reject) => {
          let failure: Error | undefined;
          // When the network fails, still let every byte already hashed reach the file, so
          // that the partial file and the hash agree and the next attempt resumes after them.
          const stop = (error: Error) => {
            failure ??= error;
            res.body.unpipe(counter);
            counter.end();
          };
          const body = res.body;
          body.on('error', stop);
          body.on('aborted', () => stop(new Error('the connection was aborted')));
          body.on('close', () => {
            if (!body.complete) stop(new Error('the connection closed early'));
          });
          combined.addEventListener(
            'abort',
            () => {
              body.destroy();
              stop(combined.reason instanceof Error ? combined.reason : new Error(String(combined.reason)));
            },
            { once: true },
          );
          counter.on('error', (error) => {
            failure ??= error;
            out.end();
          });
          out.on('error', reject);
          out.on('finish', () => (failure ? reject(failure) : resolve()));
          body.pipe(counter).pipe(out);
        });
        const handle = await fs.open(partial, 'r+');
        await handle.sync();
        await handle.close();
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof Error && /sent more than/.test(error.message)) throw error;
        throw new RetryableError(stall.signal.aborted ? 'the transfer stalled' : `the connection dropped: ${(error as Error).message}`);
      } finally {
        clearTimeout(stallTimer);
      }
      if (have !== file.sizeBytes) throw new RetryableError(`the connection closed after ${have} of ${file.sizeBytes} bytes`);
      break;
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      if (attempt >= delays.length) throw new Error(`gave up after ${attempt + 1} attempts: ${error.message}`, { cause: error });
      if (/starting the file over/.test(error.message)) {
        have = 0;
        hash = createHash('sha256');
        await fs.rm(partial, { force: true });
      }
      const wait = Math.max(delays[attempt] ?? 1000, error.retryAfterMs ?? 0);
      options.onRetry(error.message, wait);
      await sleep(wait, signal);
    }
  }

  const digest = hash.digest('hex');
  if (file.sha256 && digest !== file.sha256) {
    await fs.rm(partial, { force: true });
    throw new Error(
      `${file.name} did not verify (sha256 ${digest.slice(0, 12)}… instead of ${file.sha256.slice(0, 12)}…); the partial file was deleted.`,
    );
  }
  await fs.rename(partial, target);
}
