import { expect, screenshot, test } from './fixtures';

test('the hardware panel shows this machine, live readings and the engine settings', async ({ page, host }) => {
  await page.setViewportSize({ width: 1200, height: 2000 });
  await page.goto(host.url);
  await page.getByRole('link', { name: 'Hardware' }).click();
  await expect(page.getByText(/Running on (CUDA|Vulkan|Metal|CPU)/)).toBeVisible({ timeout: 20_000 });
  const live = page.getByRole('region', { name: 'Live' });
  await expect(live.getByText(/of memory$/)).toBeVisible({ timeout: 20_000 });
  await expect(live.getByRole('img', { name: 'RAM in use, last minutes' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Engine settings' }).getByRole('combobox', { name: 'Backend' })).toHaveValue('auto');
  await screenshot(page, 'hardware-panel');
});

test('the API panel shows the running API with its URL and key, and they work', async ({ page, host }) => {
  await page.goto(host.url);
  await page.getByRole('link', { name: 'Hardware' }).click();
  const panel = page.getByRole('region', { name: 'Local API server' });
  await panel.scrollIntoViewIfNeeded();
  await expect(panel.getByText(/Running \(this computer only\)\. Set by the command line/)).toBeVisible();
  const toggle = panel.getByRole('switch', { name: 'Serve the OpenAI-compatible API' });
  await expect(toggle).toBeChecked();
  await expect(toggle).toBeDisabled();
  const url = (await panel.getByRole('group', { name: 'API connection' }).locator('code').first().textContent())!;
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  await panel.getByRole('button', { name: 'Show' }).click();
  const key = (await panel.getByLabel('API key', { exact: true }).textContent())!;
  expect(key).toMatch(/^fh-/);
  await screenshot(page, 'api-server-panel');
  // What the panel shows is what a client needs.
  const response = await fetch(`${url}/models`, { headers: { Authorization: `Bearer ${key}` } });
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ object: 'list' });
  // The UI page itself (another origin) may not call it.
  const fromPage = await page.evaluate(async (target) => {
    try {
      const r = await fetch(`${target}/models`);
      return `status ${r.status}`;
    } catch (error) {
      return `blocked: ${(error as Error).message}`;
    }
  }, url);
  expect(fromPage).toMatch(/^blocked/);
});
