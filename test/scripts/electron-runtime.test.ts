import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { ensureElectronRuntime, installedElectron } from '../../scripts/electron-runtime.mjs';
import { tempDir } from '../helpers/temp';
import { makeZip } from '../helpers/zip';

interface RuntimeResult {
  binary?: string;
  error?: string;
  tried?: boolean;
}
const ensure = ensureElectronRuntime as (options: {
  electronDir: string;
  retry?: boolean;
  log?: (line: string) => void;
  progress?: (line: string) => void;
}) => Promise<RuntimeResult>;

const realElectron = path.resolve('node_modules/electron');
const { version } = JSON.parse(readFileSync(path.join(realElectron, 'package.json'), 'utf8')) as { version: string };
const zipName = `electron-v${version}-${process.platform}-${process.arch}.zip`;
const fakeRuntime = makeZip([
  { name: 'electron', data: '#!/bin/sh\necho "fake electron $*"\n', mode: 0o755 },
  { name: 'version', data: `v${version}` },
]);

/**
 * A copy of the electron package (without any runtime) whose checksums list the fake
 * runtime, so Electron's own downloader and installer run for real against a mirror on
 * 127.0.0.1, and nothing touches this checkout's node_modules.
 */
function electronPackageCopy(checksumOf: Buffer): string {
  const root = tempDir('freehold-electron-pkg-');
  const dir = path.join(root, 'node_modules', 'electron');
  mkdirSync(dir, { recursive: true });
  for (const file of ['package.json', 'install.js', 'index.js', 'cli.js']) cpSync(path.join(realElectron, file), path.join(dir, file));
  writeFileSync(path.join(dir, 'checksums.json'), JSON.stringify({ [zipName]: createHash('sha256').update(checksumOf).digest('hex') }));
  symlinkSync(path.resolve('node_modules/@electron'), path.join(root, 'node_modules', '@electron'));
  symlinkSync(path.resolve('node_modules/extract-zip'), path.join(root, 'node_modules', 'extract-zip'));
  return dir;
}

let server: Server;
let mirror: string;
let body: Buffer = fakeRuntime;
let requests: string[] = [];
const savedEnv = { ...process.env };

beforeEach(async () => {
  requests = [];
  body = fakeRuntime;
  server = createServer((request, response) => {
    requests.push(request.url ?? '');
    if (request.url === `/v${version}/${zipName}`) {
      response.writeHead(200, { 'content-length': body.length, 'content-type': 'application/zip' });
      // Two halves, so the download reports progress before it is complete.
      response.write(body.subarray(0, body.length >> 1));
      setTimeout(() => response.end(body.subarray(body.length >> 1)), 50);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  process.env.ELECTRON_MIRROR = mirror;
  process.env.electron_config_cache = tempDir('freehold-electron-cache-');
});

afterEach(async () => {
  process.env = { ...savedEnv };
  await new Promise((resolve) => server.close(resolve));
});

describe('npm start fetches the Electron runtime on first start', () => {
  it("downloads it with progress, verifies it, installs it with Electron's installer, and then starts it without fetching", async () => {
    const dir = electronPackageCopy(fakeRuntime);
    expect(installedElectron(dir)).toBeUndefined();
    const log: string[] = [];
    const progress: string[] = [];
    const result = await ensure({ electronDir: dir, log: (line) => log.push(line), progress: (line) => progress.push(line) });

    expect(result.error).toBeUndefined();
    expect(result.binary).toBe(path.join(dir, 'dist', 'electron'));
    expect(log[0]).toMatch(
      new RegExp(`Fetching the Electron runtime ${version.replaceAll('.', '\\.')} for ${process.platform}-${process.arch}`),
    );
    expect(log.at(-1)).toBe(`Electron ${version} installed.`);
    expect(progress.at(-1)).toMatch(/100%/);
    expect(spawnSync(result.binary!, ['.'], { encoding: 'utf8' }).stdout).toBe('fake electron .\n');
    expect(requests).toEqual([`/v${version}/${zipName}`]);

    // Installed: the next start neither downloads nor logs.
    const again = await ensure({ electronDir: dir, log: (line) => log.push(line) });
    expect(again.binary).toBe(result.binary);
    expect(requests).toHaveLength(1);
  });

  it('refuses a runtime whose checksum does not match, installs nothing, and remembers the failure for an hour', async () => {
    const dir = electronPackageCopy(fakeRuntime);
    body = Buffer.concat([fakeRuntime.subarray(0, 100), Buffer.from('tampered'), fakeRuntime.subarray(108)]);
    const result = await ensure({ electronDir: dir, log: () => {}, progress: () => {} });
    expect(result.binary).toBeUndefined();
    expect(result.tried).toBe(true);
    expect(result.error).toMatch(/checksum|sha256|match/i);
    expect(existsSync(path.join(dir, 'dist'))).toBe(false);

    // The next start does not wait on the network again; asking to retry does.
    const remembered = await ensure({ electronDir: dir, log: () => {}, progress: () => {} });
    expect(remembered).toMatchObject({ tried: false });
    expect(remembered.error).toContain(result.error!.split(' (')[0]);
    expect(requests).toHaveLength(1);
    body = fakeRuntime;
    const retried = await ensure({ electronDir: dir, retry: true, log: () => {}, progress: () => {} });
    expect(retried.binary).toBe(path.join(dir, 'dist', 'electron'));
  });

  it('says why in one line when the runtime cannot be reached (a closed port)', async () => {
    const dir = electronPackageCopy(fakeRuntime);
    await new Promise((resolve) => server.close(resolve));
    server.listen(0, '127.0.0.1'); // afterEach closes it again
    process.env.ELECTRON_MIRROR = mirror;
    const result = await ensure({ electronDir: dir, log: () => {}, progress: () => {} });
    expect(result.error).toMatch(/ECONNREFUSED/);
    expect(result.error).not.toContain('\n');
  });

  it('`npm start` without a runtime says why in one line and starts the headless host', async () => {
    const dir = electronPackageCopy(fakeRuntime);
    body = Buffer.from('not a zip');
    const child = spawn(process.execPath, ['scripts/start.mjs', '--port', '0', '--api-port', '0', '--data-dir', tempDir()], {
      env: { ...process.env, FREEHOLD_ELECTRON_PACKAGE: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Open http:\/\/127\.0\.0\.1:\d+\/\?token=/.test(output)) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('exit', () => reject(new Error(`start exited early:\n${output}`)));
      setTimeout(() => reject(new Error(`no URL within 25 s:\n${output}`)), 25_000).unref();
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    const lines = output.split('\n');
    const why = lines.find((line) => line.startsWith('No desktop window'));
    expect(why).toMatch(/^No desktop window: the Electron runtime could not be fetched \(.+\), so Freehold starts as a headless host/);
    expect(output).not.toMatch(/\n\s+at /); // no stack trace
  });
});
