/**
 * Document parsers for chat with your documents: a file's bytes to its
 * sections in reading order (pages, headings, code and tables kept whole).
 * Every file that cannot be read gives a DocParseError with a one-line
 * message for the user and a code for the app.
 */
import type { ParsedDocument } from '../../../shared/documents';
import { decodeText } from './decode';
import { baseName, checkAborted, checkSize, checkTextLength, DocParseError, formatOf, titleOf, unsupported } from './detect';
import { parseDocx } from './docx';
import { htmlSections } from './html';
import { markdownSections } from './markdown';
import { parsePdf } from './pdf';
import { codeSections, csvSections, textSections } from './text';

export { DocParseError, checkSize, formatOf, FORMATS_TAKEN, type DocParseErrorCode } from './detect';

export interface ParseOptions {
  /** Pages read so far, of all (PDF). */
  onPage?: (read: number, total: number) => void;
  /** Stops between pages (or steps); the promise rejects with the signal's reason (an AbortError). */
  signal?: AbortSignal;
}

/** Parses one file by its name's extension. */
export async function parseDocument(fileName: string, bytes: Uint8Array, options: ParseOptions = {}): Promise<ParsedDocument> {
  const { signal } = options;
  checkAborted(signal);
  checkSize(fileName, bytes);
  const format = formatOf(fileName);
  if (!format) throw unsupported(fileName);
  const title = titleOf(fileName);
  let doc: ParsedDocument;
  if (format === 'pdf') {
    doc = await parsePdf(fileName, bytes, options);
  } else if (format === 'docx') {
    doc = await parseDocx(fileName, bytes, signal);
  } else {
    const text = decodeText(fileName, bytes);
    checkTextLength(fileName, text.length);
    if (format === 'markdown') {
      const markdown = markdownSections(text);
      doc = { format, title: markdown.title ?? title, sections: markdown.sections };
    } else if (format === 'html') {
      const html = htmlSections(text);
      doc = { format, title: html.title ?? title, sections: html.sections };
    } else if (format === 'code') {
      doc = { format, title: baseName(fileName), sections: codeSections(fileName, text) };
    } else if (format === 'csv') {
      doc = { format, title, sections: csvSections(fileName, text) };
    } else {
      doc = { format, title, sections: textSections(text) };
    }
  }
  checkAborted(signal);
  checkTextLength(
    fileName,
    doc.sections.reduce((sum, section) => sum + section.text.length, 0),
  );
  if (!doc.sections.length) throw new DocParseError(`${baseName(fileName)} has no text in it`, 'no_text');
  return doc;
}
