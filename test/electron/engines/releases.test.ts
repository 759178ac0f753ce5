import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEngines, releaseDirFor } from '../../../electron/engines/llama-engines';
import { downloadRelease, platformKey, type ReleaseTable } from '../../../electron/engines/llama-releases';
import { bundledLlama } from '../../../electron/engines/llama-engines';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { makeZip } from '../../helpers/zip';
import { inferenceHost } from '../../helpers/inference-host';

/** A llama.cpp release server on 127.0.0.1: the real programs (built here) zipped as a release asset. */
describe('llama.cpp release downloads, verified by the sha256 kept in the project', () => {
  let server: http.Server;
  let baseUrl: string;
  let zip: Buffer;
  let tamper = false;
  const dirs: string[] = [];
  const version = bundledLlama().version;
  const asset = `llama-${version}-bin-test-x64.zip`;

  beforeAll(async () => {
    const engines = await ensureTestEngines();
    zip = makeZip([
      { name: 'build/bin/llama-server', data: readFileSync(engines.llamaServer), mode: 0o755 },
      { name: 'build/bin/ggml-rpc-server', data: readFileSync(engines.rpcServer), mode: 0o755 },
      { name: 'build/bin/LICENSE', data: 'MIT' },
    ]);
    server = http.createServer((req, res) => {
      if (req.url !== `/${encodeURIComponent(version)}/${asset}`) return void res.writeHead(404).end();
      const body = tamper ? Buffer.concat([zip.subarray(0, 1000), Buffer.from('evil'), zip.subarray(1004)]) : zip;
      res.writeHead(200, { 'Content-Length': body.length, 'Content-Type': 'application/zip' });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 15 * 60_000);

  afterAll(() => {
    server?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const table = (): ReleaseTable => ({ [version]: { [platformKey()]: { asset, sha256: createHash('sha256').update(zip).digest('hex') } } });

  it('installs a release whose sha256 matches, and the engines finder uses it (before a build)', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'freehold-releases-'));
    dirs.push(root);
    const env = { ...process.env, FREEHOLD_ENGINES_DIR: root, FREEHOLD_IGNORE_PATH_ENGINES: '1' };
    const before = await findEngines({ dataDir: root, env, releases: table() });
    expect(before.found).toBeNull();
    expect(before.attempts.find((a) => a.source === 'download')?.reason).toMatch(/Not downloaded yet: .*sha256 is kept in the project/);
    const installed = await downloadRelease({ version, dir: releaseDirFor(root, version), table: table(), baseUrl });
    expect(execFileSync(installed.llamaServer, ['--version'], { stdio: 'pipe' }).length).toBeGreaterThanOrEqual(0);
    const after = await findEngines({ dataDir: root, env, releases: table() });
    expect(after.found?.source).toBe('download');
    expect(after.found?.reason).toMatch(/downloaded and verified/);
  }, 120_000);

  it('the app gets its engines by the verified download when one is pinned (Hardware → Engines, freehold engines --build)', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'freehold-releases-'));
    dirs.push(root);
    const { services } = await inferenceHost({
      dataDir: path.join(root, 'data'),
      hostEnv: { ...process.env, FREEHOLD_ENGINES_DIR: path.join(root, 'engines'), FREEHOLD_IGNORE_PATH_ENGINES: '1' },
      engines: { releases: { table: table(), baseUrl } },
    });
    try {
      const info = await services.handlers['engines.build'](undefined);
      expect(info.found?.source).toBe('download');
      expect(info.attempts.find((a) => a.source === 'download')?.outcome).toBe('used');
    } finally {
      await services.close();
    }
  }, 120_000);

  it('refuses a tampered download: deleted, not installed, and says why', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'freehold-releases-'));
    dirs.push(root);
    tamper = true;
    try {
      await expect(downloadRelease({ version, dir: releaseDirFor(root, version), table: table(), baseUrl })).rejects.toMatchObject({
        message: expect.stringMatching(/did not verify \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\): it was deleted and not installed/),
      });
    } finally {
      tamper = false;
    }
    expect(existsSync(releaseDirFor(root, version))).toBe(false);
    // Nothing left beside it either.
    expect(readdirSync(root)).toEqual([]);
  }, 120_000);

  it('without a pinned hash nothing is downloaded at all', async () => {
    await expect(downloadRelease({ version, dir: path.join(os.tmpdir(), 'never'), table: {}, baseUrl })).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/No verified download/),
    });
  });
});
