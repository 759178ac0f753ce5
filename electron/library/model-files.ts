/** The files the app itself keeps in the models folder (copies, uploads, downloads): written verified, hashed, deleted. */
import { createHash } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RpcError } from '../../shared/errors';
import { formatGb } from '../../shared/format';
import type { ModelEntry } from '../../shared/library';
import { openFileSource } from '../formats/file-source';
import { readGgufHeader } from '../formats/gguf-header';
import { openRegularFile } from '../platform/regular-file';
import { importError } from './model-entry';

class HashingTransform extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    this.push(chunk);
    callback();
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await openRegularFile(file);
  for await (const chunk of handle.createReadStream({ highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Streams bytes to a partial file beside `final` while hashing them, syncs,
 * checks the GGUF header of what was written, then renames into place. On
 * any failure the partial file is removed and nothing is registered. The
 * partial's name carries this process's id, so that after a crash the next
 * start can tell it from one that another process is still writing.
 */
export async function writeVerified(
  input: Readable,
  final: string,
  onBytes?: (bytes: number) => void,
  expected?: { sha256?: string; size?: number },
): Promise<{ sha256: string; size: number }> {
  const partial = `${final}.${process.pid}.partial`;
  const hashing = new HashingTransform(onBytes);
  try {
    const out = createWriteStream(partial, { mode: 0o644 });
    await pipeline(input, hashing, out);
    const handle = await fs.open(partial, 'r+');
    await handle.sync();
    await handle.close();
    const sha256 = hashing.hash.digest('hex');
    if (expected?.size !== undefined && hashing.bytes !== expected.size)
      throw new Error(`Expected ${expected.size} bytes but got ${hashing.bytes}.`);
    if (expected?.sha256 && expected.sha256 !== sha256)
      throw new Error(`The file did not verify: sha256 ${sha256} instead of ${expected.sha256}.`);
    const source = await openFileSource(partial);
    try {
      await readGgufHeader(source);
    } catch (error) {
      throw new Error(importError(error), { cause: error });
    } finally {
      await source.close();
    }
    await fs.rename(partial, final);
    return { sha256, size: hashing.bytes };
  } catch (error) {
    await fs.rm(partial, { force: true });
    throw error;
  }
}

export async function ensureSpace(dir: string, bytes: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const stats = await fs.statfs(dir);
  const free = stats.bavail * stats.bsize;
  // Keep a margin so that the disk is never filled to the last byte.
  const margin = 256 * 1024 * 1024;
  if (bytes + margin > free) {
    throw new RpcError('conflict', `Not enough disk space in ${dir}: ${formatGb(bytes, 2)} needed, ${formatGb(free, 2)} free.`);
  }
}

/** Deletes the files of a copy or a download, and their folder if it is left empty; returns what was deleted. */
export async function deleteOwnedFiles(model: ModelEntry, modelsDir: string): Promise<string[]> {
  const deletedFiles: string[] = [];
  const root = path.resolve(modelsDir);
  // Its projector goes with it only where it is the model's own copy (in its folder), never another model's.
  const ownProjector =
    model.projector && path.dirname(model.projector.file) === path.dirname(model.files[0]!) ? [model.projector.file] : [];
  for (const file of [...model.files, ...ownProjector]) {
    // Only ever inside the models folder, whatever the index says.
    if (!path.resolve(file).startsWith(root + path.sep)) continue;
    await fs.rm(file, { force: true });
    deletedFiles.push(file);
  }
  const dir = path.dirname(model.files[0]!);
  if (path.resolve(dir).startsWith(root + path.sep)) await fs.rmdir(dir).catch(() => undefined);
  return deletedFiles;
}
