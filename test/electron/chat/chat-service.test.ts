import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import { inferenceHost } from '../../helpers/inference-host';
import { testModelPath } from '../../helpers/test-model';

const open: HostServices[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function withModel() {
  const { services } = await inferenceHost();
  open.push(services);
  const [imported] = await services.handlers['models.import']({ paths: [testModelPath()], mode: 'reference' });
  const conversation = await services.handlers['chats.create']({
    modelId: imported!.model!.id,
    systemPrompt: 'You tell stories.',
    settings: { temperature: 0, maxTokens: 40 },
  });
  return { services, conversation };
}

describe('chat service (real worker, stories260K)', () => {
  it('stores the message, streams and stores the reply with its stats, and regenerates beside it', async () => {
    const { services, conversation } = await withModel();
    const { userMessage, reply } = await services.handlers['chats.send']({
      conversationId: conversation.id,
      parentId: null,
      text: 'Once upon a time',
    });
    expect(userMessage).toMatchObject({ role: 'user', content: 'Once upon a time', status: 'complete' });
    expect(reply).toMatchObject({ role: 'assistant', status: 'complete', stats: { generatedTokens: 40, stopReason: 'max-tokens' } });
    expect(reply.content.length).toBeGreaterThan(10);
    const detail = await services.handlers['chats.get']({ id: conversation.id });
    expect(detail.thread).toEqual([userMessage.id, reply.id]);

    // Regenerate: a second reply beside the first, greedy so the same text.
    const again = await services.handlers['chats.regenerate']({ conversationId: conversation.id, messageId: reply.id });
    expect(again.parentId).toBe(userMessage.id);
    expect(again.content).toBe(reply.content);
    expect((await services.handlers['chats.get']({ id: conversation.id })).messages).toHaveLength(3);
  });

  it('marks a reply failed with the reason and keeps the user message when no model is chosen', async () => {
    const { services } = await withModel();
    const bare = await services.handlers['chats.create']({});
    const { userMessage, reply } = await services.handlers['chats.send']({ conversationId: bare.id, parentId: null, text: 'Hello?' });
    expect(userMessage.status).toBe('complete');
    expect(reply).toMatchObject({ status: 'failed', error: expect.stringMatching(/Choose a model/) });
  });

  it('stops a reply on request and keeps what was generated', async () => {
    const { services, conversation } = await withModel();
    await services.handlers['chats.update']({ id: conversation.id, settings: { temperature: 0, maxTokens: 1800 } });
    const sending = services.handlers['chats.send']({ conversationId: conversation.id, parentId: null, text: 'Once' });
    await expect
      .poll(
        async () =>
          (await services.handlers['chats.get']({ id: conversation.id })).messages.some(
            (m) => m.role === 'assistant' && m.content.length > 0,
          ),
        { timeout: 10_000, interval: 20 },
      )
      .toBe(true);
    expect(await services.handlers['chats.stop']({ id: conversation.id })).toEqual({ stopped: true });
    const { reply } = await sending;
    expect(reply.stats?.stopReason).toBe('abort');
    expect(reply.content.length).toBeGreaterThan(0);
  });

  it("loads the model with the conversation's context size, reports context use, and says when old messages were dropped", async () => {
    const { services, conversation } = await withModel();
    await services.handlers['chats.update']({ id: conversation.id, settings: { temperature: 0, maxTokens: 60, contextSize: 256 } });
    let parent: string | null = null;
    const replies = [];
    for (let turn = 0; turn < 6; turn += 1) {
      const { reply } = await services.handlers['chats.send']({
        conversationId: conversation.id,
        parentId: parent,
        text: `Tell me more about Lily and her dog, part ${turn}.`,
      });
      expect(reply.status).toBe('complete');
      replies.push(reply);
      parent = reply.id;
    }
    expect(services.inference.status().model?.contextSize).toBe(256);
    for (const r of replies) {
      expect(r.stats!.contextSize).toBe(256);
      expect(r.stats!.contextTokens).toBeGreaterThan(0);
      expect(r.stats!.contextTokens).toBeLessThanOrEqual(256);
    }
    expect(replies[0]!.stats!.droppedMessages).toBe(0);
    expect(replies.at(-1)!.stats!.droppedMessages).toBeGreaterThan(0);
  });

  it('fails a message longer than the context with the numbers, offers a larger context where the model allows it, and answers with it', async () => {
    const { services, conversation } = await withModel();
    await services.handlers['chats.update']({ id: conversation.id, settings: { temperature: 0, maxTokens: 40, contextSize: 512 } });
    const text = 'Lily went to the park '.repeat(100); // 800 tokens, 851 with the template and system prompt
    const { userMessage, reply } = await services.handlers['chats.send']({ conversationId: conversation.id, parentId: null, text });
    expect(userMessage.status).toBe('complete');
    expect(reply.status).toBe('failed');
    expect(reply.content).toBe('');
    expect(reply.error).not.toMatch(/No tokens to evaluate|compress/);
    expect(reply.failure).toMatchObject({
      code: 'context_length_exceeded',
      contextSize: 512,
      trainContextSize: 2048,
      largerContextSize: 1024,
      largerContextLimit: null,
    });
    const failure = reply.failure!;
    expect(failure.requiredTokens).toBeGreaterThan(800);
    expect(failure.requiredTokens).toBeLessThan(900);
    expect(failure.promptTokens).toBe(failure.requiredTokens);
    expect(reply.error).toContain(`${failure.requiredTokens.toLocaleString('en-US')} tokens`);
    expect(reply.error).toContain('512');
    // Stored: the failure is there when the conversation is read again.
    const stored = (await services.handlers['chats.get']({ id: conversation.id })).messages.find((m) => m.id === reply.id);
    expect(stored?.failure).toEqual(failure);

    // What the chat view's "Use a 1,024-token context" does: set the context, then retry.
    await services.handlers['chats.update']({
      id: conversation.id,
      settings: { temperature: 0, maxTokens: 40, contextSize: failure.largerContextSize! },
    });
    const retried = await services.handlers['chats.regenerate']({ conversationId: conversation.id, messageId: reply.id });
    expect(retried).toMatchObject({ status: 'complete', stats: { contextSize: 1024, droppedMessages: 0 } });
    expect(retried.stats!.promptTokens).toBe(failure.requiredTokens);
    expect(retried.content.length).toBeGreaterThan(0);
  });

  it('says to shorten a message longer than even the trained context, with the numbers', async () => {
    const { services, conversation } = await withModel();
    for (const text of ['Lily went to the park '.repeat(2000), 'Tom ate an apple. '.repeat(3000)]) {
      const { reply } = await services.handlers['chats.send']({ conversationId: conversation.id, parentId: null, text });
      expect(reply.status).toBe('failed');
      expect(reply.error).not.toMatch(/No tokens to evaluate|compress/);
      expect(reply.failure).toMatchObject({
        code: 'context_length_exceeded',
        contextSize: 2048,
        trainContextSize: 2048,
        largerContextSize: null,
        largerContextLimit: 'trained-context',
      });
      expect(reply.failure!.requiredTokens).toBeGreaterThan(16_000);
      expect(reply.error).toMatch(/shorten/i);
      expect(reply.error).toContain('2,048');
    }
  });

  it('lists and exports conversations from the CLI', async () => {
    const { services, conversation } = await withModel();
    await services.handlers['chats.send']({ conversationId: conversation.id, parentId: null, text: 'Once upon a time' });
    const dataDir = services.library['options'].dataDir as string;
    await services.close();
    open.pop();
    const list = JSON.parse(
      execFileSync(process.execPath, ['dist/electron/cli.mjs', 'chats', 'list', '--json', '--data-dir', dataDir], { encoding: 'utf8' }),
    );
    expect(list).toEqual([expect.objectContaining({ id: conversation.id, messageCount: 2 })]);
    const md = execFileSync(process.execPath, ['dist/electron/cli.mjs', 'chats', 'export', conversation.id, '--data-dir', dataDir], {
      encoding: 'utf8',
    });
    expect(md).toContain('## You\n\nOnce upon a time');
    const json = JSON.parse(
      execFileSync(
        process.execPath,
        ['dist/electron/cli.mjs', 'chats', 'export', conversation.id, '--format', 'json', '--data-dir', dataDir],
        { encoding: 'utf8' },
      ),
    );
    expect(json).toMatchObject({ format: 'freehold-conversation', version: 1 });
  });
});
