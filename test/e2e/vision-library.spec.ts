import { readFileSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub';
import { testModelPath } from '../helpers/test-model';
import { TINY_VISION, tinyProjectorGguf } from '../helpers/vision-model';
import { expect, launchHost, screenshot, stopHost, test, type HostFixture } from './fixtures';

const modelBytes = readFileSync(testModelPath());
const projector = tinyProjectorGguf();

let hub: FakeHub;
let host: HostFixture;

test.beforeEach(async () => {
  hub = await startFakeHub([
    {
      id: 'ggml-org/tiny-vision',
      author: 'ggml-org',
      downloads: 700,
      likes: 7,
      lastModified: '2026-11-01T00:00:00.000Z',
      sha: 'feed0123',
      files: [
        { path: 'stories260K-vision-Q8_0.gguf', data: modelBytes },
        { path: 'mmproj-stories260K-F16.gguf', data: projector },
        { path: 'mmproj-stories260K-Q8_0.gguf', data: tinyProjectorGguf({ ...TINY_VISION, feedForward: 32, seed: 7 }) },
      ],
    },
  ]);
  host = await launchHost({ env: { HF_ENDPOINT: hub.url } });
});

test.afterEach(async () => {
  await stopHost(host);
  await hub.close();
});

/** No serious or critical WCAG 2.1 A/AA violations where the vision parts are shown. */
async function noSeriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id)).toEqual([]);
}

test('a repo that sees: badge, projector in the size, downloaded with the model, and the library says it sees', async ({ page }) => {
  await page.goto(host.url);
  await page.getByRole('tab', { name: 'Discover' }).click();
  await page.getByRole('searchbox', { name: 'Search' }).fill('tiny');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(page.getByRole('list', { name: 'Search results' }).getByText('Sees images')).toBeVisible();
  await page.getByRole('button', { name: 'ggml-org/tiny-vision' }).click();
  const projectors = page.getByRole('region', { name: /Projectors/ });
  await expect(projectors.getByText('Sees images')).toBeVisible({ timeout: 20_000 });
  await expect(projectors.getByText(/^Downloaded with F16 projector mmproj-stories260K-F16\.gguf/)).toBeVisible();
  const table = page.getByRole('table', { name: 'Files by quantization' });
  await expect(table.getByText(/^model .* \+ projector /)).toBeVisible();
  await noSeriousViolations(page);
  await screenshot(page, 'vision-repo');
  await table.getByRole('button', { name: 'Download Q8_0' }).click();
  await expect(table.getByText('queued with its projector — see Downloads')).toBeVisible();

  await page.getByRole('tab', { name: 'Downloads' }).click();
  await expect(page.getByText('Done, verified')).toBeVisible({ timeout: 20_000 });
  await expect(page.getByText('Its F16 projector mmproj-stories260K-F16.gguf is attached: it sees images.')).toBeVisible();

  await page.getByRole('tab', { name: 'Library' }).click();
  const row = page.getByRole('listitem', { name: 'stories260K-vision-Q8_0' });
  await expect(row.getByText('Sees images')).toBeVisible();
  await expect(row.getByText(/^Projector: .*mmproj\.gguf$/)).toBeVisible();
  await noSeriousViolations(page);
  await screenshot(page, 'vision-library');
});

test('dropping a model and its projector at once attaches the projector', async ({ page }) => {
  await page.goto(host.url);
  await expect(page.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
  const files = [
    // The projector first: the page sends the model before it.
    { name: 'mmproj-my-stories-F16.gguf', base64: projector.toString('base64') },
    { name: 'my-stories.gguf', base64: modelBytes.toString('base64') },
  ];
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name));
    return dt;
  }, files);
  const zone = page.locator('.models-view');
  await zone.dispatchEvent('dragover', { dataTransfer });
  await zone.dispatchEvent('drop', { dataTransfer });
  const results = page.getByRole('list', { name: 'Import results' });
  await expect(results).toContainText('Imported my-stories');
  await expect(results).toContainText('mmproj-my-stories-F16.gguf: attached to my-stories, which now sees images');
  const row = page.getByRole('listitem', { name: 'my-stories' });
  await expect(row.getByText('Sees images')).toBeVisible();
  // The projector is no model of its own.
  await expect(page.getByRole('list', { name: 'Models in your library' }).getByRole('listitem')).toHaveCount(1);
});
