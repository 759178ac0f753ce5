/**
 * Chunks a parsed document along its structure. A chunk never spans two
 * pages or two headings; small sections under one heading on one page are
 * put together up to the target size; a long section is split between
 * paragraphs, then between sentences (then words, then characters, for text
 * with no such breaks). Code and tables stay whole when they fit a chunk,
 * else they are split between lines. Consecutive chunks of one section share
 * a little text (the overlap: whole sentences from the end of the one before).
 * A chunk's text is the document's own: nothing is added in front of it.
 */
import type { ChunkInput, DocSection } from '../../shared/documents';

export interface ChunkOptions {
  /** Size a chunk is filled up to. */
  targetTokens?: number;
  /** Size no chunk exceeds. */
  maxTokens?: number;
  /** Text repeated from the end of the chunk before, within one section. */
  overlapTokens?: number;
}

/** About 4 characters a token. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);

/** A piece that is never split further, with what joins it to the piece before it. */
interface Unit {
  text: string;
  /** '\n\n' between paragraphs and sections, ' ' or '\n' within one. */
  joiner: string;
  /** Where it may be used as overlap (a sentence of running text). */
  sentence: boolean;
}

interface Group {
  page?: number;
  heading?: string;
  units: Unit[];
}

const SENTENCE_END = /(?<=[.!?…]['"”’)\]]*)(\s+)(?=["'“‘([]?[\p{Lu}\p{N}])|(?<=[。！？])(\s*)/u;

export function chunkSections(sections: DocSection[], options: ChunkOptions = {}): ChunkInput[] {
  const maxTokens = Math.max(8, options.maxTokens ?? 600);
  const targetTokens = Math.min(maxTokens, Math.max(4, options.targetTokens ?? 400));
  const overlapTokens = Math.max(0, Math.min(options.overlapTokens ?? 40, Math.floor(targetTokens / 2)));
  const groups: Group[] = [];
  for (const section of sections) {
    const units = sectionUnits(section, targetTokens, maxTokens);
    if (units.length === 0) continue;
    const heading = section.heading || undefined;
    const last = groups.at(-1);
    if (last && last.page === section.page && last.heading === heading) {
      units[0] = { ...units[0]!, joiner: '\n\n' };
      last.units.push(...units);
    } else groups.push({ ...(section.page !== undefined ? { page: section.page } : {}), ...(heading ? { heading } : {}), units });
  }
  const chunks: ChunkInput[] = [];
  for (const group of groups) {
    for (const text of pack(group.units, targetTokens, maxTokens, overlapTokens)) {
      chunks.push({
        ordinal: chunks.length,
        text,
        ...(group.page !== undefined ? { page: group.page } : {}),
        ...(group.heading ? { heading: group.heading } : {}),
        tokens: estimateTokens(text),
      });
    }
  }
  return chunks;
}

/** A section's units: whole when it fits, else its paragraphs (or lines, for code and tables), split down to fit. */
function sectionUnits(section: DocSection, target: number, max: number): Unit[] {
  if (section.kind === 'code' || section.kind === 'table') {
    const text = section.text.replace(/^\s*\n/, '').trimEnd();
    if (!text.trim()) return [];
    if (estimateTokens(text) <= max) return [{ text, joiner: '\n\n', sentence: false }];
    return text.split('\n').flatMap((line, index) =>
      hardSplit(line, max).map((piece, part) => ({
        text: piece,
        joiner: index === 0 && part === 0 ? '\n\n' : part === 0 ? '\n' : '',
        sentence: false,
      })),
    );
  }
  const text = section.text.trim();
  if (!text) return [];
  if (estimateTokens(text) <= target) return [{ text, joiner: '\n\n', sentence: false }];
  const units: Unit[] = [];
  for (const paragraph of text.split(/\n[ \t]*\n\s*/)) {
    const trimmed = paragraph.trim();
    if (!trimmed) continue;
    if (estimateTokens(trimmed) <= target) units.push({ text: trimmed, joiner: '\n\n', sentence: false });
    else units.push(...sentenceUnits(trimmed, max));
  }
  return units;
}

/** A paragraph's sentences, each with the space that came before it; a sentence too long for a chunk is split between words. */
function sentenceUnits(paragraph: string, max: number): Unit[] {
  const parts = paragraph.split(SENTENCE_END);
  const units: Unit[] = [];
  let joiner = '\n\n';
  for (let i = 0; i < parts.length; i += 3) {
    const sentence = parts[i] ?? '';
    if (sentence) {
      if (estimateTokens(sentence) <= max) units.push({ text: sentence, joiner, sentence: true });
      else
        wordPieces(sentence, max).forEach((piece, index) =>
          units.push({ text: piece.text, joiner: index === 0 ? joiner : piece.joiner, sentence: false }),
        );
    }
    const space = parts[i + 1] ?? parts[i + 2] ?? '';
    joiner = space.includes('\n') ? '\n' : space ? ' ' : '';
  }
  return units;
}

/** Text split between words into pieces of at most `max` tokens (a word longer than that, between characters). */
function wordPieces(text: string, max: number): Array<{ text: string; joiner: string }> {
  const pieces: Array<{ text: string; joiner: string }> = [];
  const words = text.split(/(\s+)/);
  let current = '';
  let currentJoiner = '';
  let space = '';
  const spaceJoiner = () => (space.includes('\n') ? '\n' : space ? ' ' : '');
  for (let i = 0; i < words.length; i += 2) {
    const word = words[i]!;
    if (word && estimateTokens(word) > max) {
      if (current) pieces.push({ text: current, joiner: currentJoiner });
      current = '';
      hardSplit(word, max).forEach((piece, index) => pieces.push({ text: piece, joiner: index === 0 ? spaceJoiner() : '' }));
    } else if (word) {
      if (current && estimateTokens(current + space + word) > max) {
        pieces.push({ text: current, joiner: currentJoiner });
        current = '';
      }
      if (!current) currentJoiner = spaceJoiner();
      current = current ? current + space + word : word;
    }
    space = words[i + 1] ?? '';
  }
  if (current) pieces.push({ text: current, joiner: currentJoiner });
  return pieces;
}

/** A string cut into pieces of at most `max` tokens (never inside a surrogate pair). */
function hardSplit(text: string, max: number): string[] {
  if (estimateTokens(text) <= max) return [text];
  const pieces: string[] = [];
  const size = max * 4;
  let piece = '';
  for (const char of text) {
    if (piece.length + char.length > size) {
      pieces.push(piece);
      piece = '';
    }
    piece += char;
  }
  if (piece) pieces.push(piece);
  return pieces;
}

/** Units put together in order up to `target` tokens (a unit between target and max alone), with overlap between chunks. */
function pack(units: Unit[], target: number, max: number, overlap: number): string[] {
  const chunks: string[] = [];
  let current: Unit[] = [];
  let text = '';
  const flush = () => {
    if (text) chunks.push(text);
    const tail = overlap > 0 ? overlapTail(current, overlap) : [];
    current = tail;
    text = tail.map((u, i) => (i === 0 ? u.text : u.joiner + u.text)).join('');
  };
  let fresh = 0;
  for (const unit of units) {
    const joined = text ? text + (unit.joiner || '') + unit.text : unit.text;
    if (fresh > 0 && estimateTokens(joined) > target) {
      flush();
      fresh = 0;
    }
    // Overlap goes only before running text, and only while the chunk stays within max.
    if (fresh === 0 && current.length > 0 && (!unit.sentence || estimateTokens(text + unit.joiner + unit.text) > max)) {
      current = [];
      text = '';
    }
    text = text ? text + unit.joiner + unit.text : unit.text;
    current.push(unit);
    fresh += 1;
  }
  if (fresh > 0 && text) chunks.push(text);
  return chunks;
}

/** The last whole sentences of a chunk, up to `overlap` tokens (none when the chunk did not end in running text). */
function overlapTail(units: Unit[], overlap: number): Unit[] {
  const tail: Unit[] = [];
  let tokens = 0;
  for (let i = units.length - 1; i >= 0; i--) {
    const unit = units[i]!;
    if (!unit.sentence) break;
    tokens += estimateTokens(unit.text) + 1;
    if (tokens > overlap) break;
    tail.unshift(unit);
    if (unit.joiner.includes('\n\n')) break;
  }
  return tail;
}
