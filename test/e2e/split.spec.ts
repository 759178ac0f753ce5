import os from 'node:os';
import path from 'node:path';
import { expect, launchHost, pairingCodeOf, screenshot, stopHost, test, uploadTestModel } from './fixtures';

// The llama.cpp build `npm test` makes before the tests (scripts/test-engines.mjs), for both hosts.
const engines = {
  FREEHOLD_ENGINES_DIR: process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines'),
  FREEHOLD_IGNORE_PATH_ENGINES: '1',
};

test('split a model across this machine and a paired one: plan, load, chat with it, unload', async ({ page }) => {
  test.setTimeout(180_000);
  const tower = await launchHost({ env: engines, args: ['--share', '--share-host', '127.0.0.1', '--share-port', '0', '--name', 'tower'] });
  const laptop = await launchHost({ env: engines });
  try {
    const code = await pairingCodeOf(tower);
    await page.setViewportSize({ width: 1200, height: 1000 });
    await page.goto(laptop.url);
    await uploadTestModel(page, laptop);
    await page.getByRole('link', { name: 'Hardware' }).click();
    const machines = page.getByRole('region', { name: 'Machines', exact: true });
    await machines.getByRole('textbox', { name: 'Pairing code' }).fill(code);
    await machines.getByRole('button', { name: 'Add', exact: true }).click();
    await expect(machines.getByRole('listitem', { name: 'tower' }).getByText('Online', { exact: true })).toBeVisible({ timeout: 20_000 });

    // Engines: the build from the bundled source, and why.
    const enginesPanel = page.getByRole('region', { name: 'Engines' });
    await expect(enginesPanel).toContainText(/In use: Built here from llama\.cpp/);

    // The plan: this machine and tower, the layers adjustable.
    const split = page.getByRole('region', { name: 'Split a model across machines' });
    await split.scrollIntoViewIfNeeded();
    await split.getByRole('checkbox', { name: 'tower' }).check();
    await split.getByRole('button', { name: 'Plan', exact: true }).click();
    const towerLayers = split.getByRole('spinbutton', { name: 'Layers on tower' });
    await expect(towerLayers).toBeVisible({ timeout: 20_000 });
    const thisLayers = split.getByRole('spinbutton', { name: /^Layers on (?!tower)/ });
    const total = Number(await thisLayers.inputValue()) + Number(await towerLayers.inputValue());
    await towerLayers.fill(String(Math.floor(total / 2)));
    await thisLayers.fill(String(total - Math.floor(total / 2)));
    await expect(split.getByText(`${total - Math.floor(total / 2)} layers on`, { exact: false })).toBeVisible({ timeout: 10_000 });
    await screenshot(page, 'split-plan');

    await split.getByRole('button', { name: 'Load split' }).click();
    await expect(split.getByRole('status').filter({ hasText: /^Running:/ })).toBeVisible({ timeout: 60_000 });
    await split.scrollIntoViewIfNeeded();
    await screenshot(page, 'split-running');

    // Chat with it: the split is a machine in the picker; the reply streams with its stats.
    await split.getByRole('button', { name: 'Chat with it' }).click();
    await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(/^@split\//);
    await page.getByRole('textbox', { name: /Message/ }).fill('Once upon a time');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect(page.getByText(/tokens\/s/)).toBeVisible({ timeout: 60_000 });
    await screenshot(page, 'split-chat');

    // Unload: the split machine goes.
    await page.getByRole('link', { name: 'Hardware' }).click();
    await split.getByRole('button', { name: 'Unload' }).click();
    await expect(split.getByRole('status').filter({ hasText: 'The split model was unloaded.' })).toBeVisible({ timeout: 20_000 });
  } finally {
    await stopHost(laptop);
    await stopHost(tower);
  }
});
