/**
 * Bytes to text for the text-like formats: UTF-8 (a BOM is dropped), UTF-16
 * with a BOM, and Windows-1252 for what is not valid UTF-8. A file that looks
 * binary is refused rather than indexed as noise.
 */
import { baseName, DocParseError } from './detect';

/** How much of the start of a file is looked at to tell text from binary. */
export const SNIFF_BYTES = 8 * 1024;
/** Above this share of invalid or control characters, a file is binary. */
const MAX_SUSPICIOUS = 0.1;
/** Above this share of bytes over 0x7f, a file that is not UTF-8 is binary rather than Windows-1252 text. */
const MAX_HIGH_BYTES = 0.3;

function isSuspicious(code: number): boolean {
  // C0 controls other than tab, line feed, form feed, carriage return and escape (ANSI colours in logs); DEL and C1 controls; U+FFFD.
  if (code < 0x20) return code !== 0x09 && code !== 0x0a && code !== 0x0c && code !== 0x0d && code !== 0x1b;
  return (code >= 0x7f && code <= 0x9f) || code === 0xfffd;
}

/** The share of invalid or control characters in the start of some text. */
export function suspiciousShare(text: string): number {
  const sample = text.slice(0, SNIFF_BYTES);
  if (!sample.length) return 0;
  let suspicious = 0;
  for (let i = 0; i < sample.length; i++) if (isSuspicious(sample.charCodeAt(i))) suspicious++;
  return suspicious / sample.length;
}

function binary(fileName: string): DocParseError {
  return new DocParseError(`${baseName(fileName)} is not text (it looks like a binary file)`, 'binary');
}

function swapBytes(bytes: Uint8Array): Uint8Array {
  const swapped = new Uint8Array(bytes.length - (bytes.length % 2));
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    swapped[i] = bytes[i + 1]!;
    swapped[i + 1] = bytes[i]!;
  }
  return swapped;
}

/** Windows-1252's characters for 0x80–0x9f (the rest are Latin-1); its five unassigned bytes stay C1 controls. */
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** Windows-1252, by hand: Node 20's TextDecoder decodes it as Latin-1. */
function windows1252(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (let start = 0; start < bytes.length; start += 8192) {
    const codes = Array.from(bytes.subarray(start, start + 8192), (byte) =>
      byte >= 0x80 && byte <= 0x9f ? CP1252_HIGH.charCodeAt(byte - 0x80) : byte,
    );
    parts.push(String.fromCharCode(...codes));
  }
  return parts.join('');
}

/** The text of a text-like file, or a 'binary' DocParseError. */
export function decodeText(fileName: string, bytes: Uint8Array): string {
  let text: string;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    text = new TextDecoder('utf-8').decode(bytes.subarray(3));
  } else if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    text = new TextDecoder('utf-16le').decode(bytes.subarray(2));
  } else if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    text = new TextDecoder('utf-16le').decode(swapBytes(bytes.subarray(2)));
  } else {
    if (bytes.subarray(0, SNIFF_BYTES).includes(0)) throw binary(fileName);
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      // Not UTF-8: binary when much of it is high bytes, else most likely Windows-1252 (or Latin-1) text.
      const sample = bytes.subarray(0, SNIFF_BYTES);
      if (sample.filter((byte) => byte > 0x7f).length > MAX_HIGH_BYTES * sample.length) throw binary(fileName);
      text = windows1252(bytes);
    }
  }
  if (suspiciousShare(text) > MAX_SUSPICIOUS) throw binary(fileName);
  return text;
}
