import { execFile } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../../package.json' with { type: 'json' };
import { testModelPath } from '../../helpers/test-model';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

// Asynchronous, so a slow install does not stall the test runner's own timers.
function run(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, shell: process.platform === 'win32' },
      (error, stdout, stderr) => resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * A scratch copy of the package to pack: what npm reads (package.json, README,
 * the launcher) copied, the sources linked, so prepack's build writes its own
 * dist/ and never rewrites the bundles other tests in this checkout are running.
 */
function scratchCheckout(root: string, scratch: string): void {
  mkdirSync(path.join(scratch, 'bin'), { recursive: true });
  for (const file of ['package.json', 'README.md', 'bin/freehold.mjs']) copyFileSync(path.join(root, file), path.join(scratch, file));
  for (const entry of ['electron', 'shared', 'scripts', 'tsconfig.json', 'tsconfig.base.json', 'node_modules'])
    symlinkSync(path.join(root, entry), path.join(scratch, entry));
}

/**
 * The `freehold` command as a user gets it: `npm pack` (prepack builds the
 * bundles), then `npm install --global` of that tarball into a temporary
 * prefix, so npm links the bin and installs the runtime dependencies itself
 * (from the npm cache alone when it has them all: much faster here).
 */
describe('the freehold command from a packed tarball', () => {
  const root = process.cwd();
  const work = mkdtempSync(path.join(os.tmpdir(), 'freehold-bin-'));
  const prefix = path.join(work, 'prefix');
  const dataDir = path.join(work, 'data');
  const freehold = process.platform === 'win32' ? path.join(prefix, 'freehold.cmd') : path.join(prefix, 'bin', 'freehold');
  let packed: { filename: string; files: { path: string }[]; unpackedSize: number };
  const cli = (...args: string[]) => run(freehold, [...args, '--data-dir', dataDir], work);

  beforeAll(async () => {
    const scratch = path.join(work, 'package');
    scratchCheckout(root, scratch);
    const pack = await run('npm', ['pack', '--json', '--pack-destination', work], scratch);
    expect(pack.status, pack.stderr).toBe(0);
    // prepack's output comes before the JSON on stdout.
    packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0];
    const install = (cache: string) =>
      run('npm', ['install', '--global', '--prefix', prefix, cache, '--no-audit', '--no-fund', path.join(work, packed.filename)], work);
    let installed = await install('--offline');
    if (installed.status !== 0 && /ENOTCACHED/.test(installed.stderr)) installed = await install('--prefer-offline');
    expect(installed.status, installed.stderr).toBe(0);
  }, 300_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('packs the launcher and the bundles the CLI runs, and nothing of the checkout', () => {
    const files = packed.files.map((f) => f.path).sort();
    expect(files).toEqual([
      'README.md',
      'bin/freehold.mjs',
      'dist/electron/cli.mjs',
      'dist/electron/main.mjs',
      'dist/electron/worker.mjs',
      'package.json',
    ]);
    expect(packed.unpackedSize).toBeLessThan(2 * 1024 * 1024);
  });

  it('is linked onto the prefix PATH and prints its version', async () => {
    if (process.platform !== 'win32') {
      expect(lstatSync(freehold).isSymbolicLink()).toBe(true);
      expect(realpathSync(freehold)).toBe(realpathSync(path.join(prefix, 'lib', 'node_modules', 'freehold', 'bin', 'freehold.mjs')));
    }
    const version = await run(freehold, ['--version'], work);
    expect(version).toEqual({ status: 0, stdout: `Freehold ${pkg.version} (Node.js ${process.versions.node})\n`, stderr: '' });
  });

  it('lists models and chats as JSON', async () => {
    const list = await cli('models', 'list', '--json');
    expect(list.status, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ models: [], totalBytes: 0 });
    const chats = await cli('chats', 'list', '--json');
    expect(chats.status, chats.stderr).toBe(0);
    expect(JSON.parse(chats.stdout)).toEqual([]);
  });

  it('exits 2 with a usage line for an unknown command or option, 1 for a failure', async () => {
    const unknown = await cli('frobnicate');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^Usage: freehold <command> \[options\]$/m);
    const badFlag = await cli('models', 'list', '--colour');
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toMatch(/Unknown option '--colour'/);
    expect(badFlag.stderr).toMatch(/^Usage: freehold models /m);
    const missing = await cli('models', 'remove', 'nonexistent-id');
    expect(missing).toMatchObject({ status: 1, stdout: '', stderr: 'freehold models: No such model in the library.\n' });
  });

  it('chats through the packed worker with the installed inference binaries', async () => {
    const reply = await cli('chat', '--model', testModelPath(), '--max-tokens', '8', '--seed', '1', '--json', 'Once upon a time');
    expect(reply.status, reply.stderr).toBe(0);
    expect(JSON.parse(reply.stdout).stats).toMatchObject({ generatedTokens: 8, stopReason: 'max-tokens' });
  });
});
