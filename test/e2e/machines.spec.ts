import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { testModelPath } from '../helpers/test-model';
import { expect, launchHost, pairingCodeOf, screenshot, stopHost, test, uploadTestModel } from './fixtures';

/** Serious or critical WCAG 2.1 A/AA violations on the page as it is (as a11y.spec.ts audits every view), one line each. */
async function axeViolations(page: Page): Promise<string> {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)
    .join('\n');
}

test('another Freehold as a machine: pair with its code, see it online with its hardware, chat with its model, see it go offline', async ({
  page,
  context,
}) => {
  test.setTimeout(180_000);
  // The tower shares itself on loopback only (a test must not open a LAN port); the laptop has no model of its own.
  const tower = await launchHost({ args: ['--share', '--share-host', '127.0.0.1', '--share-port', '0', '--name', 'tower'] });
  const laptop = await launchHost();
  try {
    const code = await pairingCodeOf(tower);
    expect(code).toMatch(/^FH1-/);
    const towerPage = await context.newPage();
    await towerPage.setViewportSize({ width: 1200, height: 1000 });
    await towerPage.goto(tower.url);
    await uploadTestModel(towerPage, tower);

    // The laptop: Hardware → Machines → paste the code → Add.
    await page.setViewportSize({ width: 1200, height: 1000 });
    await page.goto(laptop.url);
    await page.getByRole('link', { name: 'Hardware' }).click();
    const machines = page.getByRole('region', { name: 'Machines', exact: true });
    await expect(machines.getByRole('switch', { name: 'Share this machine' })).not.toBeChecked();
    await machines.getByRole('textbox', { name: 'Pairing code' }).fill(code);
    await machines.getByRole('button', { name: 'Add', exact: true }).click();
    await expect(machines.getByRole('status').filter({ hasText: /^Added tower/ })).toBeVisible({ timeout: 20_000 });
    const item = machines.getByRole('listitem', { name: 'tower' });
    await expect(item.getByText('Online', { exact: true })).toBeVisible({ timeout: 20_000 });
    await expect(item).toContainText('Freehold');
    await expect(item).toContainText(/Address127\.0\.0\.1:\d+/);
    await expect(item).toContainText(/Backend(CUDA|Vulkan|Metal|CPU)/);
    await expect(item).toContainText(/Memory free nowRAM [\d.]+ GB free of [\d.]+ GB/);
    await expect(item).toContainText(/Models1/, { timeout: 20_000 });
    // #/hardware/machines opens the Hardware view at the Machines section.
    await page.evaluate(() => (window.location.hash = '#/hardware/machines'));
    await expect(machines).toBeInViewport();
    await screenshot(page, 'machines-panel');
    expect.soft(await axeViolations(page), 'axe on the Machines panel with a machine online').toBe('');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'machines-panel-dark');
    expect.soft(await axeViolations(page), 'axe on the Machines panel, dark theme').toBe('');
    await page.emulateMedia({ colorScheme: 'light' });

    // The tower lists the laptop as paired and connected; a code is single-use, so it shows a fresh one.
    await towerPage.getByRole('link', { name: 'Hardware' }).click();
    const sharing = towerPage.getByRole('region', { name: 'Machines', exact: true });
    await expect(sharing.getByRole('switch', { name: 'Share this machine' })).toBeChecked();
    const paired = sharing.getByRole('table', { name: 'Paired machines' });
    await expect(paired.getByRole('row')).toHaveCount(2, { timeout: 20_000 });
    await expect(paired.getByRole('row').nth(1)).toContainText('Connected');
    await expect(sharing.getByRole('textbox', { name: "This machine's pairing code" })).not.toHaveValue(code);
    await towerPage.evaluate(() => (window.location.hash = '#/hardware/machines'));
    await expect(sharing).toBeInViewport();
    await screenshot(towerPage, 'machines-sharing');
    expect.soft(await axeViolations(towerPage), 'axe on the Machines panel while sharing').toBe('');

    // The laptop's library: a section for the tower with its model.
    await page.getByRole('link', { name: 'Models' }).click();
    const onTower = page.getByRole('region', { name: /^On tower/ });
    const remoteRow = onTower.getByRole('listitem', { name: 'stories260K on tower' });
    await expect(remoteRow).toBeVisible();
    await expect(remoteRow).toContainText(/F32|Q\d/);
    await expect(remoteRow.getByText(/^(Fits on GPU|Fits in RAM, slower|Won't fit|fit unknown)$/)).toBeVisible();
    await screenshot(page, 'machines-library');
    expect.soft(await axeViolations(page), 'axe on the library with another machine').toBe('');

    // Import a file onto the tower from the laptop's library: sent in pieces, stored there as a copy, then listed by the tower.
    const towerModels = onTower.getByRole('list', { name: 'Models on tower' }).getByRole('listitem');
    await expect(towerModels).toHaveCount(1);
    await onTower.getByLabel('Import a .gguf file onto tower').setInputFiles(testModelPath());
    await expect(onTower.getByRole('status').filter({ hasText: / is now on tower$/ })).toBeVisible({ timeout: 30_000 });
    await expect(onTower.getByRole('alert')).toHaveCount(0);
    await expect(onTower.getByRole('progressbar')).toHaveCount(0);
    await expect(towerModels).toHaveCount(2, { timeout: 20_000 });
    await expect(onTower.getByRole('heading', { level: 2 })).toContainText('2 models');
    await onTower.scrollIntoViewIfNeeded();
    await screenshot(page, 'machines-import');
    expect.soft(await axeViolations(page), 'axe on the library after an import onto another machine').toBe('');

    // Chat: the tower's model in its own group of the picker; the reply streams from the tower, with its statistics.
    await page.getByRole('link', { name: 'Chat' }).click();
    const picker = page.getByRole('combobox', { name: 'Model' });
    const option = picker.locator('optgroup[label="tower"] option').first();
    await expect(option).toHaveText(/^stories260K on tower/);
    const ref = (await option.getAttribute('value'))!;
    expect(ref).toMatch(/^@[A-Za-z0-9_-]+\/.+/);
    await picker.selectOption(ref);
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('Once upon a time');
    await composer.press('Enter');
    const thread = page.getByRole('list', { name: 'Messages' });
    await expect(thread.getByRole('listitem', { name: 'You' })).toHaveText('Once upon a time');
    const reply = thread.getByRole('listitem', { name: 'Assistant' });
    await expect(reply.getByLabel('Reply statistics')).toContainText(/\d+ tokens · [\d.]+ tokens\/s · first token \d+ ms/, {
      timeout: 60_000,
    });
    await expect(reply.locator('.bubble')).not.toBeEmpty();
    await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(ref);
    await expect(page.getByText('Replies come from tower.')).toBeVisible();
    await screenshot(page, 'machines-chat');
    expect.soft(await axeViolations(page), 'axe on a chat with a remote model').toBe('');

    // The tower stops: the laptop says so in words, and when it tries again.
    await towerPage.close();
    await stopHost(tower, { keepData: true });
    await page.getByRole('link', { name: 'Hardware' }).click();
    await expect(item.getByText(/^Offline since .+ — retrying (in \d+ s|now)$/)).toBeVisible({ timeout: 30_000 });
    await page.evaluate(() => (window.location.hash = '#/hardware/machines'));
    await screenshot(page, 'machines-offline');
    expect.soft(await axeViolations(page), 'axe on the Machines panel with a machine offline').toBe('');

    // The conversation still names the tower's model, and says why replies cannot come now.
    await page.getByRole('link', { name: 'Chat' }).click();
    await expect(page.getByText(/^tower: Offline since .+ Replies fail until it answers again\.$/)).toBeVisible();
    await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(ref);
  } finally {
    await stopHost(laptop);
    await stopHost(tower);
  }
});

test('an OpenAI-compatible server as a machine: add it by URL and key, see its models, chat with one', async ({ page, context }) => {
  test.setTimeout(120_000);
  // Another Freehold's local API stands in for llama-server, vLLM, Ollama or LM Studio.
  const server = await launchHost();
  const laptop = await launchHost();
  try {
    const api = /OpenAI-compatible API: (\S+)\s+\(key: (\S+?);/.exec(server.output());
    expect(api, `the API line in:\n${server.output()}`).not.toBeNull();
    const [, url, key] = api!;
    const serverPage = await context.newPage();
    await serverPage.goto(server.url);
    await uploadTestModel(serverPage, server);
    await serverPage.close();

    await page.setViewportSize({ width: 1200, height: 1000 });
    await page.goto(laptop.url);
    await page.evaluate(() => (window.location.hash = '#/hardware/machines'));
    const machines = page.getByRole('region', { name: 'Machines', exact: true });
    const form = machines.getByRole('form', { name: 'Or an OpenAI-compatible server' });
    await form.getByRole('textbox', { name: 'Server URL' }).fill(url!);
    await expect(form.getByLabel('API key (optional)')).toHaveAttribute('type', 'password');
    await form.getByLabel('API key (optional)').fill('fh-not-the-key');
    await form.getByRole('textbox', { name: 'Name (optional)' }).fill('api box');
    await form.getByRole('button', { name: 'Add server' }).click();
    // A wrong key: the server refuses, and the panel says so in the server's words; nothing is added.
    await expect(machines.getByRole('alert')).toContainText(/^Could not add the server: .+(API key|401)/, { timeout: 20_000 });
    const item = machines.getByRole('listitem', { name: 'api box' });
    await expect(item).toHaveCount(0);

    await form.getByRole('textbox', { name: 'Server URL' }).fill(url!);
    await form.getByLabel('API key (optional)').fill(key!);
    await form.getByRole('textbox', { name: 'Name (optional)' }).fill('api box');
    await form.getByRole('button', { name: 'Add server' }).click();
    await expect(item.getByText('Online', { exact: true })).toBeVisible({ timeout: 20_000 });
    await expect(item).toContainText('OpenAI-compatible server');
    await expect(item).toContainText(/Models1/, { timeout: 20_000 });
    await expect(machines.getByRole('alert')).toHaveCount(0);
    await machines.getByRole('heading', { name: 'Add a machine' }).evaluate((heading) => heading.scrollIntoView());
    await screenshot(page, 'machines-openai');

    await page.getByRole('link', { name: 'Chat' }).click();
    const picker = page.getByRole('combobox', { name: 'Model' });
    const option = picker.locator('optgroup[label="api box"] option').first();
    await expect(option).toHaveText(/ on api box$/);
    await picker.selectOption((await option.getAttribute('value'))!);
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('Once upon a time');
    await composer.press('Enter');
    const reply = page.getByRole('list', { name: 'Messages' }).getByRole('listitem', { name: 'Assistant' });
    await expect(reply.getByLabel('Reply statistics')).toContainText(/\d+ tokens · [\d.]+ tokens\/s/, { timeout: 60_000 });
    await expect(page.getByText('Replies come from api box.')).toBeVisible();
  } finally {
    await stopHost(laptop);
    await stopHost(server);
  }
});
