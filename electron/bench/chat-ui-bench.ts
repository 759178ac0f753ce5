/**
 * The chat view in Chromium through the headless host: time to open a
 * conversation of 2,000 messages, and long tasks (> 50 ms) in the page while a
 * reply streams at 1,000+ tokens/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConversationStore } from '../chat/conversation-store';
import { ChatService } from '../chat/chat-service';
import { startHeadlessHost } from '../host/server';
import { forkLauncher } from '../inference/launcher';
import { createHostServices } from '../services/host-services';
import { benchPage, chromiumPath } from './library-ui-bench';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function chatUiBench(modelPath: string, count = 2000): Promise<void> {
  const executablePath = chromiumPath();
  if (!executablePath) {
    console.log('bench chat-ui: skipped (no Chromium: install chromium or set FREEHOLD_CHROMIUM)');
    return;
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'freehold-bench-chat-'));
  const services = await createHostServices({
    dataDir,
    host: 'web',
    log: () => undefined,
    workerLauncher: forkLauncher(path.join(here, 'worker.mjs'), () => undefined),
  });
  await services.settings.update({ inference: { threads: 1 } });
  const [imported] = await services.handlers['models.import']({ paths: [modelPath], mode: 'reference' });
  const modelId = imported!.model!.id;
  // A long conversation, written straight into the store.
  const seed = new ConversationStore(ChatService.file(dataDir));
  const big = seed.create({ title: 'Long conversation', modelId });
  seed.db.transaction(() => {
    let parent: string | null = null;
    for (let i = 0; i < count; i += 1) {
      const text =
        i % 2 === 0
          ? `Question ${i}: what happened next?`
          : `Answer ${i}: **Lily** went to the park.\n\n- a list item\n- another\n\n\`\`\`js\nconsole.log(${i});\n\`\`\``;
      parent = seed.addMessage(big.id, parent, i % 2 === 0 ? 'user' : 'assistant', text).id;
    }
  });
  seed.close();
  services.chats.create({ title: 'Streaming', modelId, settings: { temperature: 0, maxTokens: 1500 } });
  const host = await startHeadlessHost({ services, rendererDir: path.join(here, '..', 'renderer'), port: 0 });
  const { browser, page, longTasks: tasks } = await benchPage(executablePath);
  try {
    await page.goto(host.url);
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'Streaming' }).waitFor();
    const opens: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      await page.getByRole('button', { name: 'Streaming' }).click();
      await page.getByRole('list', { name: 'Messages' }).waitFor();
      const start = performance.now();
      await page.getByRole('button', { name: 'Long conversation' }).click();
      await page.getByText(`Answer ${count - 1}:`, { exact: false }).waitFor({ timeout: 120_000 });
      opens.push(performance.now() - start);
    }
    opens.sort((a, b) => a - b);
    await page.getByRole('button', { name: 'Streaming' }).click();
    await tasks.reset();
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('Once upon a time');
    await composer.press('Enter');
    await page.getByRole('listitem', { name: 'Assistant' }).getByLabel('Reply statistics').waitFor({ timeout: 60_000 });
    const longTasks = await tasks.count();
    console.log(`bench chat-ui: open_${count}_ms ${opens[1]!.toFixed(0)} longtasks_during_stream ${longTasks}`);
  } finally {
    await browser.close();
    await host.close();
    await services.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
