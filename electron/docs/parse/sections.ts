/**
 * Builds a document's sections in reading order: paragraphs under one
 * heading are grouped (up to GROUP_CHARS), while code and tables are sections
 * of their own, kept whole.
 */
import type { DocSection } from '../../../shared/documents';

/** Paragraphs are grouped into one section up to about this many characters. */
export const GROUP_CHARS = 4000;
/** Between the headings of a heading path. */
export const HEADING_SEPARATOR = ' › ';

export class SectionBuilder {
  readonly sections: DocSection[] = [];
  private pending: string[] = [];
  private pendingChars = 0;
  private headings: (string | undefined)[] = [];

  /** The current heading path, outermost first; undefined before the first heading. */
  get heading(): string | undefined {
    const path = this.headings.filter((heading): heading is string => !!heading);
    return path.length ? path.join(HEADING_SEPARATOR) : undefined;
  }

  /** A heading of level 1–6: what follows is under it (and under the headings above it). */
  setHeading(level: number, text: string): void {
    const heading = text.replace(/\s+/g, ' ').trim();
    if (!heading) return;
    this.flush();
    this.headings = this.headings.slice(0, level - 1);
    this.headings[level - 1] = heading;
  }

  /** A paragraph of text, grouped with the ones before it under the same heading. */
  paragraph(text: string): void {
    const trimmed = text.trim();
    if (!trimmed) return;
    if (this.pendingChars && this.pendingChars + trimmed.length > GROUP_CHARS) this.flush();
    this.pending.push(trimmed);
    this.pendingChars += trimmed.length + 2;
  }

  /** A code block or table, a section of its own. */
  block(text: string, kind: 'code' | 'table' | 'text'): void {
    if (!text.trim()) return;
    this.flush();
    this.push(text, kind);
  }

  /** The sections, once all is added. */
  finish(): DocSection[] {
    this.flush();
    return this.sections;
  }

  private flush(): void {
    if (this.pending.length) this.push(this.pending.join('\n\n'), 'text');
    this.pending = [];
    this.pendingChars = 0;
  }

  private push(text: string, kind: 'code' | 'table' | 'text'): void {
    const heading = this.heading;
    this.sections.push(heading === undefined ? { text, kind } : { text, heading, kind });
  }
}
