import path from 'node:path';
import { expect, launchHost, screenshot, stopHost, test, watchConsole, writeFileSync } from './fixtures';

test.describe('headless host in Chromium', () => {
  test('opens from the printed link, hides the secret and shows each view in both themes', async ({ page, host }) => {
    const problems = watchConsole(page);
    await page.goto(host.url);
    await expect(page.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
    await expect(page.getByRole('status', { name: 'Connection' })).toHaveText('Connected to host');
    expect(page.url()).not.toContain('token=');

    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const view of ['Models', 'Chat', 'Hardware']) {
        await nav.getByRole('link', { name: view }).click();
        await expect(page.getByRole('heading', { level: 1, name: view })).toBeVisible();
        await expect(nav.getByRole('link', { name: view })).toHaveAttribute('aria-current', 'page');
        if (view === 'Hardware') {
          await expect(page.getByText('Logical cores', { exact: true })).toBeVisible();
          // The real worker process detected the hardware and says what it runs on.
          // Whatever it detected (the CPU here, CUDA or Vulkan on a GPU machine), the panel and the status bar agree.
          const running = page.getByText(/Running on (CUDA|Vulkan|Metal|CPU) \(chosen automatically\)/);
          await expect(running).toBeVisible({ timeout: 20_000 });
          const backend = /Running on (\w+)/.exec((await running.innerText()) ?? '')![1]!;
          await expect(page.getByRole('status', { name: 'Inference backend' })).toContainText(`on ${backend}`);
        }
        await screenshot(page, `${view.toLowerCase()}-${scheme}`);
      }
    }
    // The dark theme really is dark.
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(background).toBe('rgb(23, 24, 26)');
    expect(problems).toEqual([]);
  });

  test('every control has an accessible name', async ({ page, host }) => {
    await page.goto(host.url);
    await expect(page.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll('button, a[href], select, input, textarea, [role="button"]')]
        .filter((el) => {
          const label = el.getAttribute('aria-label') ?? '';
          const labelledBy = el.getAttribute('aria-labelledby');
          const viaLabel = (el as HTMLInputElement).labels?.length ?? 0;
          return !label.trim() && !labelledBy && viaLabel === 0 && !(el.textContent ?? '').trim();
        })
        .map((el) => el.outerHTML),
    );
    expect(unnamed).toEqual([]);
  });

  test('keeps the connection across a reload and keeps the chosen theme across a restart of the host', async ({ page }) => {
    let host = await launchHost();
    try {
      await page.goto(host.url);
      await page.getByRole('combobox', { name: 'Theme' }).selectOption('dark');
      await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
      await page.reload();
      await expect(page.getByRole('status', { name: 'Connection' })).toHaveText('Connected to host');
      await expect(page.getByRole('combobox', { name: 'Theme' })).toHaveValue('dark');

      // Stop the host: the UI says so instead of failing silently.
      await stopHost(host, { keepData: true });
      await expect(page.getByRole('status', { name: 'Connection' })).toContainText('Connection lost');

      // Start it again on the same data: the setting survived.
      host = await launchHost({ dataDir: host.dataDir });
      await page.goto(host.url);
      await expect(page.getByRole('combobox', { name: 'Theme' })).toHaveValue('dark');
      await screenshot(page, 'theme-dark-after-restart');
    } finally {
      await stopHost(host);
    }
  });

  test('refuses a browser without the secret and tells the user what to do', async ({ page, host }) => {
    const url = new URL(host.url);
    await page.goto(`${url.origin}/`);
    await expect(page.getByRole('status', { name: 'Connection' })).toContainText('open the link printed by "npm run serve"');
    await page.goto(`${url.origin}/?token=wrong`);
    await expect(page.getByRole('status', { name: 'Connection' })).toContainText('Connection lost');
  });

  test('reports a corrupt settings file in the UI and starts with defaults', async ({ page }) => {
    const host = await launchHost({ prepare: (dir) => writeFileSync(path.join(dir, 'settings.json'), '{"version":1,"appear') });
    try {
      await page.goto(host.url);
      await expect(page.getByRole('status').filter({ hasText: 'Settings file was unreadable' })).toBeVisible();
      await screenshot(page, 'notice-corrupt-settings');
      await page.getByRole('button', { name: 'Dismiss notice' }).click();
      await expect(page.getByText('Settings file was unreadable')).toHaveCount(0);
    } finally {
      await stopHost(host);
    }
  });
});
