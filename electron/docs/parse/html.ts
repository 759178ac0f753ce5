/**
 * HTML (and the HTML mammoth makes of a DOCX) to sections: h1–h6 give the
 * heading paths, <pre> and block-level <code> are code, tables are rows of
 * tab-separated cells, paragraphs and list items are text. Scripts, styles,
 * navigation and the head are dropped.
 */
import { Parser } from 'htmlparser2';
import type { DocSection } from '../../../shared/documents';
import { SectionBuilder } from './sections';

const DROPPED = new Set(['script', 'style', 'nav', 'head', 'noscript', 'template', 'svg', 'math', 'iframe', 'object', 'select', 'button']);
/** Elements that end the paragraph before them and start a new one. */
const BLOCKS = new Set([
  'p', 'div', 'li', 'ul', 'ol', 'dl', 'dt', 'dd', 'blockquote', 'section', 'article', 'main', 'header', 'footer', 'aside', 'figure',
  'figcaption', 'address', 'hr', 'form', 'fieldset', 'details', 'summary', 'body', 'center', 'caption',
]); // prettier-ignore
/** Where a <code> is a block of its own rather than a word in a sentence. */
const CODE_BLOCK_PARENTS = new Set(['body', 'div', 'section', 'article', 'main', 'figure', 'blockquote', 'details', 'html']);

export interface HtmlDocument {
  /** The <title>. */
  title?: string;
  sections: DocSection[];
}

function collapse(text: string): string {
  return text.replace(/[ \t\n\r\f]+/g, ' ');
}

/** Inline text with <br> breaks: each line's spaces collapsed and trimmed, empty lines dropped. */
function tidy(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join('\n');
}

export function htmlSections(html: string): HtmlDocument {
  const builder = new SectionBuilder();
  const stack: string[] = [];
  let dropped = 0;
  let title: string | undefined;
  let titleText: string | null = null;
  let heading: { level: number; text: string } | null = null;
  let paragraph = '';
  let code: { tag: string; depth: number; text: string } | null = null;
  let table: { depth: number; rows: string[][]; cell: string | null } | null = null;
  const lists: { ordered: boolean; n: number }[] = [];

  /** A list item's marker, put before its first text. */
  let marker = '';

  const endParagraph = (): void => {
    const text = tidy(paragraph);
    paragraph = '';
    if (!text) return;
    builder.paragraph(marker + text);
    marker = '';
  };

  const parser = new Parser(
    {
      onopentag(name) {
        stack.push(name);
        if (name === 'title' && title === undefined) titleText = '';
        if (dropped || DROPPED.has(name)) {
          if (DROPPED.has(name)) dropped++;
          return;
        }
        if (code) {
          if (name === 'br') code.text += '\n';
          return;
        }
        if (table) {
          if (name === 'table') table.depth++;
          else if (table.depth === 1 && name === 'tr') table.rows.push([]);
          else if (table.depth === 1 && (name === 'td' || name === 'th')) {
            if (!table.rows.length) table.rows.push([]);
            table.cell = '';
          } else if (table.cell !== null && (name === 'br' || name === 'p' || name === 'li')) table.cell += ' ';
          return;
        }
        const level = /^h([1-6])$/.exec(name);
        if (level) {
          endParagraph();
          heading = { level: Number(level[1]), text: '' };
        } else if (name === 'pre' || (name === 'code' && !tidy(paragraph) && CODE_BLOCK_PARENTS.has(stack.at(-2) ?? 'html'))) {
          endParagraph();
          code = { tag: name, depth: stack.length, text: '' };
        } else if (name === 'table') {
          endParagraph();
          table = { depth: 1, rows: [], cell: null };
        } else if (name === 'br') {
          if (heading) heading.text += ' ';
          else paragraph += '\n';
        } else if (BLOCKS.has(name)) {
          endParagraph();
          if (name === 'ul' || name === 'ol') lists.push({ ordered: name === 'ol', n: 0 });
          if (name === 'li') {
            const list = lists.at(-1);
            marker = list?.ordered ? `${++list.n}. ` : '- ';
          }
        }
      },
      ontext(text) {
        if (titleText !== null) titleText += text;
        if (dropped) return;
        if (code) code.text += text;
        else if (table) {
          if (table.cell !== null) table.cell += text;
        } else if (heading) heading.text += text;
        else paragraph += collapse(text);
      },
      onclosetag(name) {
        stack.pop();
        if (name === 'title' && titleText !== null) {
          title = collapse(titleText).trim() || undefined;
          titleText = null;
        }
        if (DROPPED.has(name) && dropped) {
          dropped--;
          return;
        }
        if (dropped) return;
        if (code) {
          if (name === code.tag && stack.length < code.depth) {
            // A line break right after <pre> is not content.
            builder.block(code.text.replace(/^\r?\n/, '').trimEnd(), 'code');
            code = null;
          }
          return;
        }
        if (table) {
          if (name === 'table' && --table.depth === 0) {
            const rows = table.rows.map((row) => row.join('\t')).filter((row) => row.trim());
            builder.block(rows.join('\n'), 'table');
            table = null;
          } else if (table.depth === 1 && (name === 'td' || name === 'th') && table.cell !== null) {
            table.rows.at(-1)?.push(collapse(table.cell).trim());
            table.cell = null;
          }
          return;
        }
        if (heading && name === `h${heading.level}`) {
          builder.setHeading(heading.level, heading.text);
          heading = null;
        } else if (BLOCKS.has(name)) {
          endParagraph();
          if (name === 'ul' || name === 'ol') lists.pop();
          if (name === 'li') marker = '';
        }
      },
    },
    { decodeEntities: true },
  );
  parser.end(html);
  endParagraph();
  return { title, sections: builder.finish() };
}
