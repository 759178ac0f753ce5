import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test as base, expect, type Page } from '@playwright/test';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process';
import { testModelPath } from '../helpers/test-model';

export interface HostFixture extends ServeProcess {
  dataDir: string;
}

/** Starts `npm run serve`'s bundle on a free port, on a fresh data folder or the one given; `args` are added (`--share`, …). */
export async function launchHost(
  options: { prepare?: (dataDir: string) => void; dataDir?: string; env?: NodeJS.ProcessEnv; args?: string[] } = {},
): Promise<HostFixture> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'freehold-e2e-'));
  options.prepare?.(dataDir);
  const serve = await startServeProcess(['--port', '0', '--data-dir', dataDir, ...(options.args ?? [])], options.env);
  return { ...serve, dataDir };
}

/** The pairing code a host started with `--share` prints (`Pairing code: FH1-…`), once it has. */
export async function pairingCodeOf(host: HostFixture, timeoutMs = 20_000): Promise<string> {
  let code: string | undefined;
  await expect
    .poll(() => (code = /Pairing code: (\S+)/.exec(host.output())?.[1]), {
      message: 'a "Pairing code:" line in the output of the host started with --share',
      timeout: timeoutMs,
    })
    .toBeTruthy();
  return code!;
}

export async function stopHost(host: HostFixture, options: { keepData?: boolean } = {}): Promise<void> {
  if (host.child.exitCode === null && host.child.signalCode === null) {
    host.child.kill('SIGTERM');
    await host.exited;
  }
  if (!options.keepData) rmSync(host.dataDir, { recursive: true, force: true });
}

/** Puts stories260K in the host's library as a browser drop does: streamed to /api/upload with the page's secret. */
export async function uploadTestModel(page: Page, host: HostFixture): Promise<void> {
  const origin = new URL(host.url).origin;
  const upload = await page.request.post(`${origin}/api/upload?name=stories260K.gguf`, {
    data: readFileSync(testModelPath()),
    headers: { 'X-Freehold-Token': new URL(host.url).searchParams.get('token')!, Origin: origin },
  });
  expect(upload.ok()).toBe(true);
}

export const screenshotDir = path.resolve('test-results/screenshots');
mkdirSync(screenshotDir, { recursive: true });

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}

/** Collects console errors and CSP violations; a clean app has none. */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return problems;
}

export const test = base.extend<{ host: HostFixture }>({
  // Playwright requires a destructuring pattern for a fixture's dependencies, even when there are none.
  // eslint-disable-next-line no-empty-pattern
  host: async ({}, use) => {
    const host = await launchHost();
    await use(host);
    await stopHost(host);
  },
});

export { expect, writeFileSync };
