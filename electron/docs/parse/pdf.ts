/**
 * PDF through pdf.js, in Node: no web worker (its handler runs on this
 * thread), no canvas and no font loading, only text. One section per page
 * that has text, its lines broken where pdf.js sees a line end.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DocSection, ParsedDocument } from '../../../shared/documents';
import { baseName, checkTextLength, DocParseError, titleOf } from './detect';

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');

let loading: Promise<PdfJs> | undefined;

/**
 * pdf.js 5 makes a DOMMatrix as it loads, borrowing Node's from @napi-rs/canvas (its optional
 * dependency). Where that package is missing, a stand-in lets it load: only rendering uses it.
 */
function ensureDomMatrix(): void {
  if ('DOMMatrix' in globalThis) return;
  try {
    createRequire(import.meta.url)('@napi-rs/canvas');
    return; // pdf.js takes its DOMMatrix
  } catch {
    (globalThis as Record<string, unknown>).DOMMatrix = class DOMMatrix {
      a = 1;
      b = 0;
      c = 0;
      d = 1;
      e = 0;
      f = 0;
    };
  }
}

/** pdf.js, loaded once on first use, with its worker's handler on this thread. */
function loadPdfJs(): Promise<PdfJs> {
  loading ??= (async () => {
    ensureDomMatrix();
    // pdf.js looks here for a worker that runs in the same thread (its "fake worker").
    const worker = await import('pdfjs-dist/legacy/build/pdf.worker.mjs');
    (globalThis as { pdfjsWorker?: unknown }).pdfjsWorker = worker;
    return import('pdfjs-dist/legacy/build/pdf.mjs');
  })();
  return loading;
}

/** pdf.js's data folders (CMaps for CJK text, the standard fonts' metrics) as paths; none where they cannot be found. */
function dataFolders(): { cMapUrl?: string; standardFontDataUrl?: string } {
  try {
    const root = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));
    return { cMapUrl: join(root, 'cmaps') + '/', standardFontDataUrl: join(root, 'standard_fonts') + '/' };
  } catch {
    return {};
  }
}

function pageText(items: ReadonlyArray<object>): string {
  let text = '';
  for (const item of items) {
    if (!('str' in item)) continue; // marked content, not text
    const { str, hasEOL } = item as { str: string; hasEOL: boolean };
    text += str;
    if (hasEOL) text += '\n';
  }
  return text
    .split('\n')
    .map((line) => line.replace(/[ \t\u00a0]+/g, ' ').trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

export interface PdfOptions {
  onPage?: (read: number, total: number) => void;
  signal?: AbortSignal;
}

export async function parsePdf(fileName: string, bytes: Uint8Array, options: PdfOptions = {}): Promise<ParsedDocument> {
  const { signal, onPage } = options;
  const name = baseName(fileName);
  const pdfjs = await loadPdfJs();
  signal?.throwIfAborted();
  const task = pdfjs.getDocument({
    // pdf.js takes (detaches) the buffer it is given: it gets a copy.
    data: new Uint8Array(bytes),
    ...dataFolders(),
    disableFontFace: true,
    isEvalSupported: false,
    useSystemFonts: false,
    disableAutoFetch: true,
    verbosity: 0,
  });
  try {
    let doc: Awaited<typeof task.promise>;
    try {
      doc = await task.promise;
    } catch (error) {
      signal?.throwIfAborted();
      if ((error as Error | undefined)?.name === 'PasswordException') {
        throw new DocParseError(`${name} is protected by a password`, 'encrypted');
      }
      throw new DocParseError(`${name} could not be read: it is damaged or not a PDF`, 'corrupt');
    }
    const total = doc.numPages;
    const sections: DocSection[] = [];
    let chars = 0;
    let failed = 0;
    for (let n = 1; n <= total; n++) {
      signal?.throwIfAborted();
      try {
        const page = await doc.getPage(n);
        const text = pageText((await page.getTextContent()).items);
        page.cleanup();
        if (text) sections.push({ text, page: n, kind: 'text' });
        chars += text.length;
      } catch {
        failed++; // a damaged page: the others are still read
      }
      checkTextLength(fileName, chars);
      onPage?.(n, total);
    }
    signal?.throwIfAborted();
    if (!sections.length) {
      if (failed) throw new DocParseError(`${name} could not be read: it is damaged or not a PDF`, 'corrupt');
      throw new DocParseError(`${name}: no text in this PDF (scanned?)`, 'no_text');
    }
    const { info, metadata } = await doc.getMetadata().catch(() => ({ info: {}, metadata: null }));
    const title = stringOf((info as { Title?: unknown }).Title) ?? stringOf(metadata?.get('dc:title')) ?? titleOf(fileName);
    return { format: 'pdf', title, pages: total, sections };
  } finally {
    await task.destroy();
  }
}
