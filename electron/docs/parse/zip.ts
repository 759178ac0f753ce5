/**
 * A zip's central directory read by hand, to refuse a zip bomb before any
 * unzipping library sees it: what every entry says it unpacks to, and then
 * what it really does (counted as it streams, never held).
 */
import { createInflateRaw, inflateRawSync } from 'node:zlib';

const MB = 1024 * 1024;

export const ZIP_LIMITS = {
  /** Most bytes all entries together may unpack to. */
  totalBytes: 200 * MB,
  /** An entry over ratioMinBytes may unpack to at most this many times its packed size. */
  ratio: 100,
  ratioMinBytes: 10 * MB,
  entries: 10_000,
  /** Most bytes one XML part may unpack to (a Word document's text: parsing 45 MB of it takes minutes and gigabytes). */
  xmlBytes: 40 * MB,
} as const;

export interface ZipEntryInfo {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  compressedSize: number;
  /** What the central directory says it unpacks to. */
  size: number;
  localOffset: number;
}

/** Why a zip is refused: not a zip at all (or damaged), or a bomb. */
export class ZipProblem extends Error {
  constructor(
    message: string,
    readonly kind: 'corrupt' | 'bomb' | 'too_large',
  ) {
    super(message);
  }
}

const damaged = (): ZipProblem => new ZipProblem('damaged', 'corrupt');

/** The entries of a zip's central directory (ZIP64 too); a ZipProblem when it is not a zip or lists too many. */
export function readZipDirectory(bytes: Uint8Array): ZipEntryInfo[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  const u64 = (at: number): number => Number(view.getBigUint64(at, true));
  const fits = (at: number, length: number): boolean => at >= 0 && at + length <= bytes.byteLength;

  let end = -1;
  for (let at = bytes.byteLength - 22; at >= Math.max(0, bytes.byteLength - 22 - 0xffff); at--) {
    if (u32(at) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) throw damaged();
  let count = u16(end + 10);
  let offset = u32(end + 16);
  if (count === 0xffff || offset === 0xffffffff) {
    const locator = end - 20;
    if (!fits(locator, 20) || u32(locator) !== 0x07064b50) throw damaged();
    const record = u64(locator + 8);
    if (!fits(record, 56) || u32(record) !== 0x06064b50) throw damaged();
    count = u64(record + 32);
    offset = u64(record + 48);
  }
  if (count > ZIP_LIMITS.entries) throw new ZipProblem(`holds ${count.toLocaleString('en-US')} files`, 'bomb');

  const entries: ZipEntryInfo[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    if (!fits(at, 46) || u32(at) !== 0x02014b50) throw damaged();
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    if (!fits(at + 46, nameLength + extraLength + commentLength)) throw damaged();
    const entry: ZipEntryInfo = {
      name: new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength)),
      method: u16(at + 10),
      compressedSize: u32(at + 20),
      size: u32(at + 24),
      localOffset: u32(at + 42),
    };
    // ZIP64: the sizes and offset that do not fit 32 bits are in extra field 0x0001, in this order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = u16(extra);
      const length = u16(extra + 2);
      if (id === 0x0001) {
        let field = extra + 4;
        for (const key of ['size', 'compressedSize', 'localOffset'] as const) {
          if (entry[key] === 0xffffffff && field + 8 <= extra + 4 + length) {
            entry[key] = u64(field);
            field += 8;
          }
        }
      }
      extra += 4 + length;
    }
    entries.push(entry);
    at = extraEnd + commentLength;
  }
  return entries;
}

function megabytes(bytes: number): string {
  if (bytes < MB) return `${Math.ceil(bytes / 1024)} KB`;
  return `${Math.round(bytes / MB).toLocaleString('en-US')} MB`;
}

/** Refuses entries that say they unpack to too much in all, or far more than they are packed in. */
export function checkDeclaredSizes(entries: ZipEntryInfo[]): void {
  const total = entries.reduce((sum, entry) => sum + entry.size, 0);
  if (total > ZIP_LIMITS.totalBytes) throw new ZipProblem(`unpacks to ${megabytes(total)}`, 'bomb');
  for (const entry of entries) {
    if (/\.xml$/i.test(entry.name) && entry.size > ZIP_LIMITS.xmlBytes)
      throw new ZipProblem(`${megabytes(entry.size)} of markup in ${entry.name}`, 'too_large');
    if (entry.size > ZIP_LIMITS.ratioMinBytes && entry.size > ZIP_LIMITS.ratio * Math.max(1, entry.compressedSize)) {
      throw new ZipProblem(`has a part that unpacks to ${megabytes(entry.size)} from ${megabytes(entry.compressedSize)}`, 'bomb');
    }
  }
}

/** Where an entry's packed bytes are. */
function entryData(bytes: Uint8Array, entry: ZipEntryInfo): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localOffset;
  if (at + 30 > bytes.byteLength || view.getUint32(at, true) !== 0x04034b50) throw damaged();
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  if (start + entry.compressedSize > bytes.byteLength) throw damaged();
  return bytes.subarray(start, start + entry.compressedSize);
}

/** How many bytes raw deflate data unpacks to, counting no further than `limit` + 1. */
function inflatedSize(data: Uint8Array, limit: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const inflate = createInflateRaw();
    let size = 0;
    inflate.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        inflate.destroy();
        resolve(size);
      }
    });
    inflate.on('end', () => resolve(size));
    inflate.on('error', () => reject(damaged()));
    inflate.end(data);
  });
}

/** Unpacks every deflated entry without keeping it, refusing one that unpacks to more than it says. */
export async function checkActualSizes(bytes: Uint8Array, entries: ZipEntryInfo[], signal?: AbortSignal): Promise<void> {
  for (const entry of entries) {
    signal?.throwIfAborted();
    if (entry.method !== 8) continue;
    const size = await inflatedSize(entryData(bytes, entry), entry.size);
    if (size > entry.size) throw new ZipProblem('unpacks to more than it says', 'bomb');
  }
}

/** One (small) entry's bytes; null when it is absent, not deflated or stored, or larger than `limit`. */
export function readEntry(bytes: Uint8Array, entries: ZipEntryInfo[], name: string, limit = MB): Uint8Array | null {
  const entry = entries.find((candidate) => candidate.name === name);
  if (!entry || entry.size > limit) return null;
  try {
    const data = entryData(bytes, entry);
    if (entry.method === 0) return data;
    if (entry.method === 8) return inflateRawSync(data, { maxOutputLength: limit });
  } catch {
    // unreadable: as if absent
  }
  return null;
}
