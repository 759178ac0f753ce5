import type { DeltaPart, ChatDelta } from '../../shared/inference';

/**
 * Batches streamed text so that a fast model (1,000+ tokens/s) does not send a
 * message per token. The first part goes out at once, so time to first token
 * is not delayed; later parts are gathered for up to `intervalMs`.
 */
export class DeltaBatcher {
  private pending: DeltaPart[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sentFirst = false;

  constructor(
    private readonly requestId: string,
    private readonly send: (delta: ChatDelta) => void,
    private readonly intervalMs = 16,
  ) {}

  push(kind: 'text' | 'reasoning', text: string): void {
    this.add({ kind, text });
  }

  /** A piece of a tool call's arguments: merged with the previous piece of the same call. */
  pushCall(index: number, name: string, text: string): void {
    this.add({ kind: 'call', index, name, text });
  }

  private add(part: DeltaPart): void {
    if (part.text === '' && part.kind !== 'call') return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.kind === part.kind && (last.kind !== 'call' || (part.kind === 'call' && last.index === part.index)))
      last.text += part.text;
    else this.pending.push({ ...part });
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
