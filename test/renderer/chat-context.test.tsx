import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ReplyFailure } from '../../shared/chat';
import type { HostHandlers } from '../../shared/contract';
import { eachTestAt, giveElementsASize, renderApp } from './app-fixture';
import { conversationFixture, createFakeHost, libraryOf, messageFixture, modelFixture, summaryOf } from './fake-host';

eachTestAt('');
// The thread is virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();

function failureOf(overrides: Partial<ReplyFailure> = {}): ReplyFailure {
  return {
    code: 'context_length_exceeded',
    promptTokens: 851,
    requiredTokens: 851,
    maxPromptTokens: 464,
    replyTokens: 40,
    contextSize: 512,
    trainContextSize: 2048,
    largerContextSize: 1024,
    largerContextLimit: null,
    ...overrides,
  };
}

/** A conversation whose long message was refused, over a fake host that records what the view asks. */
function renderConversation(failure: ReplyFailure) {
  const conversation = conversationFixture({
    title: 'Long one',
    modelId: 'm1',
    systemPrompt: 'You tell stories.',
    settings: { temperature: 0, maxTokens: 40, contextSize: failure.contextSize },
    activeLeafId: 'r1',
  });
  const messages = [
    messageFixture({ id: 'u1', role: 'user', content: 'Lily went to the park '.repeat(100) }),
    messageFixture({
      id: 'r1',
      role: 'assistant',
      parentId: 'u1',
      status: 'failed',
      error: 'This message is longer than the model’s context…',
      failure,
    }),
  ];
  const calls: Array<{ method: string; input: unknown }> = [];
  const overrides: Partial<HostHandlers> = {
    'chats.list': () => [summaryOf(conversation, messages.length)],
    'chats.get': () => ({ conversation, messages, thread: ['u1', conversation.activeLeafId!] }),
    'chats.update': (input) => {
      calls.push({ method: 'chats.update', input });
      if (input.settings) conversation.settings = input.settings;
      return conversation;
    },
    'chats.regenerate': (input) => {
      calls.push({ method: 'chats.regenerate', input });
      const reply = messageFixture({
        id: 'r2',
        role: 'assistant',
        parentId: 'u1',
        content: 'Lily saw a big dog.',
        stats: {
          promptTokens: 851,
          generatedTokens: 6,
          timeToFirstTokenMs: 5,
          tokensPerSecond: 900,
          totalMs: 20,
          stopReason: 'eos',
          contextTokens: 857,
          contextSize: 1024,
          droppedMessages: 0,
        },
      });
      messages.push(reply);
      conversation.activeLeafId = 'r2';
      return reply;
    },
  };
  const host = createFakeHost(overrides);
  host.setLibrary(libraryOf(modelFixture()));
  renderApp(host);
  return { calls };
}

async function openChat() {
  await userEvent.click(within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: 'Chat' }));
  const thread = await screen.findByRole('list', { name: 'Messages' });
  return within(thread).findByRole('listitem', { name: 'Assistant' });
}

describe('chat view: a message longer than the context', () => {
  it('says so with the numbers and offers a larger context, which sets the context size and retries', async () => {
    const { calls } = renderConversation(failureOf());
    const reply = await openChat();
    const notice = within(reply).getByRole('alert');
    expect(notice.textContent).toMatch(
      /longer than the model's context: with the system prompt it comes to 851 tokens, and the 512-token context has room for 464 beside a reply/,
    );
    await userEvent.click(within(notice).getByRole('button', { name: 'Use a 1,024-token context' }));
    await waitFor(() => expect(calls.map((c) => c.method)).toEqual(['chats.update', 'chats.regenerate']));
    expect(calls[0]!.input).toEqual({ id: 'c1', settings: { temperature: 0, maxTokens: 40, contextSize: 1024 } });
    expect(calls[1]!.input).toEqual({ conversationId: 'c1', messageId: 'r1' });
    // The retried reply is shown, and the settings show the new context size.
    expect(await screen.findByText('Lily saw a big dog.')).toBeTruthy();
    await userEvent.click(screen.getByText('Settings', { selector: 'summary' }));
    expect((screen.getByRole('textbox', { name: 'Context size' }) as HTMLInputElement).value).toBe('1024');
  });

  it('says to shorten the message when the trained context is the limit, or the memory free now', async () => {
    renderConversation(
      failureOf({
        contextSize: 2048,
        maxPromptTokens: 1836,
        requiredTokens: 16_051,
        promptTokens: 16_051,
        largerContextSize: null,
        largerContextLimit: 'trained-context',
      }),
    );
    let notice = within(await openChat()).getByRole('alert');
    expect(notice.textContent).toMatch(/comes to 16,051 tokens, and the 2,048-token context has room for 1,836/);
    expect(notice.textContent).toMatch(/trained for 2,048 tokens at most.*shorten the message/);
    expect(within(notice).queryByRole('button')).toBeNull();
    cleanup();
    window.location.hash = '';

    renderConversation(failureOf({ largerContextSize: null, largerContextLimit: 'memory' }));
    notice = within(await openChat()).getByRole('alert');
    expect(notice.textContent).toMatch(/needs more memory than is free now: shorten the message/);
    expect(within(notice).queryByRole('button')).toBeNull();
  });
});
