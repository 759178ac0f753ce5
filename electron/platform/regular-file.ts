import { constants, promises as fs, type BigIntStats, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

/**
 * Only regular files are ever opened. Opening a FIFO for reading blocks until
 * something writes to it, and it blocks one of libuv's four file threads while
 * it waits: four such opens stall every file operation in the process (static
 * files, uploads, settings). Devices and sockets are no model files either.
 */
export class NotRegularFileError extends Error {
  override readonly name = 'NotRegularFileError';
  readonly code = 'ENOTREG';
}

function kind(stat: Stats | BigIntStats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'a special file';
}

export function notRegularFile(file: string, stat: Stats | BigIntStats): NotRegularFileError {
  return new NotRegularFileError(`${path.basename(file)} is ${kind(stat)}, not a regular file.`);
}

// O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer;
// it changes nothing for a regular file. Windows has no such flag (nor FIFOs on disk).
const READ_NONBLOCK = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/**
 * Opens `file` for reading if it is a regular file. The type is checked on the
 * open handle (fstat), so a file swapped for a FIFO after an earlier check is
 * refused too.
 */
export async function openRegularFile(file: string): Promise<FileHandle> {
  const handle = await fs.open(file, READ_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notRegularFile(file, stat);
    return handle;
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}
