import { expect, launchHost, screenshot, stopHost, test, uploadTestModel } from './fixtures';

test('chat with a model: send, watch the reply stream, regenerate, edit, and find it all after a restart', async ({ page }) => {
  let host = await launchHost();
  try {
    await page.goto(host.url);
    await uploadTestModel(page, host);

    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'New chat (Ctrl+N)' }).click();
    await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(/.+/);
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('Once upon a time');
    await composer.press('Enter');
    const thread = page.getByRole('list', { name: 'Messages' });
    await expect(thread.getByRole('listitem', { name: 'You' })).toHaveText('Once upon a time');
    const reply = thread.getByRole('listitem', { name: 'Assistant' });
    await expect(reply.getByLabel('Reply statistics')).toContainText(/\d+ tokens · [\d.]+ tokens\/s · first token \d+ ms/, {
      timeout: 30_000,
    });
    await expect(composer).toBeFocused();
    await expect(page.getByRole('meter', { name: 'Context used' })).toBeVisible();
    await screenshot(page, 'chat-light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'chat-dark');
    await page.emulateMedia({ colorScheme: 'light' });

    await reply.getByRole('button', { name: 'Regenerate' }).click();
    await expect(thread.getByLabel('Versions')).toContainText('2/2', { timeout: 30_000 });
    await expect(thread.getByRole('listitem', { name: 'Assistant' }).getByLabel('Reply statistics')).toBeVisible({ timeout: 30_000 });
    await thread.getByRole('button', { name: 'Previous version' }).click();
    await expect(thread.getByLabel('Versions')).toContainText('1/2');

    await thread.getByRole('button', { name: 'Edit message' }).click();
    await thread.getByRole('textbox', { name: 'Edit message' }).fill('Lily had a cat');
    await thread.getByRole('button', { name: 'Send edited message' }).click();
    await expect(thread.getByRole('listitem', { name: 'You' })).toHaveText(/Lily had a cat/);
    await expect(thread.getByRole('listitem', { name: 'Assistant' }).getByLabel('Reply statistics')).toBeVisible({ timeout: 30_000 });

    await page.getByRole('button', { name: 'Rename conversation' }).click();
    await page.getByRole('textbox', { name: 'New title' }).fill('Stories with Lily');
    await page.getByRole('button', { name: 'Save title' }).click();
    await expect(
      page.getByRole('complementary', { name: 'Conversations' }).getByRole('button', { name: 'Stories with Lily' }),
    ).toBeVisible();

    // Settings apply to the next reply; Stop ends a long one and keeps what it had.
    await page.locator('summary').getByText('Settings', { exact: true }).click();
    await page.getByRole('textbox', { name: 'Max reply tokens' }).fill('1800');
    await page.getByRole('textbox', { name: 'Temperature' }).fill('0');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await composer.fill('Tell me a long story');
    await composer.press('Enter');
    await page.getByRole('button', { name: 'Stop' }).click();
    await expect(thread.getByRole('listitem', { name: 'Assistant' }).last().getByLabel('Reply statistics')).toContainText('stopped', {
      timeout: 30_000,
    });

    // Restart the host on the same data: the conversation, with its versions, is intact.
    const dataDir = host.dataDir;
    await stopHost(host, { keepData: true });
    host = await launchHost({ dataDir });
    await page.goto(host.url);
    await page.getByRole('link', { name: 'Chat' }).click();
    await expect(thread.getByRole('listitem', { name: 'You' }).first()).toHaveText(/Lily had a cat/);
    await expect(thread.getByLabel('Versions').first()).toContainText('2/2');
    await expect(thread.getByRole('listitem', { name: 'You' }).last()).toHaveText(/Tell me a long story/);

    // Import a conversation exported elsewhere (the documented JSON format).
    const exported = {
      format: 'freehold-conversation',
      version: 1,
      conversation: {
        title: 'Imported chat',
        systemPrompt: '',
        settings: {},
        modelId: null,
        pinned: false,
        createdAt: '2026-01-01T00:00:00.000Z',
        activeLeafId: 'b',
      },
      messages: [
        {
          id: 'a',
          parentId: null,
          role: 'user',
          content: 'Hello from a file',
          reasoning: '',
          status: 'complete',
          error: null,
          createdAt: '2026-01-01T00:00:00.000Z',
        },
        {
          id: 'b',
          parentId: 'a',
          role: 'assistant',
          content: 'Hi, **imported**!',
          reasoning: '',
          status: 'complete',
          error: null,
          createdAt: '2026-01-01T00:00:01.000Z',
        },
      ],
    };
    await page
      .getByLabel('Import a conversation (JSON)')
      .setInputFiles({ name: 'chat.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(exported)) });
    await expect(thread.getByRole('listitem', { name: 'You' }).first()).toHaveText(/Hello from a file/);
    await expect(thread.getByRole('listitem', { name: 'Assistant' }).locator('strong')).toHaveText('imported');
    await page
      .getByLabel('Import a conversation (JSON)')
      .setInputFiles({ name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from('{"format":"other"}') });
    await expect(page.getByRole('alert').filter({ hasText: 'Could not import bad.json' })).toContainText(
      'Not a Freehold conversation export',
    );
  } finally {
    await stopHost(host);
  }
});

test('a chat waits its turn while the local API is answering, and says so', async ({ page }) => {
  const host = await launchHost();
  const stop = new AbortController();
  try {
    await page.goto(host.url);
    await uploadTestModel(page, host);
    const [, apiUrl, key] = /OpenAI-compatible API: (\S+) +\(key: (fh-[\w-]+)/.exec(host.output())!;
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'New chat (Ctrl+N)' }).click();
    await expect(page.getByRole('combobox', { name: 'Model' })).toHaveValue(/.+/);

    // An API client keeps the model busy (three long requests, one after another).
    const listed = (await (await fetch(`${apiUrl}/models`, { headers: { Authorization: `Bearer ${key}` } })).json()) as {
      data: Array<{ id: string }>;
    };
    const model = listed.data[0]!.id;
    const requests = [1, 2, 3].map(() =>
      fetch(`${apiUrl}/chat/completions`, {
        method: 'POST',
        signal: stop.signal,
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Once' }], max_tokens: 1800, temperature: 0 }),
      }).catch(() => undefined),
    );
    await expect(page.getByRole('status', { name: 'Inference backend' })).toContainText('answering an API request', { timeout: 20_000 });
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('Once upon a time');
    await composer.press('Enter');
    const reply = page.getByRole('list', { name: 'Messages' }).getByRole('listitem', { name: 'Assistant' });
    await expect(reply.getByText(/Waiting for its turn: the model is answering a request from the local API/)).toBeVisible();
    await screenshot(page, 'chat-waiting-for-api');
    // It gets the next turn, before the API's other requests.
    await expect(reply.getByLabel('Reply statistics')).toBeVisible({ timeout: 30_000 });
    stop.abort();
    await Promise.all(requests);
  } finally {
    stop.abort();
    await stopHost(host);
  }
});
