import { readFileSync } from 'node:fs';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub';
import { testModelPath } from '../helpers/test-model';
import { expect, launchHost, screenshot, stopHost, test, type HostFixture } from './fixtures';
import type { Page } from '@playwright/test';

const modelBytes = readFileSync(testModelPath());

let hub: FakeHub;
let host: HostFixture;

test.beforeEach(async () => {
  hub = await startFakeHub([
    {
      id: 'ggml-org/tiny-llamas',
      author: 'ggml-org',
      downloads: 1234,
      likes: 5,
      lastModified: '2026-01-01T00:00:00.000Z',
      sha: 'c0ffee12',
      files: [
        { path: 'stories260K-Q8_0.gguf', data: modelBytes },
        { path: 'stories260K-F32.gguf', data: Buffer.concat([modelBytes, Buffer.alloc(64)]) },
      ],
    },
    {
      id: 'someone/other-gguf',
      author: 'someone',
      downloads: 20,
      likes: 1,
      lastModified: '2026-02-01T00:00:00.000Z',
      sha: 'abc',
      files: [{ path: 'o-Q4_K_M.gguf', data: modelBytes }],
    },
  ]);
  host = await launchHost({ env: { HF_ENDPOINT: hub.url } });
});

test.afterEach(async () => {
  await stopHost(host);
  await hub.close();
});

/** Drops files on the page as a user dragging them from the file manager would. */
async function dropFiles(page: Page, files: Array<{ name: string; base64: string }>) {
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name));
    }
    return dt;
  }, files);
  const zone = page.locator('.models-view');
  await zone.dispatchEvent('dragover', { dataTransfer });
  await zone.dispatchEvent('drop', { dataTransfer });
}

test('search the hub, see the fit for this machine, download, and find the model in the library', async ({ page }) => {
  await page.goto(host.url);
  await page.getByRole('tab', { name: 'Discover' }).click();
  await expect(page.getByRole('list', { name: 'Recommended models' })).toBeVisible();
  await screenshot(page, 'models-discover');
  await page.getByRole('searchbox', { name: 'Search' }).fill('tiny');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByRole('button', { name: 'ggml-org/tiny-llamas' }).click();
  const table = page.getByRole('table', { name: 'Files by quantization' });
  await expect(table.getByRole('row')).toHaveCount(3, { timeout: 20_000 });
  await expect(table.getByText('Fits in RAM, slower').first()).toBeVisible();
  await expect(table.getByText('recommended')).toHaveCount(1);
  await screenshot(page, 'models-repo');
  await table.getByRole('button', { name: 'Download Q8_0' }).click();
  await expect(table.getByText('queued — see Downloads')).toBeVisible();

  await page.getByRole('tab', { name: 'Downloads' }).click();
  await expect(page.getByText('Done, verified')).toBeVisible({ timeout: 20_000 });
  await expect(page.getByRole('progressbar', { name: /Download of ggml-org\/tiny-llamas Q8_0/ })).toHaveAttribute('aria-valuenow', '100');

  await page.getByRole('tab', { name: 'Library' }).click();
  const row = page.getByRole('listitem', { name: 'stories260K-Q8_0' });
  await expect(row).toBeVisible();
  await expect(row).toContainText('Downloaded');
  await expect(row).toContainText('ggml-org/tiny-llamas @ c0ffee1');
  await screenshot(page, 'models-library');
});

test('drop a good model in, then a bad one, and read the error', async ({ page }) => {
  await page.goto(host.url);
  await expect(page.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
  await dropFiles(page, [{ name: 'my-stories.gguf', base64: modelBytes.toString('base64') }]);
  await expect(page.getByRole('list', { name: 'Import results' })).toContainText('Imported my-stories');
  await expect(page.getByRole('listitem', { name: 'my-stories' })).toContainText('Copied in');

  await dropFiles(page, [
    { name: 'broken.gguf', base64: Buffer.from('GGUF\u0003\u0000\u0000\u0000 this is not a model at all, just text').toString('base64') },
  ]);
  await expect(page.getByRole('alert').filter({ hasText: 'broken.gguf' })).toHaveText(/^broken\.gguf: Not a usable GGUF model: /);
  await screenshot(page, 'models-drop-error');
  await expect(page.getByRole('listitem', { name: /broken/ })).toHaveCount(0);
});
