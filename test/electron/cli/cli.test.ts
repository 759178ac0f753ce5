import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../electron/cli/cli';
import { tempDir } from '../../helpers/temp';
import pkg from '../../../package.json' with { type: 'json' };

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('CLI', () => {
  it('prints help listing its commands', async () => {
    const result = await cli('--help');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/Usage: npm run cli -- <command>/);
    expect(result.out).toMatch(/version/);
  });

  it('prints the version for people and for scripts', async () => {
    expect((await cli('version')).out).toBe(`Freehold ${pkg.version} (Node.js ${process.versions.node})`);
    const json = JSON.parse((await cli('version', '--json')).out);
    expect(json).toEqual({ freehold: pkg.version, node: process.versions.node });
  });

  it('fails clearly on an unknown command or option', async () => {
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command "frobnicate"/);
    const badOption = await cli('version', '--colour');
    expect(badOption.code).toBe(2);
    expect(badOption.err).toMatch(/Unknown option '--colour'/);
  });

  it('uses --data-dir and reports a corrupt settings file without failing', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'settings.json'), 'not json');
    const result = await cli('info', '--json', '--data-dir', dir);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ dataDir: dir, settings: { inference: { backend: 'auto' } } });
    expect(result.err).toMatch(/warning: Settings file was unreadable/);
  });

  it('runs as a real process through the built bundle', () => {
    const dir = tempDir();
    const out = execFileSync(process.execPath, ['dist/electron/cli.mjs', 'info', '--json'], {
      env: { ...process.env, FREEHOLD_DATA_DIR: dir },
      encoding: 'utf8',
    });
    expect(JSON.parse(out).dataDir).toBe(dir);
    const failed = spawnSync(process.execPath, ['dist/electron/cli.mjs', 'nope'], { encoding: 'utf8' });
    expect(failed.status).toBe(2);
  });
});
