/**
 * llama.cpp says why it refused a model only in its log ("llama_model_load:
 * error loading model: missing tensor 'blk.3.ffn_up.weight'"); node-llama-cpp's
 * error is just "Failed to load model". The worker keeps the error lines
 * logged during a load so that the error the user sees can give the reason.
 */

export type LogLevel = 'disabled' | 'fatal' | 'error' | 'warn' | 'info' | 'log' | 'debug';

/** node-llama-cpp's errors that mean "llama.cpp refused; the reason is in its log". */
const GENERIC_FAILURE = /^Failed to (load model|create context)$/;

/** "check_tensor_dims: tensor … not found" → "tensor … not found": the C function names mean nothing to a user. */
function withoutFunctionNames(line: string): string {
  return line
    .replace(/^(?:[A-Za-z_][A-Za-z0-9_]*: )+/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

const isGeneric = (reason: string) => reason === '' || /^failed to load model(?: from .*)?$/i.test(reason);

/**
 * The reason in llama.cpp's own words, from the error lines of one load: its
 * "error loading model: …" line (the last one: node-llama-cpp may have tried a
 * dry run first), else the last specific error line.
 */
export function refusalReason(lines: readonly string[]): string | undefined {
  const marker = 'error loading model: ';
  for (const line of [...lines].reverse()) {
    const at = line.lastIndexOf(marker);
    if (at < 0) continue;
    const reason = withoutFunctionNames(line.slice(at + marker.length));
    if (!isGeneric(reason)) return reason;
  }
  for (const line of [...lines].reverse()) {
    if (line.includes(marker)) continue;
    const reason = withoutFunctionNames(line);
    if (!isGeneric(reason)) return reason;
  }
  return undefined;
}

/** The error and fatal lines logged while it is open. */
export class LogCapture {
  readonly lines: string[] = [];
  private lastLineAt = 0;

  constructor(private readonly close: () => void) {}

  add(message: string): void {
    this.lines.push(message);
    this.lastLineAt = performance.now();
  }

  /**
   * llama.cpp's reason for an error, if the error is node-llama-cpp's generic
   * one. Its log lines cross from the native thread on their own and may arrive
   * after the failed call has returned: wait (at most `maxWaitMs`) until the
   * reason is in and the log has been quiet for a moment.
   */
  async reasonFor(error: unknown, maxWaitMs = 1000): Promise<string | undefined> {
    try {
      if (!GENERIC_FAILURE.test((error as Error)?.message ?? '')) return undefined;
      const started = performance.now();
      while (performance.now() - started < maxWaitMs) {
        if (refusalReason(this.lines) !== undefined && performance.now() - this.lastLineAt >= 25) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return refusalReason(this.lines);
    } finally {
      this.close();
    }
  }

  stop(): void {
    this.close();
  }
}

/** Fans llama.cpp's log out to the captures open now. */
export class LlamaLog {
  private readonly captures = new Set<LogCapture>();

  record(level: LogLevel, message: string): void {
    if (level !== 'error' && level !== 'fatal') return;
    for (const capture of this.captures) capture.add(message);
  }

  capture(): LogCapture {
    const capture: LogCapture = new LogCapture(() => this.captures.delete(capture));
    this.captures.add(capture);
    return capture;
  }
}
