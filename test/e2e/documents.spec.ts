import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { makePdf } from '../helpers/doc-fixtures';
import { EMBEDDING_TEST_DIMS, ensureEmbeddingModel } from '../helpers/embedding-model';
import { SCRIPT, scriptedModel } from '../helpers/scripted-models';
import { expect, launchHost, screenshot, stopHost, test, watchConsole, type HostFixture } from './fixtures';

/** Puts a model file in the host's library as a browser drop does. */
async function upload(page: Page, host: HostFixture, file: string, name: string): Promise<void> {
  const origin = new URL(host.url).origin;
  const response = await page.request.post(`${origin}/api/upload?name=${encodeURIComponent(name)}`, {
    data: readFileSync(file),
    headers: { 'X-Freehold-Token': new URL(host.url).searchParams.get('token')!, Origin: origin },
    timeout: 60_000,
  });
  expect(response.ok()).toBe(true);
}

/** No serious or critical WCAG 2.1 A/AA violations in what is shown. */
async function noSeriousViolations(page: Page) {
  const { violations } = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.nodes[0]?.html}`)).toEqual(
    [],
  );
}

/** A DataTransfer holding these files, to drop. */
function dataTransfer(page: Page, files: Array<{ name: string; type: string; text: string }>) {
  return page.evaluateHandle((list) => {
    const transfer = new DataTransfer();
    for (const f of list) transfer.items.add(new File([f.text], f.name, { type: f.type }));
    return transfer;
  }, files);
}

test('documents in chat: attach a PDF to a new chat, see it read, the reply cites it, [1] opens the passage; Settings → Documents', async ({
  page,
}) => {
  test.setTimeout(180_000);
  const problems = watchConsole(page);
  const citeModel = await scriptedModel('qwen3', 'cite');
  const host = await launchHost();
  const folder = mkdtempSync(path.join(os.tmpdir(), 'freehold-e2e-notes-'));
  writeFileSync(path.join(folder, 'dolphins.md'), '# Dolphins\n\nDolphins eat fish and squid.\n');
  try {
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.goto(host.url);
    await upload(page, host, citeModel, 'qwen3-cite-scripted.gguf');
    const nav = page.getByRole('navigation', { name: 'Main' });

    // A new chat on the scripted model: the PDF attached by the button's file chooser creates the conversation.
    await nav.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'New chat (Ctrl+N)' }).click();
    await page.getByRole('combobox', { name: 'Model' }).selectOption({ label: 'Qwen3 scripted test model (cite)' });
    const chooser = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: 'Attach documents' }).click();
    await (
      await chooser
    ).setFiles({ name: 'whales.pdf', mimeType: 'application/pdf', buffer: makePdf({ pages: [['Blue whales eat krill.']] }) });
    const docs = page.getByRole('list', { name: 'Documents in this chat' });
    const pdf = docs.getByRole('listitem', { name: 'whales.pdf' });
    await expect(pdf.getByRole('status')).toHaveText(/\bchunks?$/, { timeout: 30_000 });

    // A document dropped on the thread is attached too (this one over 512 KiB: sent in pieces); Remove takes it away.
    const longNotes = `# Notes\n\n${'Seals eat fish and sleep on the ice. '.repeat(16_000)}\n`;
    await page.locator('.thread').dispatchEvent('drop', {
      dataTransfer: await dataTransfer(page, [{ name: 'notes.md', type: 'text/markdown', text: longNotes }]),
    });
    const notes = docs.getByRole('listitem', { name: 'notes.md' });
    await expect(notes.getByRole('status')).toHaveText(/\bchunks?$/, { timeout: 30_000 });
    await screenshot(page, 'documents-attached');
    await notes.getByRole('button', { name: 'Remove notes.md' }).click();
    await expect(notes).toHaveCount(0);

    // The reply cites passage 1 (given) and 7 (not given): only [1] is a citation.
    const box = page.getByRole('textbox', { name: 'Message' });
    await box.fill('What do whales eat?');
    await box.press('Enter');
    const reply = page.getByRole('list', { name: 'Messages' }).getByRole('listitem', { name: 'Assistant' }).last();
    await expect(reply).toContainText(SCRIPT.cite.answer, { timeout: 60_000 });
    await expect(reply.getByText(/^1 passage from 1 file$/)).toBeVisible();
    const citation = reply.getByRole('button', { name: 'Source 1: whales.pdf, page 1' });
    await expect(citation).toHaveText('[1]');
    await expect(reply.getByRole('button', { name: /Source 7/ })).toHaveCount(0);
    await reply.getByText(/^1 passage from 1 file$/).click();
    await expect(reply.getByRole('list', { name: 'Passages given to the model' })).toContainText('Blue whales eat krill.');
    await screenshot(page, 'documents-reply');
    await noSeriousViolations(page);

    await citation.click();
    const passage = page.getByRole('dialog', { name: '[1] whales.pdf' });
    await expect(passage).toBeVisible();
    await expect(passage.getByText('page 1', { exact: true })).toBeVisible();
    await expect(passage).toContainText('Blue whales eat krill.');
    await screenshot(page, 'documents-passage');
    await noSeriousViolations(page);
    await passage.getByRole('button', { name: 'Close' }).click();
    await expect(passage).toHaveCount(0);

    // Settings → Documents: no embedding model yet, so the offer of one; a collection made with a watched folder.
    await nav.getByRole('link', { name: 'Settings' }).click();
    const offer = page.getByRole('region', { name: 'Find passages by meaning' });
    await expect(offer.getByRole('button', { name: /^Download / })).toBeVisible();
    const form = page.getByRole('form', { name: 'New collection' });
    await form.getByRole('textbox', { name: 'Name' }).fill('Ocean notes');
    await form.getByRole('textbox', { name: /Folders/ }).fill(folder);
    await form.getByRole('button', { name: 'Create collection' }).click();
    const collection = page.getByRole('listitem', { name: 'Ocean notes' });
    await expect(collection.getByText(/Watching the folder/)).toBeVisible();
    await expect(collection.getByText(/^1 document · \d+ chunks?$/)).toBeVisible({ timeout: 30_000 });
    await page.getByRole('heading', { name: 'Documents', level: 2 }).scrollIntoViewIfNeeded();
    await screenshot(page, 'documents-settings');
    await noSeriousViolations(page);

    // An embedding model in the library: documents use it, and the offer gives way to the choice of model.
    await upload(page, host, await ensureEmbeddingModel(), 'stories260K-embedding.gguf');
    const choice = page.getByRole('combobox', { name: 'Embedding model' });
    await expect(choice).toBeVisible({ timeout: 30_000 });
    await expect(offer).toHaveCount(0);
    await expect(page.getByText(`${EMBEDDING_TEST_DIMS}-dimension vectors`, { exact: false })).toBeVisible({ timeout: 30_000 });
    await expect(page.getByText(/every chunk has its vector/)).toBeVisible({ timeout: 30_000 });
    await page.getByRole('heading', { name: 'Embedding model', level: 3 }).scrollIntoViewIfNeeded();
    await screenshot(page, 'documents-settings-embedding');
    await choice.selectOption({ label: 'None (keywords only)' });
    await expect(page.getByText('Passages are found by their keywords only.')).toBeVisible();

    // Back in the chat: the collection turned on for it.
    await nav.getByRole('link', { name: 'Chat' }).click();
    await page.getByText('Collections: none on').click();
    await page.getByRole('checkbox', { name: /Ocean notes/ }).check();
    await expect(page.getByText('Collections: Ocean notes')).toBeVisible();
    await screenshot(page, 'documents-collections');
    await noSeriousViolations(page);

    // The dark theme: the reply's sources open, the documents list, the collections menu.
    await page.getByRole('combobox', { name: 'Theme' }).selectOption('dark');
    await reply.getByText(/^1 passage from 1 file$/).click();
    await expect(reply.getByRole('list', { name: 'Passages given to the model' })).toBeVisible();
    await screenshot(page, 'documents-dark');
    await noSeriousViolations(page);
    expect(problems).toEqual([]);
  } finally {
    await stopHost(host);
    rmSync(folder, { recursive: true, force: true });
  }
});
