/**
 * What a file is (by its extension), the error every parser throws, and the
 * checks made before any parser runs: the file's size and whether a text
 * file is text at all.
 */
import { DOC_LIMITS, type DocFormat } from '../../../shared/documents';

export type DocParseErrorCode = 'unsupported' | 'too_large' | 'encrypted' | 'corrupt' | 'no_text' | 'binary' | 'bomb';

/** A file that cannot be read, with a one-line message for the user. */
export class DocParseError extends Error {
  override readonly name = 'DocParseError';
  constructor(
    message: string,
    readonly code: DocParseErrorCode,
  ) {
    super(message);
  }
}

const CODE_EXTENSIONS = [
  'ts', 'tsx', 'mts', 'cts', 'js', 'jsx', 'mjs', 'cjs', 'py', 'pyi', 'rs', 'go', 'java', 'c', 'h', 'cc', 'cpp', 'cxx', 'hpp', 'hh', 'cs',
  'rb', 'php', 'swift', 'kt', 'kts', 'scala', 'lua', 'pl', 'r', 'dart', 'zig', 'sh', 'bash', 'zsh', 'fish', 'ps1', 'bat', 'sql', 'json',
  'jsonc', 'yaml', 'yml', 'toml', 'ini', 'cfg', 'conf', 'css', 'scss', 'sass', 'less', 'xml', 'svg', 'vue', 'svelte', 'graphql', 'proto',
  'tf', 'cmake', 'gradle', 'ex', 'exs', 'erl', 'hs', 'ml', 'clj', 'jl', 'm', 'mm', 'vb', 'fs', 'asm', 's', 'diff', 'patch',
]; // prettier-ignore

const EXTENSIONS = new Map<string, DocFormat>([
  ['pdf', 'pdf'],
  ['docx', 'docx'],
  ['md', 'markdown'],
  ['markdown', 'markdown'],
  ['mdx', 'markdown'],
  ['txt', 'text'],
  ['text', 'text'],
  ['log', 'text'],
  ['rst', 'text'],
  ['adoc', 'text'],
  ['html', 'html'],
  ['htm', 'html'],
  ['xhtml', 'html'],
  ['csv', 'csv'],
  ['tsv', 'csv'],
  ...CODE_EXTENSIONS.map((ext) => [ext, 'code'] as [string, DocFormat]),
]);

/** Files known by their whole name. */
const NAMES = new Map<string, DocFormat>([
  ['makefile', 'code'],
  ['dockerfile', 'code'],
  ['readme', 'text'],
  ['license', 'text'],
  ['changelog', 'text'],
]);

/** What the user is told Freehold reads. */
export const FORMATS_TAKEN = 'PDF, Word (.docx), Markdown, plain text, HTML, CSV/TSV and source code files';

/** The last part of a path or name. */
export function baseName(fileName: string): string {
  return fileName.split(/[\\/]/).pop() ?? fileName;
}

/** The file's extension, lower case, without the dot ('' for none). */
export function extensionOf(fileName: string): string {
  const name = baseName(fileName);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** The format a file is read as, by its extension; null when Freehold does not read it. */
export function formatOf(fileName: string): DocFormat | null {
  const ext = extensionOf(fileName);
  if (ext) return EXTENSIONS.get(ext) ?? null;
  return NAMES.get(baseName(fileName).toLowerCase()) ?? null;
}

/** The file name without its extension, for a title. */
export function titleOf(fileName: string): string {
  const name = baseName(fileName);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

const MB = 1024 * 1024;

function megabytes(bytes: number, digits: number): string {
  return `${(bytes / MB).toFixed(digits)} MB`;
}

/** Refuses a file over DOC_LIMITS.maxFileBytes ("report.pdf is 120.0 MB; the limit is 100 MB"). */
export function checkSize(fileName: string, bytes: { byteLength: number } | number): void {
  const size = typeof bytes === 'number' ? bytes : bytes.byteLength;
  if (size > DOC_LIMITS.maxFileBytes) {
    throw new DocParseError(
      `${baseName(fileName)} is ${megabytes(size, 1)}; the limit is ${megabytes(DOC_LIMITS.maxFileBytes, 0)}`,
      'too_large',
    );
  }
}

/** Refuses text over DOC_LIMITS.maxTextChars. */
export function checkTextLength(fileName: string, chars: number): void {
  if (chars > DOC_LIMITS.maxTextChars) {
    throw new DocParseError(
      `${baseName(fileName)} holds more text than Freehold takes from one file (${DOC_LIMITS.maxTextChars.toLocaleString('en-US')} characters)`,
      'too_large',
    );
  }
}

export function unsupported(fileName: string): DocParseError {
  return new DocParseError(`${baseName(fileName)} is not a kind of file Freehold reads; it reads ${FORMATS_TAKEN}`, 'unsupported');
}

/** Throws an AbortError (the signal's reason) when the signal is aborted. */
export function checkAborted(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}
