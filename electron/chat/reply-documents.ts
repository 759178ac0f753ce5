/** The documents of one reply: what it may be given, what it was given, and the estimate's correction for the model. */
import { RpcError } from '../../shared/errors';
import { isContextOverflow, type ChatMessage } from '../../shared/inference';
import {
  choosePassages,
  documentsPrompt,
  estimateTokens,
  replyReserve,
  replySources,
  type Candidate,
  type Decision,
} from '../docs/docs-context';
import type { ConversationStore } from './conversation-store';

/** What the chat asks of the documents (docs/docs-service.ts). */
export interface DocumentsProvider {
  candidatesFor(
    conversationId: string,
    messages: ChatMessage[],
  ): Promise<{ whole: Candidate[]; retrieved: Candidate[]; query: string; pending?: number } | null>;
}

/** The context assumed for a model on another machine when the conversation sets none. */
export const REMOTE_CONTEXT_GUESS = 4096;

/** Tokens per estimated token, per model file, learnt from the engine's count when a prompt overflowed (shared by replies). */
const scales = new Map<string, number>();

export class ReplyDocuments {
  private given: Decision | null = null;

  private constructor(
    private readonly candidates: { whole: Candidate[]; retrieved: Candidate[]; query: string; pending?: number } | null,
  ) {}

  static async prepare(provider: DocumentsProvider | null, conversationId: string, messages: ChatMessage[]): Promise<ReplyDocuments> {
    return new ReplyDocuments(provider ? await provider.candidatesFor(conversationId, messages) : null);
  }

  /** `run` with the passages that fit a `contextSize`-token context in its system prompt (unchanged without documents). */
  apply<T extends { system?: string; messages: ChatMessage[] }>(run: T, contextSize: number, model: string | null): T {
    if (!this.candidates) return run;
    // Chosen once a reply: after a tool call the model sees the same passages under the same numbers.
    if (this.given) return this.prompted(run);
    const conversationTokens = estimateTokens(run.system ?? '') + run.messages.reduce((sum, m) => sum + estimateTokens(m.text) + 8, 0);
    this.given = choosePassages(this.candidates.whole, this.candidates.retrieved, {
      contextSize,
      conversationTokens,
      replyTokens: replyReserve(contextSize),
      scale: (model && scales.get(model)) || 1,
    });
    return this.prompted(run);
  }

  private prompted<T extends { system?: string }>(run: T): T {
    const prompt = documentsPrompt(this.given!, this.candidates?.pending ?? 0);
    return { ...run, system: run.system ? `${run.system}\n\n${prompt}` : prompt };
  }

  /**
   * After a context overflow with passages given: the estimate was short for
   * this model's tokenizer; it is scaled by what the engine counted, and the
   * caller tries once more (with fewer passages). False: not ours to retry.
   */
  corrected(error: unknown, model: string): boolean {
    if (!this.given || !(error instanceof RpcError) || error.code !== 'context_length_exceeded' || !isContextOverflow(error.details))
      return false;
    const ratio = error.details.requiredTokens / Math.max(1, this.given.estimatedPromptTokens);
    scales.set(model, Math.min(8, (scales.get(model) ?? 1) * ratio * 1.1));
    this.given = null;
    return true;
  }

  /** Stores the passages given with the reply, and the markers in it that name one of them. */
  keep(store: ConversationStore, replyId: string): void {
    if (this.given)
      store.setSources(replyId, replySources(this.given, store.message(replyId).content, this.candidates?.query, this.candidates?.pending));
  }
}
