import { readFileSync } from 'node:fs';
import { recommendedCatalog } from '../../electron/hub/recommended-models';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub';
import { testModelPath } from '../helpers/test-model';
import { expect, launchHost, screenshot, stopHost, test, uploadTestModel, watchConsole } from './fixtures';

const modelBytes = readFileSync(testModelPath());

/**
 * Every recommended repo on a fake hub on 127.0.0.1, each holding stories260K
 * under the file name of its quantization: which one the host offers depends
 * on this machine's free memory, and whichever it is must download for real.
 */
async function hubWithRecommendedModels(): Promise<FakeHub> {
  return startFakeHub(
    recommendedCatalog.map((entry, index) => ({
      id: entry.repo,
      author: entry.repo.split('/')[0]!,
      downloads: 1000 - index,
      likes: 10,
      lastModified: '2026-10-01T00:00:00.000Z',
      sha: `c0ffee${index.toString(16).padStart(2, '0')}`,
      files: [{ path: `${entry.repo.split('/')[1]!.replace(/-GGUF$/, '')}-${entry.quantization}.gguf`, data: modelBytes }],
    })),
  );
}

test('first run, empty library: Chat offers the model that fits, downloads it, and the chat begins once it is verified', async ({
  page,
}) => {
  const hub = await hubWithRecommendedModels();
  const host = await launchHost({ env: { HF_ENDPOINT: hub.url } });
  const problems = watchConsole(page);
  try {
    await page.goto(host.url);
    await page.getByRole('link', { name: 'Chat' }).click();

    // The message box is there at once; Send waits for a model, and says why.
    const composer = page.getByRole('textbox', { name: 'Message' });
    await expect(composer).toBeVisible();
    await expect(composer).toHaveAccessibleDescription(/Send is available once a model is in the library/);
    const card = page.getByRole('region', { name: 'Get a model that fits this machine' });
    await expect(card).toBeVisible();
    const download = card.getByRole('button', { name: /^Download / });
    await expect(download).toBeVisible();
    const offered = (await card.locator('.first-run-model').innerText()).trim();
    const entry = recommendedCatalog.find((e) => offered.includes(e.repo));
    expect(entry, `the card names a recommended repo: ${offered}`).toBeDefined();
    await expect(card).toContainText(entry!.quantization);
    await expect(card).toContainText(/Fits on your GPU|Runs from RAM/);
    await screenshot(page, 'first-run-chat');

    await composer.fill('Once upon a time');
    await expect(page.getByRole('button', { name: 'Send' })).toBeDisabled();
    await download.click();
    await expect(page.getByRole('heading', { name: / is ready$/ })).toBeVisible({ timeout: 30_000 });
    // The file came from the hub on 127.0.0.1 and was verified before it joined the library.
    expect(hub.requests.some((r) => r.url.startsWith(`/${entry!.repo}/resolve/`))).toBe(true);
    await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(/.+/);
    await expect(composer).toHaveValue('Once upon a time');
    await composer.press('Enter');
    const thread = page.getByRole('list', { name: 'Messages' });
    await expect(thread.getByRole('listitem', { name: 'You' })).toHaveText('Once upon a time');
    await expect(thread.getByRole('listitem', { name: 'Assistant' }).getByLabel('Reply statistics')).toBeVisible({ timeout: 30_000 });
    await expect(
      page.getByRole('complementary', { name: 'Conversations' }).getByRole('button', { name: 'Once upon a time' }),
    ).toBeVisible();
    await screenshot(page, 'first-run-chat-begins');
    expect(problems).toEqual([]);
  } finally {
    await stopHost(host);
    await hub.close();
  }
});

test('first run: the Models view shows the same card and leads to the chat', async ({ page }) => {
  const hub = await hubWithRecommendedModels();
  const host = await launchHost({ env: { HF_ENDPOINT: hub.url } });
  try {
    await page.goto(host.url);
    const card = page.getByRole('region', { name: 'Get a model that fits this machine' });
    await expect(card).toBeVisible();
    await screenshot(page, 'first-run-models');
    await card.getByRole('button', { name: /^Download / }).click();
    await expect(page.getByText(/is downloaded and verified/)).toBeVisible({ timeout: 30_000 });
    await expect(page.getByRole('list', { name: 'Models in your library' })).toBeVisible();
    await page.getByRole('button', { name: 'Start chatting' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Chat' })).toBeVisible();
    await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(/.+/);
    await expect(page.getByRole('textbox', { name: 'Message' })).toBeVisible();
  } finally {
    await stopHost(host);
    await hub.close();
  }
});

test('a model in the library and no conversation: type and send without pressing New', async ({ page, host }) => {
  await page.goto(host.url);
  await uploadTestModel(page, host);
  await page.getByRole('link', { name: 'Chat' }).click();
  const composer = page.getByRole('textbox', { name: 'Message' });
  await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(/.+/);
  await composer.fill('Lily went to the park');
  await composer.press('Enter');
  const thread = page.getByRole('list', { name: 'Messages' });
  await expect(thread.getByRole('listitem', { name: 'You' })).toHaveText('Lily went to the park');
  await expect(thread.getByRole('listitem', { name: 'Assistant' }).getByLabel('Reply statistics')).toBeVisible({ timeout: 30_000 });
  await expect(composer).toBeFocused();

  // New starts another with the same model, again without an empty conversation in the list.
  await page.getByRole('button', { name: 'New chat (Ctrl+N)' }).click();
  await expect(page.getByRole('heading', { name: 'New conversation' })).toBeVisible();
  const list = page.getByRole('complementary', { name: 'Conversations' }).getByRole('listitem');
  await expect(list).toHaveCount(1);
  await composer.fill('Tom had a ball');
  await composer.press('Enter');
  await expect(list).toHaveCount(2);
  await expect(thread.getByRole('listitem', { name: 'You' })).toHaveText('Tom had a ball');

  // "Chat" on a model in the library loads it and opens a new conversation with it.
  await page.getByRole('link', { name: 'Models' }).click();
  await page.getByRole('button', { name: /^Chat with / }).click();
  await expect(page.getByRole('heading', { name: 'New conversation' })).toBeVisible({ timeout: 20_000 });
  await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(/.+/);
  await expect(page).toHaveURL(/#\/chat$/);
});
