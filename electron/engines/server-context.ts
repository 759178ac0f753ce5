/**
 * A conversation longer than a slot's context on llama.cpp's server, left
 * short as the worker leaves it (worker/context-fit.ts: the same rule, room
 * for the reply and numbers): the oldest messages go whole — a user message
 * with the replies, calls and results that follow it, and its images and
 * audio — while the system prompt and the last user message with what follows
 * it always stay; only when those alone do not fit is the reply refused as
 * `context_length_exceeded` with the numbers. The reply's stats say how many
 * messages were left out, and how full the slot's context is after it.
 *
 * Cheap on the normal path: nothing is counted for a prompt that an estimate
 * (its characters at the most tokens per character seen on this server) puts
 * well inside the context. A longer one, or one llama-server refuses for its
 * size, is counted as llama-server reads it: rendered by its template (POST
 * /apply-template) and tokenized (POST /tokenize), an image or clip at what
 * one cost before; then the rule settles which messages stay, and the reply
 * is sent again without the others.
 */
import type { ContextOverflow, GenerateInput, GenerationStats } from '../../shared/inference';
import { historyShape, maxPromptTokens, planContext } from '../worker/context-fit';
import { mediaIn } from './server-media';
import { postToServer, type ServerEndpoint } from './server-stream';

export type OverflowCounts = Pick<ContextOverflow, 'promptTokens' | 'requiredTokens' | 'replyTokens' | 'maxPromptTokens'>;

/** What a fit settled: the input to send (`dropped` older messages left out), or the numbers of one that cannot fit. */
export type FitOutcome = { fits: true; input: GenerateInput; dropped: number } | { fits: false; counts: OverflowCounts };

export interface FitRequest {
  input: GenerateInput;
  /** Tokens of context per reply (a slot's). */
  contextSize: number;
  /** The request llama-server gets for an input (its template renders it as it will be read). */
  bodyOf: (input: GenerateInput) => object;
  endpoint: ServerEndpoint;
  /** The marker llama-server renders where an image or clip goes. */
  mediaMarker: string | null;
  signal: AbortSignal;
  /** llama-server's refusal: the tokens it counted (where it said) for the input kept from `start` (a history item). */
  refused?: { start: number; tokens: number | undefined };
}

/** Characters and images or clips of the prompt an input renders to (tools and output schema too). */
function charsOf(input: GenerateInput): number {
  let chars = (input.system?.length ?? 0) + (input.tools ? JSON.stringify(input.tools).length : 0);
  if (input.format?.type === 'json_schema') chars += JSON.stringify(input.format.schema).length;
  for (const message of input.messages) {
    chars += message.text.length;
    if (message.role === 'assistant')
      for (const call of message.calls ?? []) chars += call.name.length + call.arguments.length + call.result.length;
  }
  return chars;
}

/** Tokens a template adds per message, about (the estimate's allowance). */
const PER_MESSAGE = 16;

/** The history as the worker's items (the system prompt, then each message), and the input kept from an item on. */
function historyOf(input: GenerateInput) {
  const offset = input.system ? 1 : 0;
  const types = [...(input.system ? ['system'] : []), ...input.messages.map((m) => (m.role === 'assistant' ? 'model' : m.role))];
  const { lead } = historyShape(types);
  const kept = (start: number): GenerateInput => ({
    ...input,
    messages: [...input.messages.slice(0, lead - offset), ...input.messages.slice(start - offset)],
  });
  return { types, lead, kept };
}

const MISSING = Symbol('missing count');

/** The worker's planContext over counts that take a request each: run again with each count it asked for, until it has them all. */
async function planWith(
  types: readonly string[],
  known: Map<number, number>,
  count: (start: number) => Promise<number>,
  contextSize: number,
  maxTokens: number | undefined,
) {
  for (;;) {
    let missing = -1;
    try {
      return planContext(
        types,
        (start) => {
          const tokens = known.get(start);
          if (tokens !== undefined) return tokens;
          missing = start;
          throw MISSING;
        },
        contextSize,
        maxTokens,
      );
    } catch (error) {
      if (error !== MISSING) throw error;
      known.set(missing, await count(missing));
    }
  }
}

/** One server's fitting: what it learned of its prompts' tokens, for the estimate. */
export class ContextFitter {
  /** The most tokens per character seen in a prompt here; until one is seen, one per character. */
  private tokensPerChar = 1;
  private learned = false;
  /** Tokens an image or clip took, the last time it was seen. */
  private mediaEach: number | undefined;

  /** Whether the prompt may leave less room for the reply than the rule keeps: then it is counted before it is sent. */
  mayOverflow(input: GenerateInput, contextSize: number): boolean {
    const { images, audio } = mediaIn(input.messages);
    const estimate =
      charsOf(input) * this.tokensPerChar * 1.25 + PER_MESSAGE * (input.messages.length + 1) + (images + audio) * (this.mediaEach ?? 0);
    return estimate > maxPromptTokens(contextSize, input.sampling?.maxTokens);
  }

  /** A prompt read: its tokens (`mediaTokens` of them its images' and clips'), for the next estimate. */
  learn(input: GenerateInput, promptTokens: number, mediaTokens: number | undefined): void {
    const { images, audio } = mediaIn(input.messages);
    if (mediaTokens && images + audio > 0) this.mediaEach = mediaTokens / (images + audio);
    const chars = charsOf(input);
    // Short prompts are mostly the template's own tokens: they say little about the text's.
    if (chars < 256 || promptTokens <= 0) return;
    const ratio = Math.max(0, promptTokens - (mediaTokens ?? 0)) / chars;
    this.tokensPerChar = this.learned ? Math.max(this.tokensPerChar, ratio) : ratio;
    this.learned = true;
  }

  /**
   * The prompt's text tokens as llama-server reads it (the pieces between
   * media markers tokenized as libmtmd does, BOS on the first), and how many
   * images and clips it holds.
   */
  private async countParts(request: FitRequest, input: GenerateInput): Promise<{ text: number; media: number }> {
    const body = { ...request.bodyOf(input), stream: false };
    const { prompt } = await postToServer<{ prompt: string }>(request.endpoint, '/apply-template', body, request.signal);
    const { images, audio } = mediaIn(input.messages);
    const content = request.mediaMarker && images + audio > 0 ? prompt.split(request.mediaMarker) : prompt;
    const { tokens } = await postToServer<{ tokens: unknown[] }>(
      request.endpoint,
      '/tokenize',
      { content, add_special: true, parse_special: true },
      request.signal,
    );
    return { text: tokens.length, media: images + audio };
  }

  /** Which messages fit with room for the reply, by the worker's rule; or the numbers of a conversation that cannot. */
  async fit(request: FitRequest): Promise<FitOutcome> {
    const { input, contextSize } = request;
    const { types, lead, kept } = historyOf(input);
    const known = new Map<number, number>();
    if (request.refused?.tokens !== undefined) {
      const { start, tokens } = request.refused;
      const parts = mediaIn(kept(start).messages);
      // What llama-server counted says what its images and clips cost.
      if (parts.images + parts.audio > 0) {
        const { text, media } = await this.countParts(request, kept(start));
        if (tokens > text) this.mediaEach = (tokens - text) / media;
      }
      known.set(start, tokens);
    }
    const count = async (start: number) => {
      const { text, media } = await this.countParts(request, kept(start));
      return text + Math.round(media * (this.mediaEach ?? 0));
    };
    const maxTokens = input.sampling?.maxTokens;
    const plan = await planWith(types, known, count, contextSize, maxTokens);
    if (!plan.fits) {
      const promptTokens = known.get(lead) ?? (await count(lead));
      return {
        fits: false,
        counts: { promptTokens, requiredTokens: plan.requiredTokens, replyTokens: plan.replyTokens, maxPromptTokens: plan.maxPromptTokens },
      };
    }
    return { fits: true, input: kept(plan.start), dropped: plan.start - lead };
  }

  /** Where the input `fitted` (sent after `dropped` messages were left out) starts in the history of `input`, for a refusal of it. */
  static startOf(input: GenerateInput, dropped: number): number {
    return historyOf(input).lead + dropped;
  }
}

/** llama-server's refusal of a prompt too long for its slot, with the tokens it counted where it said; else null. */
export function contextRefusal(error: unknown): { tokens: number | undefined } | null {
  const e = error as { error?: { type?: unknown; n_prompt_tokens?: unknown } } | null;
  if (typeof e !== 'object' || e === null || e.error?.type !== 'exceed_context_size_error') return null;
  return { tokens: typeof e.error.n_prompt_tokens === 'number' ? e.error.n_prompt_tokens : undefined };
}

/** The context gauge's numbers and the messages left out, as the worker's stats carry them. */
export function contextStats(stats: GenerationStats, contextSize: number, dropped?: number): void {
  stats.contextSize = contextSize;
  stats.contextTokens = stats.promptTokens + stats.generatedTokens;
  if (dropped !== undefined) stats.droppedMessages = dropped;
}

/** With speculative decoding, llama-server's drafted and accepted tokens (timings.draft_n, draft_n_accepted). */
export function speculativeStats(stats: GenerationStats, timings: Record<string, unknown> | undefined): void {
  if (typeof timings?.draft_n !== 'number') return;
  stats.predictedTokens = timings.draft_n;
  stats.acceptedPredictions = typeof timings.draft_n_accepted === 'number' ? timings.draft_n_accepted : 0;
}
