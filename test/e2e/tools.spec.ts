import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { SCRIPT, scriptedModel } from '../helpers/scripted-models';
import { expect, launchHost, screenshot, stopHost, test, type HostFixture } from './fixtures';

const FIXTURE = path.resolve('test/fixtures/mcp/stdio-server.mjs');

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

test('tools in chat: add an MCP server in Settings, the model calls its tool, the approval card shows the arguments, the result goes back, the model answers', async ({
  page,
}) => {
  test.setTimeout(180_000);
  const [toolModel, thinkModel] = await Promise.all([scriptedModel('qwen3', 'tool'), scriptedModel('qwen3', 'think')]);
  const host = await launchHost();
  try {
    await page.goto(host.url);
    await upload(page, host, toolModel, 'qwen3-tool-scripted.gguf');
    await upload(page, host, thinkModel, 'qwen3-think-scripted.gguf');

    // Settings → Tools: add the weather server (a program run with an argv) and see its tools.
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Settings' }).click();
    const form = page.getByRole('form', { name: 'Add a server' });
    await form.getByRole('textbox', { name: 'Name' }).fill('weather');
    await form.getByRole('radio', { name: 'Program (stdio)' }).check();
    await form.getByRole('textbox', { name: 'Command' }).fill(process.execPath);
    await form.getByRole('textbox', { name: 'Arguments (one per line)' }).fill(FIXTURE);
    await form.getByRole('button', { name: 'Add server' }).click();
    const server = page.getByRole('list', { name: 'Servers' }).getByRole('listitem', { name: 'weather' });
    await expect(server.getByText(/Running with \d+ tools/)).toBeVisible({ timeout: 30_000 });
    await expect(server.getByRole('switch', { name: 'Use get_weather' })).toBeVisible();
    await expect(server.getByRole('checkbox', { name: 'Always allow get_weather' })).not.toBeChecked();

    // An mcp.json from another app: its SSE entry is left out, with the reason.
    await page
      .getByRole('textbox', { name: 'mcp.json contents' })
      .fill(JSON.stringify({ mcpServers: { legacy: { type: 'sse', url: 'http://127.0.0.1:9/sse' } } }));
    await page.getByRole('button', { name: 'Import' }).click();
    await expect(page.getByRole('list', { name: 'Skipped servers' })).toContainText('legacy: SSE servers are not supported');
    await page.getByRole('heading', { level: 1, name: 'Settings' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'tools-settings');

    // A tool with a pattern is offered, its check named; one past the schema bounds is not offered, with why.
    const lookup = server.getByRole('switch', { name: 'Use lookup' });
    await expect(lookup).toBeEnabled();
    await expect(lookup).toHaveAccessibleDescription(
      /Checked after the model writes a call \(calls that do not match are not run\): pattern \(at code\)/,
    );
    await expect(server.getByRole('switch', { name: 'Use wide' })).toBeDisabled();
    await expect(server.getByRole('switch', { name: 'Use wide' })).toHaveAccessibleDescription(/more than 5,000 parts/);
    await lookup.scrollIntoViewIfNeeded();
    await screenshot(page, 'tools-checks');

    // A chat on the scripted Qwen3 model: it calls get_weather; the card shows the call and waits.
    await nav.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'New chat (Ctrl+N)' }).click();
    const picker = page.getByRole('combobox', { name: 'Model' });
    await picker.selectOption({ label: 'Qwen3 scripted test model (tool)' });
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('What is the weather in Paris?');
    await composer.press('Enter');
    const card = page.getByRole('article', { name: 'Tool call get_weather on weather' });
    await expect(card.getByText('Waiting for your approval')).toBeVisible({ timeout: 60_000 });
    await expect(card.getByRole('group', { name: 'Arguments' })).toHaveText(/"city": "Paris"/);
    await screenshot(page, 'tools-approval');

    await card.getByRole('button', { name: 'Allow once' }).click();
    await expect(card.getByText('Done')).toBeVisible({ timeout: 30_000 });
    const thread = page.getByRole('list', { name: 'Messages' });
    const reply = thread.getByRole('listitem', { name: 'Assistant' }).last();
    await expect(reply).toContainText(SCRIPT.tool.answer, { timeout: 30_000 });
    await expect(reply).not.toContainText('<tool_call>');
    // The result is folded; opened, it is the tool's text.
    await card.getByText(/Result \(\d+ characters\)/).click();
    await expect(card.getByRole('group', { name: 'Result text' })).toHaveText('Sunny, 21 °C in Paris');
    await screenshot(page, 'tools-result');

    // A reasoning model: its <think> segment is the folded "Thought for N s" block, the answer below it.
    await page.getByRole('button', { name: 'New chat (Ctrl+N)' }).click();
    await picker.selectOption({ label: 'Qwen3 scripted test model (think)' });
    await composer.fill('hello');
    await composer.press('Enter');
    const thinking = thread.getByRole('listitem', { name: 'Assistant' }).last();
    await expect(thinking).toContainText(SCRIPT.think.answer, { timeout: 60_000 });
    await expect(thinking.getByText(/Thought for \d+ s/)).toBeVisible();
    await thinking.getByText(/Thought for \d+ s/).click();
    await expect(thinking).toContainText(SCRIPT.think.thought);
    await screenshot(page, 'tools-thinking');
  } finally {
    await stopHost(host);
  }
});
