import type { ChatDelta } from '../../shared/inference';

type Part = ChatDelta['parts'][number];

/**
 * Batches streamed text so that a fast model (1,000+ tokens/s) does not send a
 * message per token. The first part goes out at once, so time to first token
 * is not delayed; later parts are gathered for up to `intervalMs`.
 */
export class DeltaBatcher {
  private pending: Part[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sentFirst = false;

  constructor(
    private readonly requestId: string,
    private readonly send: (delta: ChatDelta) => void,
    private readonly intervalMs = 16,
  ) {}

  push(kind: Part['kind'], text: string): void {
    if (text === '') return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.kind === kind) last.text += text;
    else this.pending.push({ kind, text });
    if (!this.sentFirst) {
      this.sentFirst = true;
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const parts = this.pending;
    this.pending = [];
    this.send({ requestId: this.requestId, parts });
  }
}
