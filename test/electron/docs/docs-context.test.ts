import { describe, expect, it } from 'vitest';
import {
  choosePassages,
  citedNumbers,
  documentsPrompt,
  replyReserve,
  replySources,
  retrievalQuery,
  type Candidate,
} from '../../../electron/docs/docs-context';

const chunk = (chunkId: number, tokens: number, extra: Partial<Candidate> = {}): Candidate => ({
  documentId: extra.documentId ?? 'doc-a',
  chunkId,
  name: extra.name ?? 'guide.pdf',
  text: 'x'.repeat(tokens * 4),
  tokens,
  ...extra,
});

describe('whole or retrieved', () => {
  const whole = [chunk(1, 300, { page: 1 }), chunk(2, 300, { page: 2 }), chunk(3, 300, { page: 3 })];
  const retrieved = [chunk(3, 300, { page: 3, score: 0.9 }), chunk(1, 300, { page: 1, score: 0.5 })];

  it('gives the documents whole when every chunk fits beside the conversation and the reply', () => {
    // 3 × (300 + 24) = 972 tokens; room = 4096 − 200 − 1024 − 90 = 2782.
    const decision = choosePassages(whole, retrieved, { contextSize: 4096, conversationTokens: 200, replyTokens: 1024 });
    expect(decision.mode).toBe('whole');
    expect(decision.wholeTokens).toBe(972);
    expect(decision.room).toBe(2782);
    expect(decision.passages.map((p) => [p.n, p.chunkId, p.page])).toEqual([
      [1, 1, 1],
      [2, 2, 2],
      [3, 3, 3],
    ]);
  });

  it('retrieves when they do not: the best passages that fit, numbered from 1', () => {
    // room = 2048 − 500 − 512 − 90 = 946: not the whole 972, but both retrieved chunks (648).
    const decision = choosePassages(whole, retrieved, { contextSize: 2048, conversationTokens: 500, replyTokens: 512 });
    expect(decision.mode).toBe('retrieved');
    expect(decision.room).toBe(946);
    expect(decision.passages.map((p) => [p.n, p.chunkId, p.score])).toEqual([
      [1, 3, 0.9],
      [2, 1, 0.5],
    ]);
  });

  it('skips a passage too large for the room left and takes a smaller one after it; at most `limit`', () => {
    const list = [
      chunk(10, 1000, { score: 3 }),
      chunk(11, 100, { score: 2 }),
      chunk(12, 100, { score: 1 }),
      chunk(13, 100, { score: 0.5 }),
    ];
    const decision = choosePassages([], list, { contextSize: 2048, conversationTokens: 500, replyTokens: 512 }, 2);
    expect(decision.passages.map((p) => p.chunkId)).toEqual([11, 12]);
  });

  it('keeps a quarter of the context for the reply, within 512 and 4,096, never more than half', () => {
    expect(replyReserve(8192)).toBe(2048);
    expect(replyReserve(2048)).toBe(512);
    expect(replyReserve(512)).toBe(256);
    expect(replyReserve(131072)).toBe(4096);
  });
});

describe('the prompt and citations', () => {
  const decision = choosePassages(
    [],
    [
      chunk(5, 10, { page: 4, heading: 'Diet', score: 1, text: 'Blue whales eat krill.' }),
      chunk(6, 10, { name: 'notes.md', documentId: 'doc-b', score: 0.5 }),
    ],
    { contextSize: 4096, conversationTokens: 0, replyTokens: 1024 },
  );

  it('numbers each passage with its file, page and section, and says how to cite', () => {
    const prompt = documentsPrompt(decision);
    expect(prompt).toContain('[1] (guide.pdf, page 4, Diet)\nBlue whales eat krill.');
    expect(prompt).toContain('[2] (notes.md)');
    expect(prompt).toMatch(/cite it by its number in square brackets, like \[1\]/);
  });

  it('reads [n] markers (as the chat shows them) in order of first use', () => {
    expect(citedNumbers('A [2]. B [1][3]. C [4] and [2] again; not [x], [1, 5] or [1000].')).toEqual([2, 1, 3, 4]);
  });

  it('keeps as citations only the markers that name a passage given to the model', () => {
    const sources = replySources(decision, 'Whales eat krill [1]. Ask me more [7]. See [2].', 'what do whales eat');
    expect(sources).toMatchObject({ mode: 'retrieved', cited: [1, 2], files: 2, query: 'what do whales eat' });
    expect(sources.passages).toHaveLength(2);
  });
});

describe('the query for a turn', () => {
  it('is the newest user message, then the ones before it: a follow-up keeps the subject', () => {
    const query = retrievalQuery([
      { role: 'user', text: 'What does the report say about solar panels?' },
      { role: 'assistant', text: 'It lists two kinds [1].' },
      { role: 'user', text: 'And the second one?' },
    ]);
    expect(query).toBe('And the second one?\nWhat does the report say about solar panels?');
  });

  it('takes at most three user turns and 1,000 characters', () => {
    const messages = ['one', 'two', 'three', 'four'].map((text) => ({ role: 'user' as const, text }));
    expect(retrievalQuery(messages)).toBe('four\nthree\ntwo');
    expect(
      retrievalQuery([
        { role: 'user', text: 'y'.repeat(900) },
        { role: 'user', text: 'z'.repeat(200) },
      ]),
    ).toBe('z'.repeat(200));
  });
});
