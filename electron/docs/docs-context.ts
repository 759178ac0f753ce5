/**
 * What a reply is given from the documents (pure): the documents whole when
 * they fit the model's context beside the conversation and a reply, else the
 * passages retrieved for the recent turns, as many as fit; the instructions
 * and numbered passages that go in the system prompt; and which of the
 * reply's [n] markers name a passage it was given.
 */
import type { ChatMessage } from '../../shared/inference';
import { DOC_LIMITS, type Passage, type ReplySources } from '../../shared/documents';

/** About 4 characters a token: the same estimate as the chunker's. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);

/** A chunk that may be given: the whole documents' chunks in order, or the retrieved ones best first. */
export interface Candidate {
  documentId: string;
  chunkId: number;
  name: string;
  page?: number;
  heading?: string;
  text: string;
  tokens: number;
  score?: number;
}

export interface ContextBudget {
  contextSize: number;
  /** Tokens of the system prompt and the conversation so far. */
  conversationTokens: number;
  /** Kept free for the reply. */
  replyTokens: number;
  /**
   * Tokens per estimated token for this model (1 at first): the estimate is
   * about 4 characters a token, which a model with a small vocabulary (or
   * text in Chinese, say) exceeds; a reply that overflowed sets it from the
   * count the engine gave.
   */
  scale?: number;
}

/** Tokens the reply keeps: a quarter of the context, at least 512 and at most 4,096 (never more than half). */
export function replyReserve(contextSize: number): number {
  return Math.min(Math.floor(contextSize / 2), Math.max(512, Math.min(4096, Math.floor(contextSize / 4))));
}

/** Tokens each passage costs beyond its text: its number, file, page and separators. */
const PASSAGE_OVERHEAD = 24;
const INSTRUCTIONS_TOKENS = 90;

export interface Decision {
  mode: 'whole' | 'retrieved';
  passages: Passage[];
  /** Tokens the whole documents need, and the room there was. */
  wholeTokens: number;
  room: number;
  /** The prompt's tokens as estimated (conversation, instructions, passages), scaled. */
  estimatedPromptTokens: number;
}

/**
 * Whole when every chunk of the documents fits the room left; otherwise the
 * retrieved candidates, best first, while they fit (at most `limit`).
 */
export function choosePassages(
  whole: Candidate[],
  retrieved: Candidate[],
  budget: ContextBudget,
  limit: number = DOC_LIMITS.passages,
): Decision {
  const scale = budget.scale ?? 1;
  const fixed = Math.ceil((budget.conversationTokens + INSTRUCTIONS_TOKENS) * scale);
  const room = Math.max(0, budget.contextSize - fixed - budget.replyTokens);
  const cost = (c: Candidate) => Math.ceil((c.tokens + PASSAGE_OVERHEAD) * scale);
  const wholeTokens = whole.reduce((sum, c) => sum + cost(c), 0);
  const numbered = (list: Candidate[]): Passage[] =>
    list.map((c, index) => ({
      n: index + 1,
      documentId: c.documentId,
      chunkId: c.chunkId,
      name: c.name,
      ...(c.page !== undefined ? { page: c.page } : {}),
      ...(c.heading ? { heading: c.heading } : {}),
      text: c.text,
      ...(c.score !== undefined ? { score: c.score } : {}),
    }));
  if (whole.length > 0 && wholeTokens <= room)
    return { mode: 'whole', passages: numbered(whole), wholeTokens, room, estimatedPromptTokens: fixed + wholeTokens };
  const chosen: Candidate[] = [];
  let used = 0;
  for (const candidate of retrieved) {
    if (chosen.length >= limit) break;
    const tokens = cost(candidate);
    if (used + tokens > room) continue;
    chosen.push(candidate);
    used += tokens;
  }
  return { mode: 'retrieved', passages: numbered(chosen), wholeTokens, room, estimatedPromptTokens: fixed + used };
}

/** Where a passage is, as shown to the model and the user: "guide.pdf, page 3, Setup › Linux". */
export function passagePlace(p: Pick<Passage, 'name' | 'page' | 'heading'>): string {
  return [p.name, p.page !== undefined ? `page ${p.page}` : null, p.heading || null].filter(Boolean).join(', ');
}

/** The system prompt's addition: how to cite, then the numbered passages. */
export function documentsPrompt(decision: Pick<Decision, 'mode' | 'passages'>, pending = 0): string {
  const reading = pending
    ? `\n\n${pending === 1 ? 'One more document is' : `${pending} more documents are`} still being read and not given here: if the answer may be there, say so.`
    : '';
  if (decision.passages.length === 0)
    return pending
      ? `The user attached documents that are still being read: none of their passages can be given yet. Say so if the answer needs them.`
      : 'The user attached documents, but no passage of them matches this question. Say so if the answer needs them.';
  const intro =
    decision.mode === 'whole'
      ? 'The user attached the documents below, split into numbered passages.'
      : 'Below are the passages of the user’s documents that best match the conversation, numbered.';
  const rules =
    'Answer from them where they apply. After each statement taken from a passage, cite it by its number in square brackets, like [1] or [2][3]. Cite only the numbers below; if the passages do not hold the answer, say so.';
  const body = decision.passages.map((p) => `[${p.n}] (${passagePlace(p)})\n${p.text.trim()}`).join('\n\n');
  return `${intro} ${rules}${reading}\n\n${body}`;
}

/**
 * The query for this turn: the newest user message, then the ones before it
 * (a follow-up such as "and the second one?" keeps the subject of the turns
 * before), at most `turns` user messages and 1,000 characters.
 */
export function retrievalQuery(messages: ChatMessage[], turns = 3): string {
  const users = messages.filter((m) => m.role === 'user' && m.text.trim()).map((m) => m.text.trim());
  const recent = users.slice(-turns).reverse();
  let query = '';
  for (const text of recent) {
    const next = query ? `${query}\n${text}` : text;
    if (next.length > 1000) {
      if (!query) query = text.slice(0, 1000);
      break;
    }
    query = next;
  }
  return query;
}

/** The [n] markers in a reply (as the model is asked to write them, [1] or [2][3]: what the chat shows as citations), in order of first use. */
export function citedNumbers(text: string): number[] {
  const seen: number[] = [];
  for (const match of text.matchAll(/\[(\d{1,3})\]/g)) {
    const n = Number(match[1]);
    if (!seen.includes(n)) seen.push(n);
  }
  return seen;
}

/** What is stored with the reply: the passages given, and the markers that name one of them. */
export function replySources(decision: Pick<Decision, 'mode' | 'passages'>, reply: string, query?: string, pending = 0): ReplySources {
  const given = new Set(decision.passages.map((p) => p.n));
  return {
    mode: decision.mode,
    passages: decision.passages,
    cited: citedNumbers(reply).filter((n) => given.has(n)),
    files: new Set(decision.passages.map((p) => p.documentId)).size,
    ...(query ? { query } : {}),
    ...(pending ? { pending } : {}),
  };
}
