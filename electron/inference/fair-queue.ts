import { RpcError } from '../../shared/errors';

/** Who asked: the app's own UI, or a client of the local API. */
export type WorkSource = 'ui' | 'api';

interface Job {
  source: WorkSource;
  requestId: string | undefined;
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface QueueState {
  running: WorkSource | null;
  waiting: number;
}

/**
 * One model, one generation at a time: work from every source waits here.
 * Each source has its own first-in-first-out line, and the lines take turns,
 * so a client of the API sending request after request cannot keep the user's
 * chat waiting (nor the other way round). Work still waiting can be withdrawn
 * (a stop button, a client that hung up) without ever reaching the model.
 */
export class FairQueue {
  private readonly lines = new Map<WorkSource, Job[]>([
    ['ui', []],
    ['api', []],
  ]);
  private current: Job | undefined;
  private lastSource: WorkSource = 'api';

  constructor(private readonly onChange: (state: QueueState) => void = () => undefined) {}

  state(): QueueState {
    let waiting = 0;
    for (const line of this.lines.values()) waiting += line.length;
    return { running: this.current?.source ?? null, waiting };
  }

  /** Is this request waiting (not yet running)? */
  isWaiting(requestId: string): boolean {
    for (const line of this.lines.values()) if (line.some((job) => job.requestId === requestId)) return true;
    return false;
  }

  run<T>(source: WorkSource, requestId: string | undefined, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.lines.get(source)!.push({ source, requestId, run, resolve: resolve as (value: unknown) => void, reject });
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

  private pick(): Job | undefined {
    const order: WorkSource[] = this.lastSource === 'ui' ? ['api', 'ui'] : ['ui', 'api'];
    for (const source of order) {
      const job = this.lines.get(source)!.shift();
      if (job) return job;
    }
    return undefined;
  }

  private next(): void {
    if (this.current) return;
    const job = this.pick();
    if (!job) return;
    this.current = job;
    this.lastSource = job.source;
    this.onChange(this.state());
    let settled: Promise<unknown>;
    try {
      settled = job.run();
    } catch (error) {
      settled = Promise.reject(error);
    }
    settled.then(job.resolve, job.reject).finally(() => {
      this.current = undefined;
      this.onChange(this.state());
      this.next();
    });
  }
}
