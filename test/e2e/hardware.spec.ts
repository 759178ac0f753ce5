import { expect, screenshot, test } from './fixtures';

test('the hardware panel shows this machine, live readings and the engine settings', async ({ page, host }) => {
  await page.setViewportSize({ width: 1200, height: 2000 });
  await page.goto(host.url);
  await page.getByRole('link', { name: 'Hardware' }).click();
  await expect(page.getByText(/Running on CPU/)).toBeVisible({ timeout: 20_000 });
  const live = page.getByRole('region', { name: 'Live' });
  await expect(live.getByText(/of memory$/)).toBeVisible({ timeout: 20_000 });
  await expect(live.getByRole('img', { name: 'RAM in use, last minutes' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Engine settings' }).getByRole('combobox', { name: 'Backend' })).toHaveValue('auto');
  await screenshot(page, 'hardware-panel');
});
