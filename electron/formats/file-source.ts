import type { ByteSource } from './gguf-header';
import { openRegularFile } from '../platform/regular-file';

/** A local regular file as a ByteSource; reads only what the header check asks for. */
export async function openFileSource(file: string): Promise<ByteSource & { close(): Promise<void> }> {
  const handle = await openRegularFile(file);
  const { size } = await handle.stat();
  return {
    size,
    async read(offset, length) {
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, size - offset)));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      return buffer.subarray(0, bytesRead);
    },
    close: () => handle.close(),
  };
}
