import { _electron as electron, expect, test } from '@playwright/test';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function electronBinary(): string | undefined {
  try {
    const binary = createRequire(import.meta.url)('electron') as unknown;
    return typeof binary === 'string' && existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

const binary = electronBinary();
const skipReason =
  'Electron runtime not installed (`npm install` never downloads it and `npm start` could not fetch it: this machine reaches only the npm registry), so the desktop smoke test cannot run here; the shell is covered by unit tests with a faked electron module.';

test.describe('desktop app (Electron)', () => {
  test('starts, shows the three views and talks to its services over IPC', async () => {
    if (!binary) console.log(`skipped: ${skipReason}`);
    test.skip(!binary, skipReason);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'freehold-electron-'));
    const app = await electron.launch({
      executablePath: binary,
      args: ['.', '--data-dir', dataDir, ...(process.env.CI ? ['--no-sandbox'] : [])],
    });
    try {
      const window = await app.firstWindow();
      await expect(window.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
      await expect(window.getByRole('status', { name: 'Connection' })).toHaveText('Connected');
      await window.getByRole('link', { name: 'Hardware' }).click();
      await expect(window.getByText('Logical cores', { exact: true })).toBeVisible();
      // The page has no Node: the preload exposes only the message bridge.
      expect(await window.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe('undefined');
      expect(await window.evaluate(() => Object.keys((globalThis as unknown as { freehold: object }).freehold).sort())).toEqual([
        'onMessage',
        'pathForFile',
        'send',
      ]);
      await window.screenshot({ path: 'test-results/screenshots/electron-hardware.png' });
    } finally {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
