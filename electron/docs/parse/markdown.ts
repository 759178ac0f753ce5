/**
 * Markdown: sections under ATX (`## Setup`) and setext headings, with heading
 * paths; fenced code blocks are sections of their own, kept whole with their
 * fences (a `#` inside a fence is not a heading).
 */
import type { DocSection } from '../../../shared/documents';
import { SectionBuilder } from './sections';

const ATX = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const SETEXT = /^ {0,3}(=+|-+)[ \t]*$/;

export interface MarkdownDocument {
  /** The first level-1 heading. */
  title?: string;
  sections: DocSection[];
}

/** YAML front matter (`---` … `---` at the very start): how many lines it takes, and its title. */
function frontMatter(lines: string[]): { lines: number; title?: string } {
  if (lines[0]?.trim() !== '---') return { lines: 0 };
  const end = lines.findIndex((line, index) => index > 0 && /^(---|\.\.\.)\s*$/.test(line));
  if (end < 0) return { lines: 0 };
  const titleLine = lines.slice(1, end).find((line) => /^title:\s*\S/.test(line));
  const title = titleLine
    ?.replace(/^title:\s*/, '')
    .replace(/^(["'])(.*)\1$/, '$2')
    .trim();
  return { lines: end + 1, title: title || undefined };
}

export function markdownSections(text: string): MarkdownDocument {
  const builder = new SectionBuilder();
  let title: string | undefined;
  let paragraph: string[] = [];
  let fence: { marker: string; lines: string[] } | null = null;

  const heading = (level: number, text: string): void => {
    if (level === 1 && title === undefined && text.trim()) title = text.trim();
    builder.setHeading(level, text);
  };
  const endParagraph = (): void => {
    builder.paragraph(paragraph.join('\n'));
    paragraph = [];
  };

  const all = text.split(/\r\n|\r|\n/);
  const front = frontMatter(all);
  title = front.title;
  for (const line of all.slice(front.lines)) {
    if (fence) {
      fence.lines.push(line);
      const close = FENCE.exec(line);
      if (close && close[1]![0] === fence.marker[0] && close[1]!.length >= fence.marker.length && !close[2]!.trim()) {
        builder.block(fence.lines.join('\n'), 'code');
        fence = null;
      }
      continue;
    }
    const open = FENCE.exec(line);
    // A backtick fence's info string holds no backticks.
    if (open && !(open[1]![0] === '`' && open[2]!.includes('`'))) {
      endParagraph();
      fence = { marker: open[1]!, lines: [line] };
      continue;
    }
    const atx = ATX.exec(line);
    if (atx) {
      endParagraph();
      heading(atx[1]!.length, atx[2] ?? '');
      continue;
    }
    const setext = SETEXT.exec(line);
    if (setext && paragraph.length === 1) {
      const [only] = paragraph;
      paragraph = [];
      heading(setext[1]![0] === '=' ? 1 : 2, only!);
      continue;
    }
    if (line.trim()) paragraph.push(line.trimEnd());
    else endParagraph();
  }
  if (fence) builder.block(fence.lines.join('\n'), 'code'); // never closed: the rest of the file is the block
  endParagraph();
  return { title, sections: builder.finish() };
}
