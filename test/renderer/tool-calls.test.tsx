import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from '../../renderer/app/App';
import { mergeLiveText, splitAtCalls } from '../../renderer/features/chat/ToolCallCard';
import type { ChatMessageRecord, ConversationSettings } from '../../shared/chat';
import type { EventName, Events, HostHandlers } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { ToolCallRecord } from '../../shared/tools';
import { connectWithEvents, eachTestAt, giveElementsASize } from './app-fixture';
import { at, conversationFixture, createFakeHost, libraryOf, messageFixture, modelFixture, summaryOf } from './fake-host';

eachTestAt('');
// The thread is virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();

const model = modelFixture({
  name: 'qwen',
  architecture: 'qwen2',
  parameterCount: 1,
  quantization: 'Q4_K_M',
  sizeBytes: 1000,
  contextLength: 4096,
  hasChatTemplate: true,
  files: ['/m/qwen.gguf'],
});

function call(overrides: Partial<ToolCallRecord> & Pick<ToolCallRecord, 'id' | 'tool'>): ToolCallRecord {
  return {
    server: 'weather',
    arguments: '{"city":"Paris"}',
    status: 'done',
    result: 'Sunny, 21 °C',
    truncated: false,
    textOffset: 0,
    startedAt: at,
    endedAt: at,
    ...overrides,
  };
}

/**
 * A conversation whose reply called tools, over the fake host; `push` tells
 * the UI a host event as the host would (deltas of the reply, a change).
 */
function renderReply(
  reply: Partial<ChatMessageRecord>,
  { settings = { temperature: 0.7 }, more = {} }: { settings?: ConversationSettings; more?: Partial<HostHandlers> } = {},
) {
  const conversation = conversationFixture({ title: 'Weather', modelId: 'm1', settings, activeLeafId: 'r1' });
  const messages = [
    messageFixture({ id: 'u1', role: 'user', content: 'Weather in Paris?' }),
    messageFixture({ id: 'r1', parentId: 'u1', role: 'assistant', ...reply }),
  ];
  const calls: Array<{ method: string; input: unknown }> = [];
  const overrides: Partial<HostHandlers> = {
    'chats.list': () => [summaryOf(conversation, 2)],
    'chats.get': () => ({ conversation, messages: messages.map((m) => ({ ...m })), thread: ['u1', 'r1'] }),
    'chats.update': (input) => {
      calls.push({ method: 'chats.update', input });
      if (input.settings) conversation.settings = input.settings;
      return conversation;
    },
    'chats.toolDecision': (input) => {
      calls.push({ method: 'chats.toolDecision', input });
      return { decided: true };
    },
    ...more,
  };
  const host = createFakeHost(overrides);
  host.setLibrary(libraryOf(model));
  const { connection, emit } = connectWithEvents(host);
  const push = async <E extends EventName>(event: E, payload: Events[E]) => {
    await act(async () => {
      emit(event, payload);
      // Deltas are painted on the next animation frame.
      await new Promise((resolve) => requestAnimationFrame(() => resolve(undefined)));
    });
  };
  render(<App connection={connection} />);
  /** The stored reply changes, and the host says so (the view reads the conversation again). */
  const store = (patch: Partial<ChatMessageRecord>) => {
    Object.assign(messages[1]!, patch);
    return push('onConversationChanged', { id: 'c1' });
  };
  return { calls, push, store };
}

async function openReply() {
  await userEvent.click(within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: 'Chat' }));
  const thread = await screen.findByRole('list', { name: 'Messages' });
  return within(thread).findByRole('listitem', { name: 'Assistant' });
}

const card = (scope: HTMLElement, tool: string, server = 'weather') =>
  within(scope).getByRole('article', { name: `Tool call ${tool} on ${server}` });

/** Whether `a` comes before `b` in the document. */
const before = (a: Node, b: Node) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;

describe('tool calls in a reply', () => {
  it('shows the full arguments, pretty-printed (the raw text when they are not JSON)', async () => {
    const long = { city: 'Paris', days: [1, 2, 3], note: 'x'.repeat(6000) };
    renderReply({
      content: 'Checking.',
      toolCalls: [
        call({ id: 'call_1', tool: 'get_weather', arguments: JSON.stringify(long), textOffset: 9 }),
        call({ id: 'call_2', tool: 'get_forecast', arguments: '{"city": "Paris", oops', textOffset: 9 }),
      ],
    });
    const reply = await openReply();
    const first = card(reply, 'get_weather');
    expect(within(first).getByText('get_weather')).toBeTruthy();
    expect(within(first).getByText('on weather')).toBeTruthy();
    const args = within(first).getByRole('group', { name: 'Arguments' });
    expect(args.tagName).toBe('PRE');
    expect(args.textContent).toBe(JSON.stringify(long, null, 2));
    expect(args.textContent!.length).toBeGreaterThan(6000);
    expect(within(card(reply, 'get_forecast')).getByRole('group', { name: 'Arguments' }).textContent).toBe('{"city": "Paris", oops');
  });

  it('asks for approval while the reply waits: Allow once, Always allow, Deny send the decision', async () => {
    const { calls } = renderReply({
      content: 'I will check three things.',
      status: 'streaming',
      toolCalls: [
        call({ id: 'call_1', tool: 'get_weather', status: 'pending', result: null, textOffset: 26 }),
        call({ id: 'call_2', tool: 'get_forecast', status: 'pending', result: null, textOffset: 26 }),
        call({ id: 'call_3', tool: 'delete_files', server: 'files', status: 'pending', result: null, textOffset: 26 }),
      ],
    });
    const reply = await openReply();
    const first = card(reply, 'get_weather');
    expect(within(first).getByText('Waiting for your approval')).toBeTruthy();
    await userEvent.click(within(first).getByRole('button', { name: 'Allow once' }));
    await waitFor(() =>
      expect(calls).toEqual([
        { method: 'chats.toolDecision', input: { conversationId: 'c1', messageId: 'r1', callId: 'call_1', decision: 'once' } },
      ]),
    );
    // Answered: its buttons wait for the call to move on.
    await waitFor(() => expect((within(first).getByRole('button', { name: 'Allow once' }) as HTMLButtonElement).disabled).toBe(true));
    expect((within(first).getByRole('button', { name: 'Deny' }) as HTMLButtonElement).disabled).toBe(true);

    await userEvent.click(within(card(reply, 'get_forecast')).getByRole('button', { name: 'Always allow get_forecast' }));
    await userEvent.click(within(card(reply, 'delete_files', 'files')).getByRole('button', { name: 'Deny' }));
    await waitFor(() => expect(calls).toHaveLength(3));
    expect(calls.map((c) => c.input)).toEqual([
      { conversationId: 'c1', messageId: 'r1', callId: 'call_1', decision: 'once' },
      { conversationId: 'c1', messageId: 'r1', callId: 'call_2', decision: 'always' },
      { conversationId: 'c1', messageId: 'r1', callId: 'call_3', decision: 'deny' },
    ]);
  });

  it('says so when the decision could not be sent, and lets it be tried again', async () => {
    renderReply(
      {
        content: '',
        status: 'streaming',
        toolCalls: [call({ id: 'call_1', tool: 'get_weather', status: 'pending', result: null })],
      },
      {
        more: {
          'chats.toolDecision': () => {
            throw new RpcError('unavailable', 'The host is busy.');
          },
        },
      },
    );
    const first = card(await openReply(), 'get_weather');
    await userEvent.click(within(first).getByRole('button', { name: 'Allow once' }));
    expect((await within(first).findByRole('alert')).textContent).toBe('Could not send your answer: The host is busy.');
    expect((within(first).getByRole('button', { name: 'Allow once' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('offers no buttons for a call left waiting by a reply that ended', async () => {
    renderReply({
      content: '',
      status: 'interrupted',
      toolCalls: [call({ id: 'call_1', tool: 'get_weather', status: 'pending', result: null })],
    });
    const first = card(await openReply(), 'get_weather');
    expect(within(first).getByText('Not run: the reply ended')).toBeTruthy();
    expect(within(first).queryByRole('button')).toBeNull();
  });

  it('folds the result, and shows it as text only: never HTML nor Markdown', async () => {
    const hostile = '<img src=x onerror=alert(1)>\n**not bold** [link](https://evil.example)';
    renderReply({
      content: 'Done.',
      toolCalls: [
        call({ id: 'call_1', tool: 'get_weather', result: hostile, textOffset: 0 }),
        call({ id: 'call_2', tool: 'get_forecast', result: 'y'.repeat(32_000), truncated: true, textOffset: 0 }),
      ],
    });
    const reply = await openReply();
    const first = card(reply, 'get_weather');
    expect(within(first).getByText('Done')).toBeTruthy();
    const details = first.querySelector('details')!;
    expect(details.open).toBe(false);
    expect(within(first).getByText(`Result (${hostile.length} characters)`).tagName).toBe('SUMMARY');
    const text = within(first).getByRole('group', { name: 'Result text', hidden: true });
    expect(text.tagName).toBe('PRE');
    expect(text.textContent).toBe(hostile);
    expect(text.children).toHaveLength(0);
    expect(document.querySelector('img')).toBeNull();
    expect(first.querySelector('strong')?.textContent).toBe('get_weather');
    expect(first.querySelector('a')).toBeNull();
    expect(within(card(reply, 'get_forecast')).getByText('Result (32,000 characters, cut)')).toBeTruthy();
  });

  it('says where each call stands; failures look like failures', async () => {
    renderReply({
      content: '',
      status: 'streaming',
      toolCalls: [
        call({ id: 'call_1', tool: 'get_weather', status: 'running', result: null }),
        call({ id: 'call_2', tool: 'get_forecast', status: 'error', result: 'Tool failed: city not found' }),
        call({ id: 'call_3', tool: 'delete_files', server: 'files', status: 'denied', result: 'The user denied this call.' }),
        call({ id: 'call_4', tool: 'get_time', status: 'done', result: '12:00' }),
        call({
          id: 'call_5',
          tool: 'lookup',
          status: 'invalid',
          result: 'The arguments do not match the input schema of lookup, so it was not run: code must match pattern "^[A-Z]{3}$".',
        }),
      ],
    });
    const reply = await openReply();
    expect(within(card(reply, 'get_weather')).getByText('Running…')).toBeTruthy();
    expect(within(card(reply, 'get_weather')).queryByRole('button')).toBeNull();
    const failed = card(reply, 'get_forecast');
    expect(within(failed).getByText('Error').className).toContain('tone-bad');
    expect(failed.className).toContain('tool-call-error');
    expect(failed.querySelector('details')!.className).toContain('tool-call-failed');
    expect(within(failed).getByRole('group', { name: 'Error text', hidden: true }).textContent).toBe('Tool failed: city not found');
    const denied = card(reply, 'delete_files', 'files');
    expect(within(denied).getByText('Denied').className).toContain('tone-bad');
    expect(denied.querySelector('details')!.className).toContain('tool-call-failed');
    const done = card(reply, 'get_time');
    expect(within(done).getByText('Done').className).toContain('tone-ok');
    expect(done.querySelector('details')!.className).not.toContain('tool-call-failed');
    // A call whose arguments did not match: not run, and why is shown open, with no buttons to run it.
    const invalid = card(reply, 'lookup');
    expect(within(invalid).getByText('Not run: the arguments do not match the tool’s schema').className).toContain('tone-bad');
    expect(invalid.querySelector('details')!.open).toBe(true);
    expect(within(invalid).getByRole('group', { name: 'Error text' }).textContent).toMatch(/code must match pattern/);
    expect(within(invalid).queryByRole('button')).toBeNull();
  });

  it('places each card in the text where the call was made, calls at the same point in order', async () => {
    const content = 'Let me check the weather.It is **sunny**. Now the forecast.Rain tomorrow.';
    const firstStop = 'Let me check the weather.'.length;
    const secondStop = content.indexOf('Rain');
    renderReply({
      content,
      toolCalls: [
        call({ id: 'call_1', tool: 'get_weather', textOffset: firstStop }),
        call({ id: 'call_2', tool: 'get_forecast', textOffset: secondStop }),
        call({ id: 'call_3', tool: 'get_time', textOffset: secondStop }),
      ],
    });
    const reply = await openReply();
    const intro = within(reply).getByText('Let me check the weather.');
    const sunny = within(reply).getByText('sunny');
    expect(sunny.tagName).toBe('STRONG');
    const rain = within(reply).getByText('Rain tomorrow.');
    const [weather, forecast, time] = [card(reply, 'get_weather'), card(reply, 'get_forecast'), card(reply, 'get_time')];
    expect(before(intro, weather)).toBe(true);
    expect(before(weather, sunny)).toBe(true);
    expect(before(sunny, forecast)).toBe(true);
    expect(before(forecast, time)).toBe(true);
    expect(before(time, rain)).toBe(true);
  });

  it('keeps the cards in place while the text after them streams', async () => {
    const { push, store } = renderReply({
      content: 'Let me check.',
      status: 'streaming',
      toolCalls: [call({ id: 'call_1', tool: 'get_weather', status: 'running', result: null, textOffset: 13 })],
    });
    const reply = await openReply();
    // This view saw the reply from its start: every delta, the text before the call included.
    await push('onChatDelta', { requestId: 'r1', parts: [{ kind: 'text', text: 'Let me check.' }] });
    await push('onChatDelta', { requestId: 'r1', parts: [{ kind: 'call', index: 0, name: 'weather__get_weather', text: '{"city":' }] });
    expect(within(reply).getByText('Let me check.')).toBeTruthy();
    // The call is done; the model goes on after it.
    await store({ toolCalls: [call({ id: 'call_1', tool: 'get_weather', textOffset: 13 })] });
    await push('onChatDelta', { requestId: 'r1', parts: [{ kind: 'text', text: 'It is ' }] });
    await push('onChatDelta', { requestId: 'r1', parts: [{ kind: 'text', text: 'sunny.' }] });
    let weather = card(reply, 'get_weather');
    expect(before(within(reply).getByText('Let me check.'), weather)).toBe(true);
    expect(before(weather, within(reply).getByText('It is sunny.'))).toBe(true);
    // A flush stores part of the text after the call; the live text is still ahead of it.
    await store({ content: 'Let me check.It is' });
    await push('onChatDelta', { requestId: 'r1', parts: [{ kind: 'text', text: ' Enjoy.' }] });
    weather = card(reply, 'get_weather');
    expect(before(weather, within(reply).getByText('It is sunny. Enjoy.'))).toBe(true);
    expect(within(reply).getAllByText(/Let me check\./)).toHaveLength(1);
  });

  it('joins the stored text and the live text when the view came in mid-reply', () => {
    // Normal: the live text is the stored text and more.
    expect(mergeLiveText('Let me check.', 'Let me check.It is')).toBe('Let me check.It is');
    // Came in late: the live text overlaps the end of what is stored.
    expect(mergeLiveText('Let me check.It is', 'It is sunny.')).toBe('Let me check.It is sunny.');
    // Came in after the last flush: no overlap; the stored text stays first.
    expect(mergeLiveText('Let me check.', 'sunny.')).toBe('Let me check.sunny.');
    // Live text behind the stored text (just reset): the stored text.
    expect(mergeLiveText('Let me check.', '')).toBe('Let me check.');
    const c = (id: string, textOffset: number) => call({ id, tool: id, textOffset });
    expect(splitAtCalls('abcdef', [c('x', 3), c('y', 3), c('z', 99)]).map((p) => (p.kind === 'text' ? p.text : p.call.id))).toEqual([
      'abc',
      'x',
      'y',
      'def',
      'z',
    ]);
    expect(splitAtCalls('', [c('x', 0)]).map((p) => p.kind)).toEqual(['call']);
  });
});

describe('chat settings: thinking and tools', () => {
  async function openSettings() {
    await openReply();
    await userEvent.click(screen.getByText('Settings', { selector: 'summary' }));
  }

  it('saves thinking on with a budget, and tools off', async () => {
    const { calls } = renderReply({ content: 'Hi.' }, { settings: { temperature: 0.7 } });
    await openSettings();
    const thinking = screen.getByRole('combobox', { name: 'Thinking' }) as HTMLSelectElement;
    expect(thinking.value).toBe('default');
    expect(screen.queryByRole('textbox', { name: 'Thought budget (tokens)' })).toBeNull();
    const tools = screen.getByRole('checkbox', { name: 'Use tools from MCP servers' }) as HTMLInputElement;
    expect(tools.checked).toBe(true);
    await userEvent.selectOptions(thinking, 'On');
    await userEvent.type(screen.getByRole('textbox', { name: 'Thought budget (tokens)' }), '2048');
    await userEvent.click(tools);
    await userEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() =>
      expect(calls).toEqual([
        {
          method: 'chats.update',
          input: { id: 'c1', settings: { temperature: 0.7, thinking: { enabled: true, budget: 2048 }, tools: false } },
        },
      ]),
    );
  });

  it('shows the saved choices, and saves thinking off, or the model default, with tools on', async () => {
    const { calls } = renderReply({ content: 'Hi.' }, { settings: { thinking: { enabled: true, budget: 512 }, tools: false } });
    await openSettings();
    const thinking = screen.getByRole('combobox', { name: 'Thinking' }) as HTMLSelectElement;
    expect(thinking.value).toBe('on');
    expect((screen.getByRole('textbox', { name: 'Thought budget (tokens)' }) as HTMLInputElement).value).toBe('512');
    const tools = screen.getByRole('checkbox', { name: 'Use tools from MCP servers' }) as HTMLInputElement;
    expect(tools.checked).toBe(false);

    // An empty budget: no limit.
    await userEvent.clear(screen.getByRole('textbox', { name: 'Thought budget (tokens)' }));
    await userEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(calls[0]?.input).toEqual({ id: 'c1', settings: { thinking: { enabled: true }, tools: false } }));

    await userEvent.selectOptions(thinking, 'Off');
    await userEvent.click(tools);
    await userEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(calls[1]?.input).toEqual({ id: 'c1', settings: { thinking: { enabled: false } } }));

    await userEvent.selectOptions(thinking, 'Model default');
    await userEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(calls[2]?.input).toEqual({ id: 'c1', settings: {} }));
  });

  it('refuses a budget that is not a whole number', async () => {
    const { calls } = renderReply({ content: 'Hi.' });
    await openSettings();
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Thinking' }), 'On');
    await userEvent.type(screen.getByRole('textbox', { name: 'Thought budget (tokens)' }), '1.5');
    await userEvent.click(screen.getByRole('button', { name: 'Save settings' }));
    expect(screen.getByRole('alert').textContent).toMatch(/Thought budget must be a whole number from 1 to 1048576/);
    expect(calls).toEqual([]);
  });
});
