import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ChatMessageRecord, Conversation, SendInput } from '../../shared/chat';
import type { HostHandlers } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import { eachTestAt, giveElementsASize, renderApp } from './app-fixture';
import { conversationFixture, createFakeHost, libraryOf, messageFixture, modelFixture, summaryOf } from './fake-host';

eachTestAt('#/chat');
// The thread is virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
const seeing = modelFixture({
  id: 'v1',
  name: 'Tiny Vision',
  files: ['/m/vision.gguf'],
  projector: { file: '/m/mmproj.gguf', sizeBytes: 1000, projectorType: 'mlp', vision: true, audio: false, imageTokens: 16 },
});
const plain = modelFixture({ id: 'm1', name: 'Plain Stories' });

const png = (name: string) => new File([PNG], name, { type: 'image/png' });
const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** A conversation on `modelId` whose sends are recorded; `refuse` makes the next send fail as the host refuses files. */
function chatHost(modelId: string, messages: ChatMessageRecord[] = []) {
  const conversation: Conversation = conversationFixture({
    modelId,
    title: 'Pictures',
    activeLeafId: messages.at(-1)?.id ?? null,
  });
  const sent: SendInput[] = [];
  const state = { refuse: null as RpcError | null };
  const overrides: Partial<HostHandlers> = {
    'chats.list': () => [summaryOf(conversation, messages.length)],
    'chats.get': () => ({ conversation, messages, thread: messages.map((m) => m.id) }),
    'chats.send': (input) => {
      sent.push(input);
      if (state.refuse) throw state.refuse;
      const userMessage = messageFixture({ id: `u${sent.length}`, role: 'user', content: input.text });
      const reply = messageFixture({ id: `r${sent.length}`, role: 'assistant', parentId: userMessage.id, content: 'A picture.' });
      return { userMessage, reply };
    },
    'chats.attachment': ({ id }) => ({ id, name: `${id}.png`, mime: 'image/png', data: base64(PNG) }),
  };
  const host = createFakeHost(overrides);
  host.setLibrary(libraryOf(plain, seeing));
  return { host, sent, state };
}

const filePicker = () => document.querySelector<HTMLInputElement>('input[type=file][aria-label="Image or audio files to attach"]')!;

describe('Chat: images and audio in the message box', () => {
  it('attaches by the button, shows each file with Remove, and sends them with the text', async () => {
    const { host, sent } = chatHost('v1');
    renderApp(host);
    const attach = await screen.findByRole('button', { name: 'Attach image' });
    expect(filePicker().accept).toBe('image/png,image/jpeg,image/webp,image/gif,audio/wav,audio/mpeg');
    await waitFor(() =>
      expect(document.getElementById(attach.getAttribute('aria-describedby')!)?.textContent).toBe(
        'Tiny Vision sees images: attach PNG, JPEG, WebP or GIF (up to 8, 24 MiB a message).',
      ),
    );
    await userEvent.upload(filePicker(), [png('one.png'), png('two.png')]);
    const previews = await screen.findByRole('list', { name: 'Attached files' });
    await waitFor(() => expect(within(previews).getAllByRole('listitem')).toHaveLength(2));
    expect(within(previews).getByRole('img', { name: 'one.png' }).getAttribute('src')).toBe(`data:image/png;base64,${base64(PNG)}`);
    // The context gauge estimates what they will cost before they are sent.
    expect(await screen.findByText('attached: about 32 tokens')).toBeTruthy();

    await userEvent.click(within(previews).getByRole('button', { name: 'Remove one.png' }));
    expect(within(previews).queryByRole('listitem', { name: 'one.png' })).toBeNull();
    await userEvent.type(screen.getByRole('textbox', { name: 'Message' }), 'What is this?{Enter}');
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toEqual({
      conversationId: 'c1',
      parentId: null,
      text: 'What is this?',
      attachments: [{ name: 'two.png', data: base64(PNG) }],
    });
    expect(screen.queryByRole('list', { name: 'Attached files' })).toBeNull();
  });

  it('attaches a dropped file and a pasted image; an image alone can be sent', async () => {
    const { host, sent } = chatHost('v1');
    renderApp(host);
    const box = await screen.findByRole('textbox', { name: 'Message' });
    fireEvent.drop(box, { dataTransfer: { files: [png('dropped.png')], types: ['Files'] } });
    fireEvent.paste(box, { clipboardData: { files: [png('image.png')], types: ['Files'], getData: () => '' } });
    const previews = await screen.findByRole('list', { name: 'Attached files' });
    await waitFor(() =>
      expect(
        within(previews)
          .getAllByRole('listitem')
          .map((li) => li.getAttribute('aria-label')),
      ).toEqual(['dropped.png', 'image.png']),
    );
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]!.text).toBe('');
    expect(sent[0]!.attachments!.map((a) => a.name)).toEqual(['dropped.png', 'image.png']);
  });

  it('shows a refusal beside the message and gives the text and files back; too many files are refused before sending', async () => {
    const { host, sent, state } = chatHost('m1');
    renderApp(host);
    const attach = await screen.findByRole('button', { name: 'Attach image' });
    // A text-only model: attaching is allowed, and the button says what happens and which models see.
    await waitFor(() =>
      expect(document.getElementById(attach.getAttribute('aria-describedby')!)?.textContent).toBe(
        'Plain Stories takes text only: a message with an image is not sent; models in your library that see: Tiny Vision.',
      ),
    );
    state.refuse = new RpcError(
      'invalid_input',
      'Plain Stories cannot see images; nothing was sent. Models in your library that can: Tiny Vision.',
      { attachments: true, problem: 'model' },
    );
    await userEvent.upload(filePicker(), [png('cat.png')]);
    await screen.findByRole('listitem', { name: 'cat.png' });
    const box = screen.getByRole('textbox', { name: 'Message' }) as HTMLTextAreaElement;
    await userEvent.type(box, 'Look{Enter}');
    const refusal = await screen.findByRole('alert');
    expect(refusal.textContent).toBe('Plain Stories cannot see images; nothing was sent. Models in your library that can: Tiny Vision.');
    expect(refusal.id).toBe('composer-refusal');
    expect(box.getAttribute('aria-describedby')).toContain('composer-refusal');
    expect(box.value).toBe('Look');
    expect(screen.getByRole('listitem', { name: 'cat.png' })).toBeTruthy();
    expect(sent).toHaveLength(1);

    // A damaged file, refused by the host with its reason.
    state.refuse = new RpcError('invalid_input', 'cat.png is a damaged PNG image and cannot be read (it does not decode)', {
      attachments: true,
      problem: 'corrupt',
    });
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toMatch(/^cat\.png is a damaged PNG image/));

    // Nine files: not attached, nothing sent.
    await userEvent.upload(
      filePicker(),
      Array.from({ length: 8 }, (_, i) => png(`p${i}.png`)),
    );
    expect((await screen.findByRole('alert')).textContent).toBe('Not attached: 9 files in one message; the most is 8.');
    expect(screen.getAllByRole('listitem', { name: /\.png$/ })).toHaveLength(1);
    expect(sent).toHaveLength(2);
  });
});

describe('Chat: images in the thread', () => {
  it('shows thumbnails loaded through chats.attachment, opens one full size and closes it with Escape; the gauge counts image tokens', async () => {
    const withImage = messageFixture({
      id: 'u1',
      role: 'user',
      content: 'Look at this',
      attachments: [
        { id: 'a1', kind: 'image', mime: 'image/png', name: 'gradient.png', bytes: 12, width: 32, height: 32 },
        { id: 'a2', kind: 'audio', mime: 'audio/wav', name: 'hello.wav', bytes: 3244 },
      ],
    });
    const reply = messageFixture({
      id: 'r1',
      role: 'assistant',
      parentId: 'u1',
      content: 'A gradient.',
      stats: {
        promptTokens: 30,
        generatedTokens: 4,
        tokensPerSecond: 50,
        timeToFirstTokenMs: 20,
        totalMs: 100,
        stopReason: 'eos',
        contextSize: 512,
        contextTokens: 34,
        mediaTokens: 16,
      },
    });
    const { host } = chatHost('v1', [withImage, reply]);
    renderApp(host);
    const thread = await screen.findByRole('list', { name: 'Messages' });
    const open = await within(thread).findByRole('button', { name: 'Open gradient.png full size' });
    await waitFor(() => expect(within(open).getByRole('img', { name: 'gradient.png' })).toBeTruthy());
    const player = within(thread).getByLabelText('Play hello.wav') as HTMLAudioElement;
    expect(player.tagName).toBe('AUDIO');
    expect(player.controls).toBe(true);
    expect(screen.getByText('images: 16 tokens')).toBeTruthy();

    await userEvent.click(open);
    const dialog = await screen.findByRole('dialog', { name: 'gradient.png' });
    expect(within(dialog).getByRole('img', { name: 'gradient.png' })).toBeTruthy();
    act(() => {
      fireEvent.keyDown(dialog, { key: 'Escape' });
    });
    await waitFor(() => expect(screen.queryByRole('dialog', { name: 'gradient.png' })).toBeNull());
  });
});
