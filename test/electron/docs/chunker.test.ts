import { describe, expect, it } from 'vitest';
import type { DocSection } from '../../../shared/documents';
import { chunkSections, estimateTokens } from '../../../electron/docs/chunker';

/** A sentence of about `words` words, ending in a full stop. */
const sentence = (n: number, words = 12) =>
  `Sentence ${n} ${Array.from({ length: words - 2 }, (_, i) => `word${(n * 31 + i) % 97}`).join(' ')}.`;
const paragraph = (from: number, count: number) => Array.from({ length: count }, (_, i) => sentence(from + i)).join(' ');

describe('chunker', () => {
  it('estimates tokens as characters / 4, rounded up', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('abc')).toBe(1);
    expect(estimateTokens('abcdefghi')).toBe(3);
  });

  it('never puts two pages or two headings in one chunk, and keeps each chunk’s page and heading', () => {
    const sections: DocSection[] = [
      { text: 'Intro on page one.', page: 1, heading: 'Intro' },
      { text: 'More intro on page one.', page: 1, heading: 'Intro' },
      { text: 'Still intro, but page two.', page: 2, heading: 'Intro' },
      { text: 'Setup on page two.', page: 2, heading: 'Setup › Linux' },
      { text: 'No heading here.', page: 2 },
    ];
    const chunks = chunkSections(sections);
    expect(chunks.map((c) => [c.ordinal, c.page, c.heading, c.text])).toEqual([
      [0, 1, 'Intro', 'Intro on page one.\n\nMore intro on page one.'],
      [1, 2, 'Intro', 'Still intro, but page two.'],
      [2, 2, 'Setup › Linux', 'Setup on page two.'],
      [3, 2, undefined, 'No heading here.'],
    ]);
    expect(chunks[3]).not.toHaveProperty('heading');
    expect(chunks.every((c) => c.tokens === estimateTokens(c.text))).toBe(true);
  });

  it('merges small sections under one heading up to the target, then starts another chunk', () => {
    const sections: DocSection[] = Array.from({ length: 12 }, (_, i) => ({ text: paragraph(i * 10, 3), heading: 'H' }));
    const chunks = chunkSections(sections, { targetTokens: 200, maxTokens: 300, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.length).toBeLessThan(12);
    for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(200);
    // Nothing lost, nothing added: the sections, joined, are the chunks, joined.
    expect(chunks.map((c) => c.text).join('\n\n')).toBe(sections.map((s) => s.text).join('\n\n'));
  });

  it('keeps a code block whole when it fits, with its indentation, and starts chunks with the document’s own text', () => {
    const code = 'function f() {\n  if (x) {\n    return 1;\n  }\n\n  return 2;\n}';
    const chunks = chunkSections([
      { text: paragraph(0, 20), heading: 'API' },
      { text: code, kind: 'code', heading: 'API' },
      { text: paragraph(50, 20), heading: 'API' },
    ]);
    const withCode = chunks.filter((c) => c.text.includes('function f()'));
    expect(withCode).toHaveLength(1);
    expect(withCode[0]!.text).toContain(code);
    for (const c of chunks) expect(c.text.startsWith('Sentence') || c.text.startsWith('function')).toBe(true);
  });

  it('splits a code block too long for a chunk between lines', () => {
    const lines = Array.from({ length: 200 }, (_, i) => `  const value${i} = compute(${i}, "${'x'.repeat(20)}");`);
    const chunks = chunkSections([{ text: lines.join('\n'), kind: 'code' }], { targetTokens: 300, maxTokens: 400 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) {
      expect(c.tokens).toBeLessThanOrEqual(400);
      for (const line of c.text.split('\n')) expect(lines).toContain(line);
    }
    expect(chunks.map((c) => c.text).join('\n')).toBe(lines.join('\n'));
  });

  it('splits a long paragraph between sentences, with whole sentences of overlap, every chunk within maxTokens', () => {
    const text = paragraph(0, 120);
    const chunks = chunkSections([{ text }], { targetTokens: 150, maxTokens: 200, overlapTokens: 40 });
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) {
      expect(c.tokens).toBeLessThanOrEqual(200);
      expect(c.text).toMatch(/^Sentence \d+ /);
      expect(c.text).toMatch(/\.$/);
    }
    // Overlap: each chunk after the first starts with the last sentence of the one before.
    for (let i = 1; i < chunks.length; i++) {
      const lastOfPrevious = chunks[i - 1]!.text.match(/Sentence \d+ [^.]*\.$/)![0];
      expect(chunks[i]!.text.startsWith(lastOfPrevious)).toBe(true);
    }
    // Without overlap the chunks are the paragraph, cut between sentences.
    const plain = chunkSections([{ text }], { targetTokens: 150, maxTokens: 200, overlapTokens: 0 });
    expect(plain.map((c) => c.text).join(' ')).toBe(text);
  });

  it('splits text without sentence breaks between words, and a huge word between characters, within maxTokens', () => {
    const words = Array.from({ length: 600 }, (_, i) => `w${i}`).join(' ');
    const huge = 'z'.repeat(3000);
    const chunks = chunkSections([{ text: `${words} ${huge} tail` }], { targetTokens: 100, maxTokens: 150, overlapTokens: 0 });
    for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(150);
    expect(chunks.map((c) => c.text.replace(/ /g, '')).join('')).toBe(`${words} ${huge} tail`.replace(/ /g, ''));
    expect(chunks.every((c) => c.text === c.text.trim())).toBe(true);
    expect(chunks.at(-1)!.text.endsWith('tail')).toBe(true);
  });

  it('skips empty sections and handles a document with none', () => {
    expect(chunkSections([])).toEqual([]);
    expect(chunkSections([{ text: '  \n ' }, { text: '', kind: 'code' }])).toEqual([]);
    expect(chunkSections([{ text: '  \n ' }, { text: ' Hello. ' }])).toEqual([{ ordinal: 0, text: 'Hello.', tokens: 2 }]);
  });

  it('keeps a table whole when it fits and splits a long one between rows', () => {
    const row = (i: number) => `| ${i} | name ${i} | ${'v'.repeat(30)} |`;
    const small = [row(0), row(1), row(2)].join('\n');
    expect(chunkSections([{ text: small, kind: 'table', page: 4 }])).toEqual([
      { ordinal: 0, text: small, page: 4, tokens: estimateTokens(small) },
    ]);
    const rows = Array.from({ length: 100 }, (_, i) => row(i));
    const chunks = chunkSections([{ text: rows.join('\n'), kind: 'table' }], { targetTokens: 200, maxTokens: 300 });
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) for (const line of c.text.split('\n')) expect(rows).toContain(line);
  });
});
