/**
 * Which of llama-server's slots a reply runs on. Each slot keeps the tokens
 * it last read (`cache_prompt`), so a conversation that comes back to its slot
 * has only its new tokens read. The rule is the worker's (worker/slots.ts):
 * the slot that served the conversation's key last, while it is free; else
 * the free slot whose last prompt shares the longest start with this one (by
 * its text, at least a tenth of it, or half of it for a slot another
 * conversation holds: llama-server matches the tokens again); else one no
 * conversation holds; else the least recently used. Freehold is the server's only client, so a slot it holds is busy and
 * no two replies are sent to one slot (llama-server would make the second
 * wait for the first).
 */

interface SlotState {
  /** The conversation it last served, if it had a key. */
  key: string | null;
  busy: boolean;
  lastUsed: number;
  /** The text of the last prompt it read, with its reply: what it holds now, roughly. */
  text: string;
}

/** How many characters two strings share from the start. */
function sharedStart(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i += 1;
  return i;
}

export class SlotPicker {
  private readonly slots: SlotState[];
  private clock = 0;

  constructor(count: number) {
    this.slots = Array.from({ length: Math.max(1, count) }, () => ({ key: null, busy: false, lastUsed: 0, text: '' }));
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * A free slot for a reply on `key` (a conversation) whose prompt reads as
   * `text`, held until release(); undefined when every slot is busy (the
   * server then picks, and the reply waits for one).
   */
  take(key: string | undefined, text: string): number | undefined {
    const free = this.slots.map((slot, index) => ({ slot, index })).filter(({ slot }) => !slot.busy);
    if (!free.length) return undefined;
    let chosen = key === undefined ? undefined : free.find(({ slot }) => slot.key === key);
    if (!chosen) {
      let best = -1;
      for (const candidate of free) {
        // A share counts from a tenth of the prompt (llama-server's own similarity rule) and 32 characters, so
        // that a template's first tokens in common do not decide; and from half of it on a slot another
        // conversation holds (a copy of that conversation, say), so that one is not taken lightly.
        const shared = text ? sharedStart(candidate.slot.text, text) : 0;
        const theirs = candidate.slot.key !== null && candidate.slot.key !== key;
        const score = shared >= Math.max(32, text.length / (theirs ? 2 : 10)) ? shared : 0;
        // Prefix reuse first; among equals, a slot no conversation holds, then the one used longest ago.
        const better =
          score > best ||
          (score === best &&
            chosen !== undefined &&
            (Number(candidate.slot.key !== null) - Number(chosen.slot.key !== null) || candidate.slot.lastUsed - chosen.slot.lastUsed) < 0);
        if (better) {
          best = score;
          chosen = candidate;
        }
      }
    }
    const { slot, index } = chosen!;
    // The key moves to this slot: a conversation has one slot at a time.
    if (key !== undefined) for (const other of this.slots) if (other !== slot && other.key === key) other.key = null;
    slot.key = key ?? null;
    slot.busy = true;
    slot.lastUsed = ++this.clock;
    slot.text = text;
    return index;
  }

  /** The reply on `slot` has ended; `reply` is what it wrote (the slot holds it after the prompt). */
  release(slot: number | undefined, reply = ''): void {
    if (slot === undefined) return;
    const state = this.slots[slot];
    if (!state) return;
    state.busy = false;
    state.text += reply;
  }
}
