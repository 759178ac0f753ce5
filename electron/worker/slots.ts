/**
 * The loaded model as the worker holds it, and the slots (sequences of its
 * context) replies run on: which slot a reply gets.
 */
import type { LlamaChat, LlamaCompletion, LlamaContext, LlamaContextSequence, LlamaModel } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import type { LoadedModel } from '../../shared/inference';

/**
 * One sequence of the loaded context: one reply at a time runs on it. A
 * conversation keeps its slot while it can, so that the next turn reads only
 * its new tokens (the rest is still in the sequence).
 */
export interface Slot {
  index: number;
  sequence: LlamaContextSequence;
  chat: LlamaChat;
  /** Created on the first plain completion on this slot. */
  completion?: LlamaCompletion;
  /** The conversation (or API client's) key it last served. */
  key: string | null;
  busy: boolean;
  lastUsed: number;
}

export interface Loaded {
  info: LoadedModel;
  model: LlamaModel;
  context: LlamaContext;
  slots: Slot[];
  /** The draft model for speculative decoding, with a sequence per slot. */
  draft?: { model: LlamaModel; context: LlamaContext };
}

/** How many tokens two token lists share from the start. */
function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i += 1;
  return i;
}

/**
 * A free slot for a reply: the one that served `key` last (its prompt is
 * still there), else the one whose tokens share the longest start with this
 * prompt, else the least recently used. Held until the reply ends.
 */
export function acquireSlot(loaded: Loaded, key: string | undefined, promptTokens: () => readonly number[]): Slot {
  const free = loaded.slots.filter((slot) => !slot.busy);
  if (free.length === 0)
    throw new RpcError(
      'busy',
      `The model is already generating ${loaded.slots.length === 1 ? 'a reply' : `${loaded.slots.length} replies`}.`,
    );
  let slot = key === undefined ? undefined : free.find((s) => s.key === key);
  if (!slot && free.length > 1) {
    const tokens = promptTokens();
    let best = -1;
    for (const candidate of free) {
      const shared = sharedPrefix(candidate.sequence.contextTokens, tokens);
      if (shared > best || (shared === best && candidate.lastUsed < slot!.lastUsed)) {
        best = shared;
        slot = candidate;
      }
    }
  }
  slot ??= free[0]!;
  slot.busy = true;
  slot.key = key ?? null;
  slot.lastUsed = performance.now();
  return slot;
}
