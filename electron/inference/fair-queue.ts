import { RpcError } from '../../shared/errors';

/** Who asked: the app's own UI, or a client of the local API. */
export type WorkSource = 'ui' | 'api';

interface Job {
  source: WorkSource;
  requestId: string | undefined;
  /** Asked when its turn comes: may it run beside other shareable work (a reply on the model loaded now)? */
  shareable?: () => boolean;
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface QueueState {
  running: WorkSource | null;
  waiting: number;
  /** Jobs running now (replies at once, up to `parallel`). */
  active: number;
  parallel: number;
}

/**
 * Work from every source waits here. Each source has its own
 * first-in-first-out line, and the lines take turns, so a client of the API
 * sending request after request cannot keep the user's chat waiting (nor the
 * other way round). Replies on the model loaded now run side by side up to
 * `capacity()` (the model's parallel sequences); anything else (a load, a
 * benchmark, a reply that needs another model) runs alone, once the running
 * work is done. The head of the lines waits rather than being overtaken, so
 * turns stay fair. Work still waiting can be withdrawn (a stop button, a
 * client that hung up) without ever reaching the model.
 */
export class FairQueue {
  private readonly lines = new Map<WorkSource, Job[]>([
    ['ui', []],
    ['api', []],
  ]);
  private readonly running = new Set<Job>();
  private exclusive = false;
  private lastSource: WorkSource = 'api';

  constructor(
    private readonly onChange: (state: QueueState) => void = () => undefined,
    private readonly capacity: () => number = () => 1,
  ) {}

  state(): QueueState {
    let waiting = 0;
    for (const line of this.lines.values()) waiting += line.length;
    const sources = [...this.running].map((job) => job.source);
    const running = sources.includes('api') ? 'api' : sources.includes('ui') ? 'ui' : null;
    return { running, waiting, active: this.running.size, parallel: Math.max(1, this.capacity()) };
  }

  /** Is this request waiting (not yet running)? */
  isWaiting(requestId: string): boolean {
    for (const line of this.lines.values()) if (line.some((job) => job.requestId === requestId)) return true;
    return false;
  }

  run<T>(source: WorkSource, requestId: string | undefined, run: () => Promise<T>, shareable?: () => boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.lines.get(source)!.push({ source, requestId, shareable, run, resolve: resolve as (value: unknown) => void, reject });
      this.onChange(this.state());
      this.next();
    });
  }

  /** Withdraws a waiting request; its caller gets an `aborted` error. False if it is not waiting. */
  withdraw(requestId: string, why = 'Stopped before it started.'): boolean {
    for (const line of this.lines.values()) {
      const index = line.findIndex((job) => job.requestId === requestId);
      if (index >= 0) {
        const [job] = line.splice(index, 1);
        job!.reject(new RpcError('aborted', why));
        this.onChange(this.state());
        return true;
      }
    }
    return false;
  }

  /** The line whose turn it is, and its first job. */
  private head(): { line: Job[]; job: Job } | undefined {
    const order: WorkSource[] = this.lastSource === 'ui' ? ['api', 'ui'] : ['ui', 'api'];
    for (const source of order) {
      const line = this.lines.get(source)!;
      if (line.length) return { line, job: line[0]! };
    }
    return undefined;
  }

  private next(): void {
    for (;;) {
      if (this.exclusive) return;
      const head = this.head();
      if (!head) return;
      const shared = head.job.shareable?.() ?? false;
      if (shared ? this.running.size >= Math.max(1, this.capacity()) : this.running.size > 0) return;
      head.line.shift();
      this.start(head.job, !shared);
    }
  }

  private start(job: Job, exclusive: boolean): void {
    this.running.add(job);
    this.exclusive = exclusive;
    this.lastSource = job.source;
    this.onChange(this.state());
    let settled: Promise<unknown>;
    try {
      settled = job.run();
    } catch (error) {
      settled = Promise.reject(error);
    }
    settled.then(job.resolve, job.reject).finally(() => {
      this.running.delete(job);
      if (exclusive) this.exclusive = false;
      this.onChange(this.state());
      this.next();
    });
  }
}
