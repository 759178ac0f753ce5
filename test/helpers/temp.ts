import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';

const made: string[] = [];

/** A fresh temporary folder, removed after the test. */
export function tempDir(prefix = 'freehold-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * Temporary folders for what lives across tests (hosts made in beforeAll):
 * call it in a file or describe block, before that block's own afterAll, and
 * each call of what it returns makes a fresh folder (named `prefix`…, or the
 * prefix given), removed in an afterAll of that block that runs after the
 * block's own (hooks run as a stack).
 */
export function suiteTempDirs(prefix: string): (name?: string) => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return (name = prefix) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), name));
    dirs.push(dir);
    return dir;
  };
}
