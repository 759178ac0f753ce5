/**
 * Plain text, source code and CSV/TSV, from their decoded text.
 */
import type { DocSection } from '../../../shared/documents';
import { baseName, extensionOf } from './detect';
import { SectionBuilder } from './sections';

/** Splits text into lines, without the trailing whitespace of each. */
function lines(text: string): string[] {
  return text.split(/\r\n|\r|\n/).map((line) => line.trimEnd());
}

/** Plain text: blank-line separated paragraphs, grouped. */
export function textSections(text: string): DocSection[] {
  const builder = new SectionBuilder();
  let paragraph: string[] = [];
  for (const line of lines(text)) {
    if (line) {
      paragraph.push(line);
    } else {
      builder.paragraph(paragraph.join('\n'));
      paragraph = [];
    }
  }
  builder.paragraph(paragraph.join('\n'));
  return builder.finish();
}

/** A line that closes a block rather than starting a declaration: `}`, `])`, `end`, `fi` … */
const CLOSER = /^(?:[}\])]|end\b|fi\b|done\b|esac\b|<\/)/;

/**
 * Source code: one section per top-level block, a block starting after a
 * blank line at a line that is not indented (and not a closing brace). Its
 * heading is the file name.
 */
export function codeSections(fileName: string, text: string): DocSection[] {
  const heading = baseName(fileName);
  const blocks: string[][] = [];
  let block: string[] = [];
  let blank = false;
  for (const line of lines(text)) {
    if (!line) {
      blank = true;
      if (block.length) block.push(line);
      continue;
    }
    if (blank && block.length && !/^\s/.test(line) && !CLOSER.test(line)) {
      blocks.push(block);
      block = [];
    }
    blank = false;
    block.push(line);
  }
  if (block.length) blocks.push(block);
  return blocks
    .map((lines) => lines.join('\n').trimEnd())
    .filter((text) => text.trim())
    .map((text) => ({ text, heading, kind: 'code' as const }));
}

/** Data rows per CSV section; each section starts with the header row. */
export const CSV_ROWS_PER_SECTION = 50;

/** The rows of a CSV (RFC 4180: quoted fields may hold the delimiter, quotes doubled, and line breaks). */
export function parseDelimited(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') field += text[i++];
      else quoted = false;
    } else if (c === '"' && !field) {
      quoted = true;
    } else if (c === delimiter) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((cells) => cells.some((cell) => cell.trim()));
}

/** CSV or TSV: sections of CSV_ROWS_PER_SECTION rows, cells joined by tabs, each repeating the header row. */
export function csvSections(fileName: string, text: string): DocSection[] {
  const delimiter = extensionOf(fileName) === 'tsv' ? '\t' : ',';
  const rows = parseDelimited(text, delimiter).map((cells) => cells.map((cell) => cell.replace(/\s*[\r\n]+\s*/g, ' ').trim()).join('\t'));
  const [header, ...data] = rows;
  if (header === undefined) return [];
  if (!data.length) return [{ text: header, kind: 'table' }];
  const sections: DocSection[] = [];
  for (let start = 0; start < data.length; start += CSV_ROWS_PER_SECTION) {
    sections.push({ text: [header, ...data.slice(start, start + CSV_ROWS_PER_SECTION)].join('\n'), kind: 'table' });
  }
  return sections;
}
