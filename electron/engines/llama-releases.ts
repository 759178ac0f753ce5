/**
 * llama.cpp's own release builds, downloaded and verified: only the assets
 * whose sha256 is kept here are ever installed. The table is empty in this
 * build: the hashes must be taken from the release itself (this project's
 * machines cannot reach GitHub), and a release without one is never trusted,
 * so Freehold builds from the bundled source instead. Tests pass their own
 * table and a release server on 127.0.0.1.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import extract from 'extract-zip';
import { RpcError } from '../../shared/errors';

export interface ReleaseAsset {
  /** The file name in the release. */
  asset: string;
  sha256: string;
}

/** llama.cpp version → "<platform>-<arch>-<backend>" → the asset and its hash. */
export type ReleaseTable = Record<string, Record<string, ReleaseAsset>>;

export const PINNED_RELEASES: ReleaseTable = {};

export const RELEASES_URL = 'https://github.com/ggml-org/llama.cpp/releases/download';

export const platformKey = (backend = 'cpu') => `${process.platform}-${process.arch}-${backend}`;

async function findFile(dir: string, name: string): Promise<string | null> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = await findFile(full, name);
      if (found) return found;
    } else if (entry.name === name) return full;
  }
  return null;
}

/**
 * Downloads the release asset for this platform, checks its sha256 against
 * the table (a mismatch deletes it and says so), unpacks it and installs
 * llama-server and the RPC server into `dir/bin`.
 */
export async function downloadRelease(options: {
  version: string;
  dir: string;
  table?: ReleaseTable;
  baseUrl?: string;
  onProgress?: (bytes: number, total: number) => void;
}): Promise<{ llamaServer: string; rpcServer: string }> {
  const entry = (options.table ?? PINNED_RELEASES)[options.version]?.[platformKey()];
  if (!entry)
    throw new RpcError('unavailable', `No verified download of llama.cpp ${options.version} for ${platformKey()} is known to this build.`);
  const url = `${(options.baseUrl ?? RELEASES_URL).replace(/\/+$/, '')}/${encodeURIComponent(options.version)}/${encodeURIComponent(entry.asset)}`;
  await fs.mkdir(path.dirname(options.dir), { recursive: true });
  const work = path.join(path.dirname(options.dir), `.download-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(work, { recursive: true });
  try {
    const response = await fetch(url, { redirect: 'follow' });
    if (!response.ok || !response.body) throw new RpcError('unavailable', `Could not download ${entry.asset}: HTTP ${response.status}.`);
    const total = Number(response.headers.get('content-length') ?? 0);
    const zip = path.join(work, 'release.zip');
    const hash = createHash('sha256');
    let bytes = 0;
    const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
    body.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes, total);
    });
    await pipeline(body, createWriteStream(zip));
    const sha256 = hash.digest('hex');
    if (sha256 !== entry.sha256) {
      throw new RpcError(
        'invalid_model',
        `The download of ${entry.asset} did not verify (sha256 ${sha256}, expected ${entry.sha256}): it was deleted and not installed.`,
      );
    }
    await extract(zip, { dir: path.join(work, 'unpacked') });
    const server = await findFile(path.join(work, 'unpacked'), process.platform === 'win32' ? 'llama-server.exe' : 'llama-server');
    const rpc =
      (await findFile(path.join(work, 'unpacked'), process.platform === 'win32' ? 'ggml-rpc-server.exe' : 'ggml-rpc-server')) ??
      (await findFile(path.join(work, 'unpacked'), process.platform === 'win32' ? 'rpc-server.exe' : 'rpc-server'));
    if (!server || !rpc) throw new RpcError('invalid_model', `${entry.asset} holds no llama-server and RPC server.`);
    // Everything beside them (shared libraries) goes too.
    await fs.rm(options.dir, { recursive: true, force: true });
    await fs.mkdir(options.dir, { recursive: true });
    await fs.rename(path.dirname(server), path.join(options.dir, 'bin'));
    const bin = path.join(options.dir, 'bin');
    const installedRpc = path.join(bin, path.basename(rpc));
    if (!existsSync(installedRpc)) await fs.copyFile(rpc, installedRpc);
    for (const file of [path.join(bin, path.basename(server)), installedRpc]) await fs.chmod(file, 0o755);
    await fs.writeFile(
      path.join(options.dir, 'engine.json'),
      JSON.stringify({ version: options.version, source: 'download', asset: entry.asset, sha256 }, null, 2),
    );
    return { llamaServer: path.join(bin, path.basename(server)), rpcServer: installedRpc };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
