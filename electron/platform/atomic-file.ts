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
  // The writer's pid is in the name, so that a later start can tell a crashed write from a live one.
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

const TEMP_NAME = /^\.(.+)\.(\d+)\.[0-9a-f]{12}\.tmp$/;
/** No atomic write takes this long: a temporary file this old is stale whoever wrote it (its pid may be reused). */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

/** Whether the process `pid` is running (this one included). */
export function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // running, as another user
  }
}

/**
 * Removes what writeFileAtomic left in `dir` when its process died mid-write:
 * temporary files named by it, whose writer is no longer running or which are
 * over an hour old. Only regular files with exactly that name are touched.
 */
export async function removeStaleTempFiles(dir: string, now = Date.now()): Promise<Array<{ file: string; bytes: number }>> {
  const removed: Array<{ file: string; bytes: number }> = [];
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (!match) continue;
    const file = path.join(dir, name);
    const stat = await fs.lstat(file).catch(() => undefined);
    if (!stat?.isFile()) continue;
    if (processIsAlive(Number(match[2])) && now - stat.mtimeMs < TEMP_MAX_AGE_MS) continue;
    try {
      await fs.unlink(file);
      removed.push({ file, bytes: stat.size });
    } catch {
      // gone already, or not ours to remove after all
    }
  }
  return removed;
}
