/**
 * One streamed reply from an OpenAI-compatible server: the request (OpenAI's
 * names plus llama.cpp's sampling fields), the stream read into text,
 * reasoning (reasoning_content or reasoning) and stats, and the watchdog that
 * ends a reply the server has stopped sending.
 */
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { RpcError } from '../../shared/errors';
import type { GenerateResult, GenerationStats, StopReason } from '../../shared/inference';
import type { DeltaParts, RemoteGenerateInput } from './machine';
import { seconds } from './openai-server';

const stopReasons: Record<string, StopReason> = { stop: 'eos', length: 'max-tokens' };

/** The chat request: messages and sampling in OpenAI's names, plus llama.cpp's own sampling fields (ignored elsewhere). */
export function requestBody(model: string, input: RemoteGenerateInput): ChatCompletionCreateParamsStreaming {
  const s = input.sampling ?? {};
  const body: Record<string, unknown> = {
    model,
    messages: [
      ...(input.system ? [{ role: 'system', content: input.system }] : []),
      ...input.messages.map((m) => ({ role: m.role, content: m.text })),
    ],
    stream: true,
    stream_options: { include_usage: true },
  };
  const fields: Array<[string, number | undefined]> = [
    ['temperature', s.temperature],
    ['top_p', s.topP],
    ['max_tokens', s.maxTokens],
    ['seed', s.seed],
    ['frequency_penalty', s.frequencyPenalty],
    ['presence_penalty', s.presencePenalty],
    ['top_k', s.topK],
    ['min_p', s.minP],
    ['repeat_penalty', s.repeatPenalty],
    ['repetition_penalty', s.repeatPenalty],
  ];
  for (const [key, value] of fields) if (value !== undefined) body[key] = value;
  return body as unknown as ChatCompletionCreateParamsStreaming;
}

/** A reply as it streams in: its text and reasoning so far, and its stats once it ends. */
export class ReplyReader {
  private readonly startedAt = performance.now();
  private text = '';
  private reasoning = '';
  private firstTokenAt: number | null = null;
  private reasoningFrom: number | null = null;
  private reasoningUntil: number | null = null;
  private pieces = 0;
  private finish: string | null = null;
  private usage: ChatCompletionChunk['usage'] | null = null;
  private timings: Record<string, unknown> | null = null;

  constructor(private readonly requestId: string) {}

  /** One chunk of the stream: each choice's new reasoning and text, in that order, to onParts. */
  read(chunk: ChatCompletionChunk, onParts: (parts: DeltaParts) => void): void {
    if (chunk.usage) this.usage = chunk.usage;
    const extra = (chunk as { timings?: unknown }).timings;
    if (extra && typeof extra === 'object') this.timings = extra as Record<string, unknown>;
    for (const choice of chunk.choices ?? []) {
      const delta = (choice.delta ?? {}) as Record<string, unknown>;
      const thought =
        typeof delta.reasoning_content === 'string' ? delta.reasoning_content : typeof delta.reasoning === 'string' ? delta.reasoning : '';
      const content = typeof delta.content === 'string' ? delta.content : '';
      const parts: DeltaParts = [];
      const now = performance.now();
      if (thought) {
        parts.push({ kind: 'reasoning', text: thought });
        this.reasoning += thought;
        this.reasoningFrom ??= now;
      }
      if (content) {
        parts.push({ kind: 'text', text: content });
        this.text += content;
        if (this.reasoningFrom !== null) this.reasoningUntil ??= now;
      }
      if (choice.finish_reason) this.finish = choice.finish_reason;
      if (!parts.length) continue;
      this.firstTokenAt ??= now;
      this.pieces++;
      onParts(parts);
    }
  }

  /** Why the server ended the reply ("eos" where it did not say). */
  stopReason(): StopReason {
    return this.finish ? (stopReasons[this.finish] ?? 'eos') : 'eos';
  }

  /** The reply so far, with its stats: the server's counts and timings where it sent them, measured here where not. */
  result(stopReason: StopReason): GenerateResult {
    const { usage, timings, firstTokenAt, reasoningFrom, reasoningUntil, startedAt } = this;
    const end = performance.now();
    const generated = usage?.completion_tokens ?? (typeof timings?.predicted_n === 'number' ? timings.predicted_n : this.pieces);
    const prompt = usage?.prompt_tokens ?? (typeof timings?.prompt_n === 'number' ? timings.prompt_n : 0);
    const cached = usage?.prompt_tokens_details?.cached_tokens ?? (typeof timings?.cache_n === 'number' ? timings.cache_n : undefined);
    const afterFirst = firstTokenAt === null ? 0 : (end - firstTokenAt) / 1000;
    const measured = afterFirst > 0 && generated > 1 ? (generated - 1) / afterFirst : 0;
    const stats: GenerationStats = {
      promptTokens: prompt,
      ...(cached ? { cachedPromptTokens: cached } : {}),
      generatedTokens: generated,
      timeToFirstTokenMs: Math.round((firstTokenAt ?? end) - startedAt),
      tokensPerSecond: typeof timings?.predicted_per_second === 'number' ? timings.predicted_per_second : measured,
      totalMs: Math.round(end - startedAt),
      stopReason,
      ...(reasoningFrom !== null ? { reasoningMs: Math.round((reasoningUntil ?? end) - reasoningFrom) } : {}),
    };
    return { requestId: this.requestId, text: this.text, reasoning: this.reasoning, stats };
  }
}

/**
 * A reply under way, watched: it fails when its first data takes longer than
 * firstDataTimeoutMs or its stream is silent for stallTimeoutMs, and stops
 * when the caller's signal aborts. The machine may fail it sooner (the
 * server found gone) or abort it (the machine closed).
 */
export class RunningReply {
  readonly controller = new AbortController();
  readonly startedAt = Date.now();
  lastDataAt: number | null = null;
  /** Why it failed (a watchdog, the machine), read once the stream has ended. */
  failure: RpcError | null = null;
  /** Whether the caller's signal stopped it. */
  aborted = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly name: string,
    private readonly signal: AbortSignal,
    private readonly timeouts: { stallTimeoutMs: number; firstDataTimeoutMs: number },
  ) {
    signal.addEventListener('abort', this.onAbort, { once: true });
    this.arm(timeouts.firstDataTimeoutMs, `${name} did not start its reply within ${seconds(timeouts.firstDataTimeoutMs)}`);
  }

  fail(error: RpcError): void {
    this.failure ??= error;
    this.controller.abort();
  }

  /** Data came: the stall watchdog starts over. */
  readonly onBytes = (): void => {
    this.lastDataAt = Date.now();
    const { stallTimeoutMs } = this.timeouts;
    this.arm(stallTimeoutMs, `${this.name} stopped answering mid-reply (no data for ${seconds(stallTimeoutMs)})`);
  };

  /** The stream has ended: the watchdog and the caller's signal let go. */
  end(): void {
    if (this.timer) clearTimeout(this.timer);
    this.signal.removeEventListener('abort', this.onAbort);
  }

  private readonly onAbort = (): void => {
    this.aborted = true;
    this.controller.abort();
  };

  private arm(ms: number, message: string): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fail(new RpcError('disconnected', message)), ms);
  }
}
