/**
 * Images in chat, in the browser against `npm run serve`: the tiny vision
 * model (stories260K with a random projector) and a text-only model in the
 * library; a PNG dropped on the message box, one pasted, each refusal (a
 * text-only model, an oversized image, a file that is no image, a damaged
 * one) shown beside the message, and the app answering after each.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Locator, Page } from '@playwright/test';
import { createHostClient } from '../../shared/rpc/client';
import { setString, writeEditedGguf } from '../helpers/gguf-edit';
import { openSocket } from '../helpers/ws-client';
import { TINY_VISION, pngImage, tinyVisionModel } from '../helpers/vision-model';
import { expect, launchHost, screenshot, stopHost, test, watchConsole, type HostFixture } from './fixtures';

// The llama.cpp build `npm test` makes before the tests (scripts/test-engines.mjs): the vision model runs on its llama-server.
const engines = {
  FREEHOLD_ENGINES_DIR: process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines'),
  FREEHOLD_IGNORE_PATH_ENGINES: '1',
};

const side = TINY_VISION.imageSize;
const gradient = pngImage(side, side, (x, y) => [x * 8, 255 - y * 8, 128]);
const checks = pngImage(side, side, (x, y) => (((x >> 3) + (y >> 3)) % 2 ? [240, 200, 40] : [30, 60, 160]));

let host: HostFixture;
let models: string;

test.beforeEach(async () => {
  const vision = await tinyVisionModel();
  models = mkdtempSync(path.join(os.tmpdir(), 'freehold-e2e-models-'));
  const model = path.join(models, 'tiny-vision.gguf');
  const mmproj = path.join(models, 'mmproj-tiny-vision-F32.gguf');
  const plain = path.join(models, 'plain-stories.gguf');
  writeEditedGguf(vision.model, model, (gguf) => setString(gguf, 'general.name', 'Tiny Vision'));
  copyFileSync(vision.mmproj, mmproj);
  writeEditedGguf(vision.model, plain, (gguf) => setString(gguf, 'general.name', 'Plain Stories'));
  host = await launchHost({ env: engines });
  // Both models in the library as `freehold models import` puts them there (the projector attached to its model).
  const url = new URL(host.url);
  const { transport } = await openSocket(`ws://${url.host}/rpc?token=${encodeURIComponent(url.searchParams.get('token')!)}`);
  const client = createHostClient(transport);
  try {
    const results = await client.api['models.import']({ paths: [model, mmproj, plain], mode: 'reference' });
    expect(results.every((r) => r.ok)).toBe(true);
  } finally {
    client.close();
  }
});

test.afterEach(async () => {
  await stopHost(host);
  rmSync(models, { recursive: true, force: true });
});

/** A file as the page would get it from a drop or the clipboard. */
async function dataTransfer(page: Page, files: Array<{ name: string; type: string; bytes: Buffer }>) {
  return page.evaluateHandle(
    (list) => {
      const transfer = new DataTransfer();
      for (const f of list) {
        const bytes = Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], f.name, { type: f.type }));
      }
      return transfer;
    },
    files.map((f) => ({ name: f.name, type: f.type, base64: f.bytes.toString('base64') })),
  );
}

async function newChat(page: Page, model: string) {
  await page.getByRole('button', { name: 'New chat (Ctrl+N)' }).click();
  await page.getByRole('combobox', { name: 'Model' }).selectOption({ label: model });
}

/** The reply to the (last) message of yours with this text: the row after it (the thread is virtualized: only rows in view exist). */
function replyTo(page: Page, text: string): Locator {
  return page
    .getByRole('list', { name: 'Messages' })
    .locator('li.message-user', { hasText: text })
    .last()
    .locator('xpath=following-sibling::li[1]');
}

/** Sends a plain message and waits for its reply's statistics: the app still answers. */
async function stillAnswers(page: Page, text: string) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await expect(replyTo(page, text).getByLabel('Reply statistics')).toBeVisible({ timeout: 60_000 });
}

/** No serious or critical WCAG 2.1 A/AA violations in what is shown. */
async function noSeriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes[0]?.html}`)).toEqual(
    [],
  );
}

async function refused(composer: Locator, text: string | RegExp) {
  await expect(composer.getByRole('alert')).toHaveText(text, { timeout: 30_000 });
}

test('images in chat: drop, paste, thumbnails opened full size; each refusal said beside the message, and the app answers after', async ({
  page,
}) => {
  test.setTimeout(240_000);
  const problems = watchConsole(page);
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto(host.url);
  await page.getByRole('link', { name: 'Chat' }).click();
  await newChat(page, 'Tiny Vision');
  const box = page.getByRole('textbox', { name: 'Message' });
  const composer = page.locator('.composer-wrap');
  await expect(page.getByRole('button', { name: 'Attach image' })).toHaveAttribute('title', /^Tiny Vision sees images/);

  // A PNG dropped on the message box: its thumbnail, then sent with the text; the reply comes.
  await box.dispatchEvent('drop', {
    dataTransfer: await dataTransfer(page, [{ name: 'gradient.png', type: 'image/png', bytes: gradient }]),
  });
  const previews = page.getByRole('list', { name: 'Attached files' });
  await expect(previews.getByRole('img', { name: 'gradient.png' })).toBeVisible();
  await expect(page.getByText('attached: about 16 tokens')).toBeVisible();
  await box.fill('Look at this picture:');
  await box.press('Enter');
  const thread = page.getByRole('list', { name: 'Messages' });
  const thumbnail = thread.getByRole('button', { name: 'Open gradient.png full size' });
  await expect(thumbnail.getByRole('img', { name: 'gradient.png' })).toBeVisible({ timeout: 30_000 });
  await expect(replyTo(page, 'Look at this picture:').getByLabel('Reply statistics')).toBeVisible({ timeout: 60_000 });
  // Short replies from here on: the thread stays well inside the tiny model's 2,048-token context.
  await page.locator('summary').getByText('Settings', { exact: true }).click();
  await page.getByRole('textbox', { name: 'Max reply tokens' }).fill('24');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('summary').getByText('Settings', { exact: true }).click();
  await expect(page.getByText('images: 16 tokens')).toBeVisible();
  await expect(previews).toHaveCount(0);
  await noSeriousViolations(page);
  await screenshot(page, 'chat-image-thread');

  // Full size in a dialog; Escape closes it.
  await thumbnail.click();
  const dialog = page.getByRole('dialog', { name: 'gradient.png' });
  await expect(dialog.getByRole('img', { name: 'gradient.png' })).toBeVisible();
  await noSeriousViolations(page);
  await screenshot(page, 'chat-image-full-size');
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();

  // A pasted image goes the same way.
  const clipboard = await dataTransfer(page, [{ name: 'image.png', type: 'image/png', bytes: checks }]);
  await box.evaluate((element, clipboardData) => {
    element.dispatchEvent(new ClipboardEvent('paste', { clipboardData, bubbles: true, cancelable: true }));
  }, clipboard);
  await expect(previews.getByRole('img', { name: 'image.png' })).toBeVisible();
  await box.fill('And this one?');
  await box.press('Enter');
  await expect(thread.getByRole('button', { name: 'Open image.png full size' })).toBeVisible({ timeout: 30_000 });
  await expect(replyTo(page, 'And this one?').getByLabel('Reply statistics')).toBeVisible({ timeout: 60_000 });

  // Refused by the host, each with its reason; the message and its file stay to be changed.
  const picker = page.locator('input[type=file][aria-label="Image or audio files to attach"]');
  const cases: Array<{ name: string; type: string; bytes: Buffer; message: RegExp }> = [
    {
      name: 'huge.png',
      type: 'image/png',
      bytes: Buffer.concat([gradient.subarray(0, 8), Buffer.alloc(12 * 1024 * 1024)]),
      message: /^huge\.png is 12\.0 MiB; the most Freehold sends is 10\.0 MiB per image$/,
    },
    {
      name: 'notes.txt',
      type: 'text/plain',
      bytes: Buffer.from('Just some notes, not a picture.\n'),
      message: /^notes\.txt is not an image or audio file Freehold can send to a model: use PNG, JPEG, WebP or GIF/,
    },
    {
      name: 'cut.png',
      type: 'image/png',
      bytes: gradient.subarray(0, gradient.length - 30),
      message: /^cut\.png is a damaged PNG image and cannot be read/,
    },
  ];
  for (const c of cases) {
    await picker.setInputFiles({ name: c.name, mimeType: c.type, buffer: c.bytes });
    await expect(previews.getByRole('listitem', { name: c.name })).toBeVisible();
    await box.fill(`Here is ${c.name}`);
    await box.press('Enter');
    await refused(composer, c.message);
    await expect(box).toHaveValue(`Here is ${c.name}`);
    // Nothing was sent: the last message is still the one before.
    await expect(thread.locator('li.message-user', { hasText: `Here is ${c.name}` })).toHaveCount(0);
    await previews.getByRole('button', { name: `Remove ${c.name}` }).click();
    await stillAnswers(page, `Tell me a story about ${c.name}`);
  }

  // A text-only model: the button says so; an image is refused, naming the model that sees; nothing is stored.
  await newChat(page, 'Plain Stories');
  await expect(page.getByRole('button', { name: 'Attach image' })).toHaveAttribute(
    'title',
    'Plain Stories takes text only: a message with an image is not sent; models in your library that see: Tiny Vision.',
  );
  await picker.setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: gradient });
  await box.fill('What is in this picture?');
  await box.press('Enter');
  await refused(composer, 'Plain Stories cannot see images; nothing was sent. Models in your library that can: Tiny Vision.');
  await expect(previews.getByRole('img', { name: 'gradient.png' })).toBeVisible();
  // No conversation was left behind by the refused first message.
  const conversations = page.getByRole('complementary', { name: 'Conversations' }).getByRole('listitem');
  await expect(conversations).toHaveCount(1);
  await expect(page.getByText('No such conversation')).toHaveCount(0);
  await noSeriousViolations(page);
  await screenshot(page, 'chat-image-refusal');
  await previews.getByRole('button', { name: 'Remove gradient.png' }).click();
  await stillAnswers(page, 'Once upon a time');
  // The refused message left nothing behind: this conversation holds only the message sent after it.
  await expect(thread.getByRole('listitem', { name: 'You' })).toHaveCount(1);
  await expect(thread.getByRole('listitem', { name: 'You' })).toContainText('Once upon a time');
  await expect(thread.getByRole('list', { name: 'Attachments' })).toHaveCount(0);
  expect(problems).toEqual([]);
});
