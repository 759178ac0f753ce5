import type { ByteSource } from '../../electron/formats/gguf-header';
import { ggufString } from '../../electron/formats/gguf-types';

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
  const needle = ggufString(text);
  const at = data.indexOf(needle);
  if (at < 0) throw new Error(`"${text}" not found`);
  return at + needle.length;
}
