import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp';

interface Report {
  findings: Array<{ id: string; severity: string; file: string }>;
  high: Array<{ id: string; file: string }>;
  parseErrors: string[];
}

function scan(args: string[] = []): { status: number | null; report: Report } {
  const result = spawnSync(process.execPath, ['scripts/electronegativity.cjs', '--json', ...args], { encoding: 'utf8', timeout: 120_000 });
  const line = result.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`electronegativity printed no report:\n${result.stdout}\n${result.stderr}`);
  return { status: result.status, report: JSON.parse(line) as Report };
}

describe('static security check of the Electron code (electronegativity)', () => {
  it('finds no high-severity problem in the app', () => {
    const { status, report } = scan();
    expect(report.parseErrors).toEqual([]);
    expect(report.high).toEqual([]);
    expect(status).toBe(0);
    // It really read the code: the window's preload is noted for review.
    expect(report.findings.map((f) => f.id)).toContain('PRELOAD_JS_CHECK');
  }, 120_000);

  it('fails on a window that turns isolation off and never limits navigation', () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'main'));
    writeFileSync(
      path.join(dir, 'main', 'bad.js'),
      "const { BrowserWindow } = require('electron');\nnew BrowserWindow({ webPreferences: { contextIsolation: false, nodeIntegration: true } });\n",
    );
    const { status, report } = scan(['--input', dir]);
    expect(report.high.map((f) => f.id)).toEqual(expect.arrayContaining(['CONTEXT_ISOLATION_JS_CHECK', 'LIMIT_NAVIGATION_GLOBAL_CHECK']));
    expect(status).toBe(1);
  }, 120_000);
});
