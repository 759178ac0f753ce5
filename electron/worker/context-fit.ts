/**
 * Whether a prompt fits the loaded context, and which older messages to leave
 * out when a conversation has outgrown it. Pure arithmetic over token counts,
 * so that the rule can be tested without a model.
 *
 * The rule, with C the context size:
 * - R, the room kept for the reply: a tenth of C, or max tokens if smaller.
 * - M, a margin: node-llama-cpp keeps one token free and holds a few back
 *   while it checks for stop sequences when it shifts the context.
 * - What cannot be left out (the leading system messages, the last user
 *   message and what follows it, with the chat template) must fit in C − R − M;
 *   otherwise the request is refused with the numbers, before anything is read.
 * - Older messages are kept while the whole fits in C − R − M; beyond that the
 *   oldest are left out (whole messages, the kept part starting at a user
 *   message) until the rest fits in C − S − M, S being the shift size (a tenth
 *   of C, node-llama-cpp's default). When a reply fills the context, the same
 *   rule runs again on the way (node-llama-cpp calls it as its context-shift
 *   strategy).
 * - A reply is at most as long as what fits beside the prompt, or, after older
 *   messages are left out, beside what cannot be left out: so a shift never
 *   has to cut into the last message, which node-llama-cpp's own strategy would
 *   do.
 */

export const CONTEXT_MARGIN = 8;

/** Tokens kept free for the reply. */
export function replyRoom(contextSize: number, maxTokens?: number): number {
  return Math.max(1, Math.min(maxTokens ?? Number.POSITIVE_INFINITY, Math.floor(contextSize / 10)));
}

/** Tokens a context shift frees at least (node-llama-cpp's default, a tenth of the context). */
export function shiftSize(contextSize: number): number {
  return Math.max(1, Math.floor(contextSize / 10));
}

/** The longest prompt the rule accepts in a context. */
export function maxPromptTokens(contextSize: number, maxTokens?: number): number {
  return contextSize - replyRoom(contextSize, maxTokens) - CONTEXT_MARGIN;
}

export interface HistoryShape {
  /** Leading system messages: always kept. */
  lead: number;
  /** Index of the last user message (or `lead` if there is none): it and what follows are always kept. */
  tail: number;
  /** Where the kept part may start: `lead`, each user message in between, and `tail`; oldest first. */
  starts: number[];
}

export function historyShape(types: readonly string[]): HistoryShape {
  let lead = 0;
  while (lead < types.length && types[lead] === 'system') lead += 1;
  let tail = types.lastIndexOf('user');
  if (tail < lead) tail = lead;
  const starts = [lead];
  for (let i = lead + 1; i < tail; i += 1) if (types[i] === 'user') starts.push(i);
  if (tail > lead) starts.push(tail);
  return { lead, tail, starts };
}

/**
 * The earliest start (the fewest messages left out) whose kept history fits
 * in `limit` tokens, or undefined if even the last message does not.
 * `count(start)` is the token count of the lead plus history[start..]. It
 * gallops from the newest end, so a history of thousands of messages costs
 * a few counts of about the context's size, never one of the whole.
 */
export function earliestFit(
  shape: HistoryShape,
  count: (start: number) => number,
  limit: number,
): { start: number; tokens: number } | undefined {
  const { starts } = shape;
  // Candidates newest first: index 0 keeps only the tail.
  const at = (j: number) => starts[starts.length - 1 - j]!;
  const tokens0 = count(at(0));
  if (tokens0 > limit) return undefined;
  let good = { j: 0, tokens: tokens0 };
  let bad = starts.length;
  for (let step = 1; good.j + step < starts.length; step *= 2) {
    const j = good.j + step;
    const tokens = count(at(j));
    if (tokens > limit) {
      bad = j;
      break;
    }
    good = { j, tokens };
  }
  while (bad - good.j > 1) {
    const j = (good.j + bad) >> 1;
    const tokens = count(at(j));
    if (tokens > limit) bad = j;
    else good = { j, tokens };
  }
  return { start: at(good.j), tokens: good.tokens };
}

export type FitPlan =
  | { fits: false; requiredTokens: number; replyTokens: number; maxPromptTokens: number }
  | {
      fits: true;
      /** Keep history[lead..start) out: `start - lead` messages left out. */
      start: number;
      promptTokens: number;
      requiredTokens: number;
      /** The longest reply that never needs to cut into the last message. */
      maxReplyTokens: number;
      shiftSize: number;
    };

/** Applies the rule above to a history whose token counts `count` gives. */
export function planContext(
  types: readonly string[],
  count: (start: number) => number,
  contextSize: number,
  maxTokens: number | undefined,
): FitPlan {
  const shape = historyShape(types);
  const room = replyRoom(contextSize, maxTokens);
  const limit = contextSize - room - CONTEXT_MARGIN;
  const shift = shiftSize(contextSize);
  const requiredTokens = count(shape.tail);
  if (requiredTokens > limit) return { fits: false, requiredTokens, replyTokens: room, maxPromptTokens: limit };
  // Most conversations fit whole: one count settles it (each count renders and tokenizes the history).
  const whole = shape.tail === shape.lead ? requiredTokens : count(shape.lead);
  let kept = whole <= limit ? { start: shape.lead, tokens: whole } : earliestFit(shape, count, limit)!;
  if (kept.start !== shape.lead) {
    // Outgrown: leave out enough to give the reply a shift's worth of room, as node-llama-cpp would.
    kept = earliestFit(shape, count, contextSize - Math.max(shift, room) - CONTEXT_MARGIN) ?? { start: shape.tail, tokens: requiredTokens };
  }
  const maxReplyTokens = Math.max(
    contextSize - kept.tokens - CONTEXT_MARGIN,
    kept.start === shape.tail ? 0 : contextSize - requiredTokens - shift - CONTEXT_MARGIN,
  );
  return { fits: true, start: kept.start, promptTokens: kept.tokens, requiredTokens, maxReplyTokens, shiftSize: shift };
}

/**
 * The smallest context (a power of two, or the trained context) that would
 * hold `requiredTokens` by the same rule, if the model was trained for one.
 */
export function largerContextFor(
  requiredTokens: number,
  maxTokens: number | undefined,
  contextSize: number,
  trainContextSize: number,
): number | null {
  let size = 2 ** Math.ceil(Math.log2(contextSize + 1));
  for (;;) {
    const candidate = Math.min(size, trainContextSize);
    if (candidate <= contextSize) return null;
    if (requiredTokens <= maxPromptTokens(candidate, maxTokens)) return candidate;
    if (candidate === trainContextSize) return null;
    size *= 2;
  }
}
