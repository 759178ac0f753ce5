import { promises as fs } from 'node:fs';
import { notRegularFile } from '../platform/regular-file';

/** What a file looked like when its header was read; any difference means a re-read. */
export interface FileStamp {
  size: number;
  /** Nanoseconds, as a string (JSON has no bigint). */
  mtime: string;
  /** A file replaced by a rename keeps its name and often its size, but not its inode. */
  ino: string;
}

/** Stamps a regular file (following links); a missing file throws ENOENT, anything else NotRegularFileError. */
export async function stampFile(file: string): Promise<FileStamp> {
  const stat = await fs.stat(file, { bigint: true });
  if (!stat.isFile()) throw notRegularFile(file, stat);
  return { size: Number(stat.size), mtime: String(stat.mtimeNs), ino: String(stat.ino) };
}

export function sameStamps(a: FileStamp[], b: FileStamp[]): boolean {
  return a.length === b.length && a.every((s, i) => s.size === b[i]!.size && s.mtime === b[i]!.mtime && s.ino === b[i]!.ino);
}

/**
 * One key per file however it is reached: through links, `./`, `//`, `../`,
 * or another hard link. Device and inode where the file system has them, the
 * real path where it reports no inode; null when the file cannot be reached.
 */
export async function fileIdentity(file: string): Promise<string | null> {
  try {
    const stat = await fs.stat(file, { bigint: true });
    if (stat.ino !== 0n) return `${stat.dev}:${stat.ino}`;
    return `path:${await fs.realpath(file)}`;
  } catch {
    return null;
  }
}
