import { promises as fs } from 'node:fs';
import type { ByteSource } from './gguf-header';

/** A local file as a ByteSource; reads only what the header check asks for. */
export async function openFileSource(file: string): Promise<ByteSource & { close(): Promise<void> }> {
  const handle = await fs.open(file, 'r');
  const { size } = await handle.stat();
  return {
    size,
    async read(offset, length) {
      const buffer = Buffer.alloc(Math.min(length, size - offset));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      return buffer.subarray(0, bytesRead);
    },
    close: () => handle.close(),
  };
}
