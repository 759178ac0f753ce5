import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that a crash at any moment leaves either the old or the new
 * content, never a mix: write a temporary file beside it, fsync, rename over
 * the target, then fsync the directory so the rename itself is durable.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Queues atomic writes to one file so that the last write always lands last. */
export class SerialFileWriter {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  write(data: string): Promise<void> {
    const write = this.chain.then(() => writeFileAtomic(this.file, data));
    this.chain = write.catch(() => undefined);
    return write;
  }

  /** Resolves when every queued write has reached the disk. */
  flush(): Promise<void> {
    return this.chain;
  }
}
