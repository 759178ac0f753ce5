/**
 * DOCX: the zip is checked for a bomb first (what it says it unpacks to, then
 * what it does), then mammoth turns it into HTML, whose structure gives the
 * sections (Heading 1 … 6 become heading paths).
 */
import type { ParsedDocument } from '../../../shared/documents';
import { baseName, DocParseError, titleOf } from './detect';
import { htmlSections } from './html';
import { checkActualSizes, checkDeclaredSizes, readEntry, readZipDirectory, ZipProblem, type ZipEntryInfo } from './zip';

function corrupt(fileName: string): DocParseError {
  return new DocParseError(`${baseName(fileName)} could not be read: it is damaged or not a Word document`, 'corrupt');
}

function refuse(fileName: string, error: unknown): never {
  if (error instanceof ZipProblem) {
    if (error.kind === 'corrupt') throw corrupt(fileName);
    if (error.kind === 'too_large')
      throw new DocParseError(
        `${baseName(fileName)} holds ${error.message}, more than Freehold reads from one document (40 MB): split it into smaller files`,
        'too_large',
      );
    throw new DocParseError(`${baseName(fileName)} ${error.message}, far more than a document needs (it looks like a zip bomb)`, 'bomb');
  }
  throw error;
}

function decodeXmlText(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The title in the document's properties (docProps/core.xml). */
function coreTitle(bytes: Uint8Array, entries: ZipEntryInfo[]): string | undefined {
  const core = readEntry(bytes, entries, 'docProps/core.xml');
  if (!core) return undefined;
  const match = /<dc:title>([^<]*)<\/dc:title>/.exec(new TextDecoder().decode(core));
  const title = match ? decodeXmlText(match[1]!).trim() : '';
  return title || undefined;
}

export async function parseDocx(fileName: string, bytes: Uint8Array, signal?: AbortSignal): Promise<ParsedDocument> {
  let entries: ZipEntryInfo[];
  try {
    entries = readZipDirectory(bytes);
    if (!entries.some((entry) => entry.name === 'word/document.xml')) throw corrupt(fileName);
    checkDeclaredSizes(entries);
    await checkActualSizes(bytes, entries, signal);
  } catch (error) {
    refuse(fileName, error);
  }
  signal?.throwIfAborted();

  const { default: mammoth } = await import('mammoth');
  let html: string;
  try {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const result = await mammoth.convertToHtml(
      { buffer },
      {
        // Images are not read (nor inlined as data URLs): only the text is wanted.
        convertImage: mammoth.images.imgElement(async () => ({ src: '' })),
        externalFileAccess: false,
      },
    );
    html = result.value;
  } catch {
    throw corrupt(fileName);
  }
  signal?.throwIfAborted();
  const { sections } = htmlSections(html);
  return { format: 'docx', title: coreTitle(bytes, entries) ?? titleOf(fileName), sections };
}
