import { describe, expect, it } from 'vitest';
import {
  CONTEXT_MARGIN,
  earliestFit,
  historyShape,
  largerContextFor,
  maxPromptTokens,
  planContext,
  replyRoom,
  shiftSize,
} from '../../../electron/worker/context-fit';
import { prng } from '../../helpers/prng';

/** A history of item types with token sizes; a template costs 3 tokens per item and 1 for BOS. */
function fakeHistory(types: string[], sizes: number[]) {
  let calls = 0;
  const { lead } = historyShape(types);
  const count = (start: number) => {
    calls += 1;
    let total = 1;
    for (let i = 0; i < types.length; i += 1) if (i < lead || i >= start) total += sizes[i]! + 3;
    return total;
  };
  return { count, calls: () => calls };
}

describe('context fit: the rule for prompts longer than the context', () => {
  it('keeps a tenth of the context for the reply (or max tokens if fewer) and a small margin', () => {
    expect(replyRoom(2048)).toBe(204);
    expect(replyRoom(2048, 16)).toBe(16);
    expect(replyRoom(2048, 100_000)).toBe(204);
    expect(maxPromptTokens(2048)).toBe(2048 - 204 - CONTEXT_MARGIN);
    expect(maxPromptTokens(2048, 16)).toBe(2048 - 16 - CONTEXT_MARGIN);
    expect(shiftSize(256)).toBe(25);
  });

  it('keeps the leading system messages and the last user message with what follows it', () => {
    expect(historyShape(['system', 'user', 'model', 'user', 'model'])).toEqual({ lead: 1, tail: 3, starts: [1, 3] });
    // A prefill (the last message is the assistant's): the user message before it is the tail.
    expect(historyShape(['user', 'model', 'user', 'model'])).toEqual({ lead: 0, tail: 2, starts: [0, 2] });
    // Several user messages in a row: each may start the kept part.
    expect(historyShape(['system', 'system', 'user', 'user', 'user', 'model'])).toEqual({ lead: 2, tail: 4, starts: [2, 3, 4] });
    expect(historyShape(['system', 'model'])).toEqual({ lead: 1, tail: 1, starts: [1] });
    // A later system message is an ordinary message: it may be left out.
    expect(historyShape(['system', 'user', 'system', 'model', 'user', 'model']).starts).toEqual([1, 4]);
  });

  it('finds the fewest messages to leave out, as brute force does, in few counts (seeded random histories)', () => {
    const random = prng(20260512);
    for (let run = 0; run < 300; run += 1) {
      const length = 1 + Math.floor(random() ** 2 * 3000);
      const types = Array.from({ length }, (_, i) => (i === 0 && random() < 0.5 ? 'system' : random() < 0.55 ? 'user' : 'model'));
      types.push('model');
      const sizes = types.map(() => Math.floor(random() ** 3 * 400));
      const { count, calls } = fakeHistory(types, sizes);
      const shape = historyShape(types);
      const limit = Math.floor(random() * 4000);
      const found = earliestFit(shape, count, limit);
      const brute = shape.starts.find((start) => count(start) <= limit);
      expect(found?.start, `run ${run}`).toBe(brute);
      if (found) expect(found.tokens).toBe(count(found.start));
      // Galloping and bisection: about 2·log2 of the candidates, never one count per message.
      const before = calls();
      earliestFit(shape, count, limit);
      expect(calls() - before).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(shape.starts.length + 1)) + 2);
    }
  });

  it('refuses what cannot fit, keeps a history that fits, and shifts one that does not (seeded random histories)', () => {
    const random = prng(7);
    for (let run = 0; run < 500; run += 1) {
      const contextSize = [256, 512, 2048, 8192][Math.floor(random() * 4)]!;
      const maxTokens = random() < 0.3 ? undefined : 1 + Math.floor(random() * contextSize);
      const length = 1 + Math.floor(random() * 200);
      const types = Array.from({ length }, (_, i) => (i === 0 && random() < 0.5 ? 'system' : random() < 0.5 ? 'user' : 'model'));
      if (types[types.length - 1] !== 'model') types.push('model');
      const sizes = types.map(() => Math.floor(random() ** 4 * contextSize));
      const { count } = fakeHistory(types, sizes);
      const shape = historyShape(types);
      const plan = planContext(types, count, contextSize, maxTokens);
      const required = count(shape.tail);
      const room = replyRoom(contextSize, maxTokens);
      const shift = shiftSize(contextSize);
      if (!plan.fits) {
        expect(required + room + CONTEXT_MARGIN).toBeGreaterThan(contextSize);
        expect(plan).toEqual({
          fits: false,
          requiredTokens: required,
          replyTokens: room,
          maxPromptTokens: contextSize - room - CONTEXT_MARGIN,
        });
        continue;
      }
      expect(plan.requiredTokens).toBe(required);
      expect(plan.promptTokens).toBe(count(plan.start));
      expect(shape.starts).toContain(plan.start);
      expect(plan.promptTokens + room + CONTEXT_MARGIN).toBeLessThanOrEqual(contextSize);
      if (count(shape.lead) + room + CONTEXT_MARGIN <= contextSize) {
        expect(plan.start).toBe(shape.lead); // nothing left out of a history that fits
      } else {
        // Outgrown: as few left out as give a shift's worth of room (or all but the last message).
        const earlier = shape.starts.filter((s) => s < plan.start);
        for (const s of earlier) expect(count(s)).toBeGreaterThan(contextSize - shift - CONTEXT_MARGIN);
        if (plan.start !== shape.tail) expect(plan.promptTokens).toBeLessThanOrEqual(contextSize - shift - CONTEXT_MARGIN);
      }
      // The reply gets at least its room, and never so much that a shift would have to cut into the last message.
      expect(plan.maxReplyTokens).toBeGreaterThanOrEqual(room);
      const neverShifts = plan.promptTokens + plan.maxReplyTokens + CONTEXT_MARGIN <= contextSize;
      const shiftKeepsLast = plan.start !== shape.tail && required + plan.maxReplyTokens <= contextSize - shift - CONTEXT_MARGIN;
      expect(neverShifts || shiftKeepsLast).toBe(true);
    }
  });

  it('offers the smallest larger context the model was trained for', () => {
    expect(largerContextFor(851, 40, 512, 2048)).toBe(1024);
    expect(largerContextFor(1500, 40, 512, 2048)).toBe(2048);
    expect(largerContextFor(16_051, undefined, 2048, 2048)).toBeNull();
    expect(largerContextFor(3000, undefined, 2048, 131_072)).toBe(4096);
    expect(largerContextFor(20_005, undefined, 2048, 131_072)).toBe(32_768);
    // A trained context that is not a power of two is offered as is.
    expect(largerContextFor(5000, undefined, 4096, 6000)).toBe(6000);
    expect(largerContextFor(5500, undefined, 4096, 6000)).toBeNull();
  });
});
