import type { ByteSource } from '../../electron/formats/gguf-header';

/** An in-memory file for the header check. */
export function bufferSource(data: Uint8Array): ByteSource {
  return {
    size: data.length,
    async read(offset, length) {
      return data.subarray(offset, Math.min(data.length, offset + length));
    },
  };
}

/** Offset just after a GGUF string (u64 length + bytes) equal to `text`. */
export function afterString(data: Buffer, text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  const needle = Buffer.alloc(8 + bytes.length);
  needle.writeBigUInt64LE(BigInt(bytes.length), 0);
  bytes.copy(needle, 8);
  const at = data.indexOf(needle);
  if (at < 0) throw new Error(`"${text}" not found`);
  return at + needle.length;
}
