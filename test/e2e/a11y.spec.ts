import { readFileSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { startFakeHub } from '../helpers/fake-hub';
import { testModelPath } from '../helpers/test-model';
import { expect, launchHost, screenshot, stopHost, test, uploadTestModel } from './fixtures';

/** WCAG 2.1 levels A and AA, as axe-core tags them. */
const wcagTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/**
 * Runs axe-core on the page as it is and fails on any serious or critical
 * violation, printing each with the elements it found it on.
 */
async function audit(page: Page, name: string): Promise<void> {
  const { violations } = await new AxeBuilder({ page }).withTags(wcagTags).analyze();
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = blocking
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help}\n  ${v.helpUrl}\n` +
        v.nodes.map((n) => `  - ${n.target.join(' ')}\n    ${n.failureSummary?.replace(/\n/g, '\n    ')}`).join('\n'),
    )
    .join('\n');
  if (report) console.log(`axe: ${name}\n${report}`);
  await screenshot(page, `a11y-${name}`);
  // Soft: one run lists what every view has, not only the first.
  expect.soft(report, `serious or critical WCAG 2.1 A/AA violations in ${name}`).toBe('');
}

test('every view passes an axe-core WCAG 2.1 A/AA audit in the light and the dark theme', async ({ page }) => {
  test.setTimeout(180_000);
  const modelBytes = readFileSync(testModelPath());
  const hub = await startFakeHub([
    {
      id: 'ggml-org/tiny-llamas',
      author: 'ggml-org',
      downloads: 1234,
      likes: 5,
      lastModified: '2026-01-01T00:00:00.000Z',
      sha: 'c0ffee12',
      files: [{ path: 'stories260K-Q8_0.gguf', data: modelBytes }],
    },
  ]);
  const host = await launchHost({ env: { HF_ENDPOINT: hub.url } });
  try {
    // Tall enough that the screenshots show most of each view (axe audits the whole page either way).
    await page.setViewportSize({ width: 1200, height: 1400 });
    await page.goto(host.url);
    const nav = page.getByRole('navigation', { name: 'Main' });
    const theme = page.getByRole('combobox', { name: 'Theme' });

    // An empty library first: the first-run card in Models and Chat.
    await expect(page.getByRole('region', { name: 'Get a model that fits this machine' })).toBeVisible();
    for (const scheme of ['light', 'dark'] as const) {
      await theme.selectOption(scheme);
      await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);
      await nav.getByRole('link', { name: 'Models' }).click();
      await expect(page.getByRole('region', { name: 'Get a model that fits this machine' })).toBeVisible();
      await audit(page, `models-first-run-${scheme}`);
      await nav.getByRole('link', { name: 'Chat' }).click();
      await expect(page.getByRole('textbox', { name: 'Message' })).toHaveAccessibleDescription(/Send is available once a model/);
      await audit(page, `chat-first-run-${scheme}`);
    }

    // A model, a conversation with messages, the hub searched.
    await uploadTestModel(page, host);
    await nav.getByRole('link', { name: 'Chat' }).click();
    await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(/.+/);
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('Once upon a time');
    await composer.press('Enter');
    const thread = page.getByRole('list', { name: 'Messages' });
    await expect(thread.getByRole('listitem', { name: 'Assistant' }).getByLabel('Reply statistics')).toBeVisible({ timeout: 30_000 });
    await thread.getByRole('listitem', { name: 'Assistant' }).getByRole('button', { name: 'Regenerate' }).click();
    await expect(thread.getByLabel('Versions')).toContainText('2/2', { timeout: 30_000 });
    await expect(thread.getByRole('listitem', { name: 'Assistant' }).getByLabel('Reply statistics')).toBeVisible({ timeout: 30_000 });

    for (const scheme of ['light', 'dark'] as const) {
      await theme.selectOption(scheme);
      await expect(page.locator('html')).toHaveAttribute('data-theme', scheme);

      await nav.getByRole('link', { name: 'Models' }).click();
      await expect(page.getByRole('list', { name: 'Models in your library' })).toBeVisible();
      await audit(page, `models-library-${scheme}`);
      await page.getByRole('tab', { name: 'Discover' }).click();
      await expect(page.getByRole('list', { name: 'Recommended models' })).toBeVisible();
      await audit(page, `models-discover-${scheme}`);
      await page.getByRole('searchbox', { name: 'Search' }).fill('tiny');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.getByRole('button', { name: 'ggml-org/tiny-llamas' }).click();
      await expect(page.getByRole('table', { name: 'Files by quantization' }).getByRole('row')).toHaveCount(2, { timeout: 20_000 });
      await audit(page, `models-repo-${scheme}`);
      await page.getByRole('tab', { name: 'Downloads' }).click();
      await expect(page.getByRole('tabpanel')).toContainText(/No downloads yet|Download of/);
      await audit(page, `models-downloads-${scheme}`);
      await page.getByRole('tab', { name: 'Folders & token' }).click();
      await expect(page.getByRole('heading', { name: 'Model folders' })).toBeVisible();
      await audit(page, `models-folders-${scheme}`);
      await page.getByRole('tab', { name: 'Library' }).click();

      await nav.getByRole('link', { name: 'Chat' }).click();
      await expect(thread.getByRole('listitem', { name: 'Assistant' }).getByLabel('Reply statistics')).toBeVisible();
      // The folded parts too: the settings form and the system prompt.
      for (const summary of ['Settings', 'System prompt (none)']) {
        const label = page.locator('summary').getByText(summary, { exact: true });
        const details = page.locator('details', { has: label });
        if ((await details.getAttribute('open')) === null) await label.click();
      }
      await expect(page.getByRole('textbox', { name: 'Temperature' })).toBeVisible();
      await audit(page, `chat-${scheme}`);

      await nav.getByRole('link', { name: 'Hardware' }).click();
      await expect(page.getByText(/Running on CPU/)).toBeVisible({ timeout: 20_000 });
      await expect(page.getByRole('region', { name: 'Live' }).getByText(/of memory$/)).toBeVisible({ timeout: 20_000 });
      const api = page.getByRole('region', { name: 'Local API server' });
      await expect(api.getByRole('group', { name: 'API connection' })).toBeVisible();
      await audit(page, `hardware-${scheme}`);

      await nav.getByRole('link', { name: 'Settings' }).click();
      await expect(page.getByRole('form', { name: 'Add a server' })).toBeVisible();
      await audit(page, `settings-${scheme}`);

      // A failure nothing handled is reported in the Problems region, which passes the audit too.
      await page.evaluate(() => {
        void Promise.reject(new Error('A test failure that nothing handled.'));
      });
      const problems = page.getByRole('region', { name: 'Problems' });
      await expect(problems.getByRole('alert')).toHaveText(/Something failed without being handled: A test failure that nothing handled\./);
      await audit(page, `problems-${scheme}`);
      await problems.getByRole('button', { name: 'Dismiss' }).click();
      await expect(problems).toHaveCount(0);
    }
  } finally {
    await stopHost(host);
    await hub.close();
  }
});
