import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs } from 'node:fs';
import { Transform } from 'node:stream';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { DownloadJob, QuantOption, RepoFile } from '../../shared/hub';
import { SerialFileWriter } from '../platform/atomic-file';
import type { EventBus } from '../platform/events';
import type { NoticeBoard } from '../platform/notices';
import type { ModelLibrary } from '../library/model-library';
import { newId } from '../library/model-library';
import { openRegularFile } from '../platform/regular-file';
import { shardName } from '../formats/gguf-split';
import { isSafeRepoPath, quantizationOf, type HubClient } from './hub-client';
import { httpGet, type HttpResponse } from './http-get';

function headerValue(value: string | string[] | undefined): string | null {
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

export interface DownloadQueueOptions {
  dataDir: string;
  modelsDir: () => string;
  hub: HubClient;
  library: ModelLibrary;
  events: EventBus;
  notices: NoticeBoard;
  log: (line: string) => void;
  concurrency?: number;
  /** Delays between retries; Retry-After from the server wins when longer. */
  retryDelaysMs?: number[];
  /** A transfer that receives nothing for this long is dropped and retried. */
  stallTimeoutMs?: number;
  fetch?: typeof fetch;
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
 * Downloads that survive network loss and restarts: a small queue, HTTP Range
 * resume that appends only on a matching 206, retries with backoff honouring
 * Retry-After, sha256 computed while writing and checked against the hub's LFS
 * oid, the file renamed into place only once verified.
 */
export class DownloadQueue {
  private jobs: DownloadJob[] = [];
  private readonly running = new Map<string, AbortController>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly writer: SerialFileWriter;
  private closed = false;

  constructor(private readonly options: DownloadQueueOptions) {
    this.writer = new SerialFileWriter(path.join(options.dataDir, 'downloads.json'));
  }

  async open(): Promise<void> {
    try {
      const stored = JSON.parse(await fs.readFile(this.writer.file, 'utf8')) as { version: 1; jobs: DownloadJob[] };
      this.jobs = Array.isArray(stored.jobs) ? stored.jobs : [];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.options.notices.add('warning', 'The download list was unreadable and was reset; finished models are still in the library.');
    }
    // Interrupted by a quit or a crash: pick up where the partial files left off.
    for (const job of this.jobs) {
      if (job.state === 'downloading' || job.state === 'verifying') job.state = 'queued';
      job.bytesPerSecond = 0;
      job.etaSeconds = null;
    }
    this.pump();
  }

  list(): DownloadJob[] {
    return [...this.jobs].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  private save(): void {
    void this.writer
      .write(`${JSON.stringify({ version: 1, jobs: this.jobs })}\n`)
      .catch((error: unknown) => this.options.log(`could not save downloads: ${String(error)}`));
  }

  private emit(job: DownloadJob): void {
    this.options.events.emit('onDownloadProgress', { ...job });
  }

  private update(job: DownloadJob, change: Partial<DownloadJob>): void {
    Object.assign(job, change);
    this.emit(job);
    this.save();
  }

  /** Queues a repo's file, or the files of one quantization (split shards together). */
  async start(
    repo: string,
    revision: string | undefined,
    file: string | undefined,
    quantization: string | undefined,
  ): Promise<DownloadJob> {
    return (await this.startOrJoin(repo, revision, file, quantization)).job;
  }

  /** As start(), saying whether the job was made now or one already under way for the same file was joined. */
  async startOrJoin(
    repo: string,
    revision: string | undefined,
    file: string | undefined,
    quantization: string | undefined,
  ): Promise<{ job: DownloadJob; created: boolean }> {
    const details = await this.options.hub.repo(repo, revision ?? 'main');
    let option: QuantOption | undefined;
    if (file) {
      if (!isSafeRepoPath(file)) throw new RpcError('invalid_input', `Refusing the file name "${file}".`);
      option = details.quants.find((q) => q.files.some((f) => f.name === file));
    } else if (quantization) {
      option = details.quants.find((q) => q.quantization.toUpperCase() === quantization.toUpperCase());
    } else {
      option = details.quants.find((q) => q.recommended) ?? details.quants[0];
    }
    if (!option) {
      const available = details.quants.map((q) => q.quantization).join(', ') || 'none';
      throw new RpcError(
        'not_found',
        `${repo} has no GGUF ${file ? `file named ${file}` : `in ${quantization}`} (available: ${available}).`,
      );
    }
    for (const f of option.files)
      if (!isSafeRepoPath(f.name)) throw new RpcError('invalid_input', `Refusing the file name "${f.name}" from ${repo}.`);
    const existing = this.jobs.find(
      (j) =>
        j.repo === repo && j.files[0]?.name === option.files[0]?.name && ['queued', 'downloading', 'paused', 'verifying'].includes(j.state),
    );
    if (existing) return { job: existing, created: false };
    const job: DownloadJob = {
      id: newId(),
      repo,
      revision: details.revision,
      quantization: option.quantization === 'other' ? quantizationOf(option.files[0]!.name) : option.quantization,
      files: option.files,
      state: 'queued',
      bytesDone: 0,
      totalBytes: option.totalBytes,
      bytesPerSecond: 0,
      etaSeconds: null,
      error: null,
      attempts: 0,
      lastRetry: null,
      modelId: null,
      createdAt: new Date().toISOString(),
    };
    await this.options.library.ensureSpace(this.options.modelsDir(), job.totalBytes);
    this.jobs.push(job);
    this.update(job, {});
    this.pump();
    return { job, created: true };
  }

  private get(id: string): DownloadJob {
    const job = this.jobs.find((j) => j.id === id);
    if (!job) throw new RpcError('not_found', 'No such download.');
    return job;
  }

  pause(id: string): DownloadJob {
    const job = this.get(id);
    if (job.state === 'queued' || job.state === 'downloading') {
      this.running.get(id)?.abort('pause');
      this.update(job, { state: 'paused', bytesPerSecond: 0, etaSeconds: null });
    }
    return job;
  }

  resume(id: string): DownloadJob {
    const job = this.get(id);
    if (job.state === 'paused' || job.state === 'failed') {
      this.update(job, { state: 'queued', error: null });
      this.pump();
    }
    return job;
  }

  async cancel(id: string): Promise<DownloadJob> {
    const job = this.get(id);
    if (job.state === 'done') throw new RpcError('conflict', 'This download has finished; remove the model from the library instead.');
    this.running.get(id)?.abort('cancel');
    this.update(job, { state: 'canceled', bytesPerSecond: 0, etaSeconds: null });
    await fs.rm(this.jobDir(job), { recursive: true, force: true });
    return job;
  }

  private jobDir(job: DownloadJob): string {
    return path.join(this.options.modelsDir(), job.id);
  }

  /** Names on disk come from the job's id, never from the repo's file names. */
  private targetFor(job: DownloadJob, index: number): string {
    const name = job.files.length > 1 ? shardName('model', index + 1, job.files.length) : 'model.gguf';
    return path.join(this.jobDir(job), name);
  }

  private pump(): void {
    if (this.closed) return;
    const limit = this.options.concurrency ?? 2;
    for (const job of this.jobs) {
      if (this.running.size >= limit) break;
      if (job.state !== 'queued' || this.running.has(job.id)) continue;
      const controller = new AbortController();
      this.running.set(job.id, controller);
      const task = this.run(job, controller.signal).finally(() => {
        this.running.delete(job.id);
        this.tasks.delete(task);
        this.pump();
      });
      this.tasks.add(task);
    }
  }

  private async run(job: DownloadJob, signal: AbortSignal): Promise<void> {
    this.update(job, { state: 'downloading', error: null });
    try {
      await fs.mkdir(this.jobDir(job), { recursive: true });
      const done: string[] = [];
      let before = 0;
      for (let i = 0; i < job.files.length; i += 1) {
        const target = this.targetFor(job, i);
        if (!existsSync(target)) await this.transfer(job, job.files[i]!, target, before, signal);
        before += job.files[i]!.sizeBytes;
        done.push(target);
      }
      this.update(job, { state: 'verifying', bytesDone: job.totalBytes, bytesPerSecond: 0, etaSeconds: 0 });
      const model = await this.options.library.addDownloaded(
        done,
        { repo: job.repo, revision: job.revision, file: job.files[0]!.name },
        job.files.length === 1 ? job.files[0]!.sha256 : null,
        job.id,
      );
      this.update(job, { state: 'done', modelId: model.id });
    } catch (error) {
      if (signal.aborted || this.closed) return; // paused, canceled or shutting down: the state says so already
      const message = (error as Error).message;
      this.options.log(`download ${job.repo} failed: ${message}`);
      this.update(job, { state: 'failed', error: message, bytesPerSecond: 0, etaSeconds: null });
      this.options.notices.add('error', `Downloading ${job.repo} (${job.quantization ?? job.files[0]?.name}) failed: ${message}`);
    }
  }

  /** One file: resume from the partial file if the server honours Range, retry on network trouble. */
  private async transfer(job: DownloadJob, file: RepoFile, target: string, before: number, signal: AbortSignal): Promise<void> {
    const partial = `${target}.partial`;
    const url = this.options.hub.fileUrl(job.repo, job.revision, file.name);
    const delays = this.options.retryDelaysMs ?? [1000, 2000, 5000, 10_000, 30_000, 30_000, 60_000];
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

    const samples: Array<[number, number]> = [];
    let lastEmit = 0;
    const progress = () => {
      const now = Date.now();
      samples.push([now, have]);
      while (samples.length > 2 && now - samples[0]![0] > 5000) samples.shift();
      if (now - lastEmit < 250) return;
      lastEmit = now;
      const [t0, b0] = samples[0]!;
      const speed = now > t0 ? ((have - b0) / (now - t0)) * 1000 : 0;
      const done = before + have;
      job.bytesDone = done;
      job.bytesPerSecond = speed;
      job.etaSeconds = speed > 0 ? (job.totalBytes - done) / speed : null;
      this.emit(job);
    };

    for (let attempt = 0; ; attempt += 1) {
      if (signal.aborted) throw signal.reason;
      try {
        if (have === file.sizeBytes) break;
        const stall = new AbortController();
        const combined = AbortSignal.any([signal, stall.signal]);
        let stallTimer = setTimeout(() => stall.abort(new RetryableError('the transfer stalled')), this.options.stallTimeoutMs ?? 30_000);
        const headers: Record<string, string> = { ...this.options.hub.headers() };
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
          throw new Error(
            `access denied (${res.status}): this model is gated; set a Hugging Face token and accept its licence on the hub.`,
          );
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
            stallTimer = setTimeout(() => stall.abort(new RetryableError('the transfer stalled')), this.options.stallTimeoutMs ?? 30_000);
            if (have + chunk.length > file.sizeBytes)
              return callback(new Error(`the server sent more than the ${file.sizeBytes} bytes of ${file.name}`));
            hash.update(chunk);
            have += chunk.length;
            progress();
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
        this.update(job, { attempts: job.attempts + 1, lastRetry: `${error.message}; retrying in ${Math.round(wait / 1000)} s` });
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

  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.running.values()) controller.abort('shutdown');
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(this.tasks), new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
    await this.writer.flush();
  }
}
