import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { DownloadJob, DownloadProjector, QuantOption, RepoDetails, RepoFile } from '../../shared/hub';
import { SerialFileWriter } from '../platform/atomic-file';
import type { EventBus } from '../platform/events';
import type { NoticeBoard } from '../platform/notices';
import type { ModelLibrary } from '../library/model-library';
import { newId } from '../library/model-library';
import { shardName } from '../formats/gguf-split';
import { isSafeRepoPath, quantizationOf, type HubClient } from './hub-client';
import { transferFile } from './file-transfer';
import { projectorPrecision } from './hub-projectors';

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

  /**
   * Queues a repo's file, or the files of one quantization (split shards
   * together), with the repo's projector where it has one: the one named, none
   * for `false`, else the one the repo's details chose for this machine.
   */
  async start(
    repo: string,
    revision: string | undefined,
    file: string | undefined,
    quantization: string | undefined,
    projector?: string | false,
  ): Promise<DownloadJob> {
    return (await this.startOrJoin(repo, revision, file, quantization, projector)).job;
  }

  /** As start(), saying whether the job was made now or one already under way for the same file was joined. */
  async startOrJoin(
    repo: string,
    revision: string | undefined,
    file: string | undefined,
    quantization: string | undefined,
    projector?: string | false,
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
    const withProjector = projectorToFetch(details, projector);
    const job: DownloadJob = {
      id: newId(),
      repo,
      revision: details.revision,
      quantization: option.quantization === 'other' ? quantizationOf(option.files[0]!.name) : option.quantization,
      files: option.files,
      projector: withProjector,
      state: 'queued',
      bytesDone: 0,
      totalBytes: option.totalBytes + (withProjector?.file.sizeBytes ?? 0),
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
      const projectorFile = job.projector?.state === 'pending' ? await this.fetchProjector(job, job.projector, before, signal) : null;
      this.update(job, { state: 'verifying', bytesDone: job.totalBytes, bytesPerSecond: 0, etaSeconds: 0 });
      // Already registered where a quit came between that and the job's end.
      const model =
        this.options.library.get(job.id) ??
        (await this.options.library.addDownloaded(
          done,
          { repo: job.repo, revision: job.revision, file: job.files[0]!.name },
          job.files.length === 1 ? job.files[0]!.sha256 : null,
          job.id,
        ));
      if (projectorFile && job.projector) {
        try {
          const { projector } = await this.options.library.attachProjector(model.id, projectorFile, { copy: false });
          job.projector = { ...job.projector, state: 'attached', error: null, vision: projector?.vision, audio: projector?.audio };
        } catch (error) {
          await fs.rm(projectorFile, { force: true });
          this.projectorFailed(job, `${job.projector.file.name} was not attached: ${(error as Error).message}`);
        }
      }
      this.update(job, { state: 'done', modelId: model.id });
    } catch (error) {
      if (signal.aborted || this.closed) return; // paused, canceled or shutting down: the state says so already
      const message = (error as Error).message;
      this.options.log(`download ${job.repo} failed: ${message}`);
      this.update(job, { state: 'failed', error: message, bytesPerSecond: 0, etaSeconds: null });
      this.options.notices.add('error', `Downloading ${job.repo} (${job.quantization ?? job.files[0]?.name}) failed: ${message}`);
    }
  }

  /**
   * The projector, after the model's files, into the model's folder as
   * mmproj.gguf; null where it could not be had (said in the job and a
   * notice: the model comes without it). A pause or cancel goes on up.
   */
  private async fetchProjector(
    job: DownloadJob,
    projector: DownloadProjector,
    before: number,
    signal: AbortSignal,
  ): Promise<string | null> {
    const target = path.join(this.jobDir(job), 'mmproj.gguf');
    try {
      if (!existsSync(target)) await this.transfer(job, projector.file, target, before, signal);
      return target;
    } catch (error) {
      if (signal.aborted || this.closed) throw error;
      await fs.rm(`${target}.partial`, { force: true });
      this.projectorFailed(job, `${projector.file.name} could not be downloaded: ${(error as Error).message}`);
      return null;
    }
  }

  /** The model stays, text-only; the job, the log and a notice say why it cannot see. */
  private projectorFailed(job: DownloadJob, reason: string): void {
    if (!job.projector) return;
    const bytes = job.projector.file.sizeBytes;
    this.options.log(`download ${job.repo}: ${reason}`);
    this.update(job, {
      projector: { ...job.projector, state: 'failed', error: reason },
      totalBytes: job.totalBytes - bytes,
      bytesDone: Math.min(job.bytesDone, job.totalBytes - bytes),
    });
    this.options.notices.add(
      'warning',
      `${job.repo} (${job.quantization ?? job.files[0]?.name}) was downloaded without its projector, so it runs text-only and cannot see images: ${reason}`,
    );
  }

  /** One file through file-transfer.ts, its bytes counted into the job's progress after `before` bytes of the job's other files. */
  private transfer(job: DownloadJob, file: RepoFile, target: string, before: number, signal: AbortSignal): Promise<void> {
    const samples: Array<[number, number]> = [];
    let lastEmit = 0;
    const progress = (have: number) => {
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
    return transferFile(file, target, signal, {
      url: this.options.hub.fileUrl(job.repo, job.revision, file.name),
      headers: () => this.options.hub.headers(),
      retryDelaysMs: this.options.retryDelaysMs,
      stallTimeoutMs: this.options.stallTimeoutMs,
      onBytes: progress,
      onRetry: (reason, wait) =>
        this.update(job, { attempts: job.attempts + 1, lastRetry: `${reason}; retrying in ${Math.round(wait / 1000)} s` }),
    });
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

/** The projector to fetch with a model: the one named, none for `false`, else the one the repo's details chose. */
function projectorToFetch(details: RepoDetails, wanted: string | false | undefined): DownloadProjector | null {
  if (wanted === false) return null;
  const projectors = details.projectors ?? [];
  const option = wanted === undefined ? projectors.find((p) => p.chosen) : projectors.find((p) => p.file.name === wanted);
  if (!option) {
    if (wanted === undefined) return null;
    const available = projectors.map((p) => p.file.name).join(', ') || 'none';
    throw new RpcError('not_found', `${details.repo} has no projector named ${wanted} (available: ${available}).`);
  }
  if (!isSafeRepoPath(option.file.name))
    throw new RpcError('invalid_input', `Refusing the file name "${option.file.name}" from ${details.repo}.`);
  return { file: option.file, precision: projectorPrecision(option.file.name), state: 'pending', error: null };
}
