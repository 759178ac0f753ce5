import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ChatMessageRecord, Conversation } from '../../shared/chat';
import type { HostHandlers } from '../../shared/contract';
import type { ReplySources } from '../../shared/documents';
import type { DownloadJob } from '../../shared/hub';
import { eachTestAt, giveElementsASize, renderApp } from './app-fixture';
import { conversationFixture, createFakeHost, libraryOf, messageFixture, modelFixture, summaryOf } from './fake-host';

eachTestAt('#/chat');
// The thread is virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();

const model = modelFixture({ id: 'm1', name: 'Qwen3 4B', hasChatTemplate: true });
const pdf = (name = 'report.pdf') => new File(['%PDF-1.4 Blue whales eat krill.'], name, { type: 'application/pdf' });
const documentPicker = () => document.querySelector<HTMLInputElement>('input[type=file][aria-label="Documents to attach to this chat"]')!;

/** A chat host: conversation "c1" with these messages (none: no conversation yet, and chats.create makes "c9"). */
function chatHost(messages: ChatMessageRecord[] | null, more: Partial<HostHandlers> = {}) {
  let conversation: Conversation | null = messages
    ? conversationFixture({ modelId: 'm1', title: 'Whales', activeLeafId: messages.at(-1)?.id ?? null })
    : null;
  const created: unknown[] = [];
  const host = createFakeHost({
    'chats.list': () => (conversation ? [summaryOf(conversation, messages?.length ?? 0)] : []),
    'chats.get': ({ id }) => {
      if (!conversation || conversation.id !== id) throw new Error('No such conversation.');
      return { conversation, messages: messages ?? [], thread: (messages ?? []).map((m) => m.id) };
    },
    'chats.create': (input) => {
      created.push(input);
      conversation = conversationFixture({ id: 'c9', modelId: input.modelId ?? null });
      return conversation;
    },
    ...more,
  });
  host.setLibrary(libraryOf(model));
  return { host, created };
}

const uploads = (host: ReturnType<typeof createFakeHost>) => host.calls.filter((c) => c.method === 'docs.upload').map((c) => c.input);

const sources: ReplySources = {
  mode: 'retrieved',
  passages: [
    { n: 1, documentId: 'd1', chunkId: 11, name: 'whales.pdf', page: 1, text: 'Blue whales eat krill, tiny crustaceans of the cold seas.' },
    { n: 2, documentId: 'd1', chunkId: 12, name: 'whales.pdf', page: 2, heading: 'Migration', text: 'They travel far every year.' },
  ],
  cited: [1],
  files: 1,
};

describe('Chat: documents attached to a conversation', () => {
  it('uploads a document with the conversation id, and shows its reading until "N chunks"', async () => {
    const { host } = chatHost([]);
    renderApp(host);
    await screen.findByRole('button', { name: 'Attach documents' });
    expect(documentPicker().accept).toContain('.pdf');
    expect(documentPicker().accept).toContain('.md');
    await userEvent.upload(documentPicker(), pdf());
    await waitFor(() => expect(uploads(host)).toEqual([{ name: 'report.pdf', data: '44 base64 characters', conversationId: 'c1' }]));

    const list = await screen.findByRole('list', { name: 'Documents in this chat' });
    const row = await within(list).findByRole('listitem', { name: 'report.pdf' });
    await waitFor(() => expect(within(row).getByRole('status').textContent).toBe('queued'));
    host.docsProgress({ documentId: 'd1', status: 'indexing', pagesRead: 3, pages: 12, chunks: 0, embedded: 0 });
    await waitFor(() => expect(within(row).getByRole('status').textContent).toBe('reading page 3 of 12'));
    expect(within(row).getByRole('progressbar', { name: 'Progress of report.pdf' })).toBeTruthy();
    host.docsProgress({ documentId: 'd1', status: 'indexed', pagesRead: 12, pages: 12, chunks: 42, embedded: 0 });
    await waitFor(() => expect(within(row).getByRole('status').textContent).toBe('42 chunks'));
    expect(within(row).queryByRole('button', { name: 'Cancel indexing report.pdf' })).toBeNull();
    expect(within(row).getByRole('button', { name: 'Remove report.pdf' })).toBeTruthy();
  });

  it('Cancel calls docs.cancel while a document waits; Remove calls docs.remove', async () => {
    const { host } = chatHost([]);
    renderApp(host);
    await screen.findByRole('button', { name: 'Attach documents' });
    await userEvent.upload(documentPicker(), [pdf('report.pdf'), pdf('notes.pdf')]);
    await userEvent.click(await screen.findByRole('button', { name: 'Cancel indexing report.pdf' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'docs.cancel', input: { id: 'd1' } }));
    const row = screen.getByRole('listitem', { name: 'report.pdf' });
    await waitFor(() => expect(within(row).getByRole('status').textContent).toBe('cancelled'));
    await userEvent.click(screen.getByRole('button', { name: 'Remove notes.pdf' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'docs.remove', input: { id: 'd2' } }));
    await waitFor(() => expect(screen.queryByRole('listitem', { name: 'notes.pdf' })).toBeNull());
  });

  it('in a new chat, creates the conversation first; a document dropped on the box goes to it, an image stays with the message', async () => {
    const { host, created } = chatHost(null);
    renderApp(host);
    const box = await screen.findByRole('textbox', { name: 'Message' });
    const png = new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47])], 'pic.png', { type: 'image/png' });
    fireEvent.drop(box, { dataTransfer: { files: [pdf(), png], types: ['Files'] } });
    await waitFor(() => expect(created).toEqual([{ modelId: 'm1', settings: { temperature: 0.7, maxTokens: 512 } }]));
    await waitFor(() => expect(uploads(host)).toEqual([{ name: 'report.pdf', data: '44 base64 characters', conversationId: 'c9' }]));
    expect(await screen.findByRole('listitem', { name: 'report.pdf' })).toBeTruthy();
    const previews = await screen.findByRole('list', { name: 'Attached files' });
    expect(within(previews).getByRole('listitem', { name: 'pic.png' })).toBeTruthy();
  });

  it('turns a collection on for the chat', async () => {
    const { host } = chatHost([]);
    host.setDocs({
      collections: [{ id: 'k1', name: 'Handbook', folders: [], documents: 3, chunks: 30, createdAt: '2026-01-01T00:00:00.000Z' }],
    });
    renderApp(host);
    await userEvent.click(await screen.findByText('Collections: none on'));
    await userEvent.click(screen.getByRole('checkbox', { name: /Handbook/ }));
    await waitFor(() =>
      expect(host.calls).toContainEqual({ method: 'docs.setChatCollections', input: { conversationId: 'c1', collectionIds: ['k1'] } }),
    );
    expect(await screen.findByText('Collections: Handbook')).toBeTruthy();
  });
});

describe('Chat: the sources of a reply', () => {
  const reply = messageFixture({
    id: 'r1',
    parentId: 'u1',
    role: 'assistant',
    content: 'Whales eat krill [1]. Ask me more [7]. In code: `see [1]`',
    sources,
  });
  const thread = [messageFixture({ id: 'u1', role: 'user', content: 'What do whales eat?' }), reply];

  it('lists "2 passages from 1 file"; a cited [1] opens its passage, an ungiven [7] and code stay text', async () => {
    const { host } = chatHost(thread);
    renderApp(host);
    const answer = await screen.findByRole('listitem', { name: 'Assistant' });
    expect(within(answer).getByText('2 passages from 1 file')).toBeTruthy();
    const citation = await within(answer).findByRole('button', { name: 'Source 1: whales.pdf, page 1' });
    expect(citation.textContent).toBe('[1]');
    expect(within(answer).queryByRole('button', { name: /Source 7/ })).toBeNull();
    expect(within(answer).getAllByRole('button', { name: /^Source / })).toHaveLength(1);
    expect(answer.textContent).toContain('Ask me more [7].');
    expect(within(answer).getByText('see [1]').tagName).toBe('CODE');

    await userEvent.click(citation);
    const dialog = await screen.findByRole('dialog', { name: '[1] whales.pdf' });
    expect(within(dialog).getByText('page 1')).toBeTruthy();
    expect(within(dialog).getByText(sources.passages[0]!.text)).toBeTruthy();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Close' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());

    // The list under the reply opens every passage, cited or not.
    await userEvent.click(within(answer).getByText('2 passages from 1 file'));
    const passages = within(answer).getByRole('list', { name: 'Passages given to the model' });
    expect(within(passages).getByText('cited')).toBeTruthy();
    await userEvent.click(within(passages).getByRole('button', { name: 'Read passage 2: whales.pdf, page 2' }));
    const second = await screen.findByRole('dialog', { name: '[2] whales.pdf' });
    expect(within(second).getByText('page 2 · Migration')).toBeTruthy();
    expect(within(second).getByText('They travel far every year.')).toBeTruthy();
  });
});

describe('Settings → Documents', () => {
  it('offers an embedding model to download when the library has none, and starts its download', async () => {
    window.location.hash = '#/settings';
    const started: unknown[] = [];
    const host = createFakeHost({
      'downloads.start': (input) => {
        started.push(input);
        const job: DownloadJob = {
          id: 'dl1',
          repo: input.repo,
          revision: 'main',
          quantization: input.quantization ?? null,
          files: [],
          state: 'downloading',
          bytesDone: 100 * 1024 ** 2,
          totalBytes: 400 * 1024 ** 2,
          bytesPerSecond: 0,
          etaSeconds: 0,
          error: null,
          attempts: 0,
          lastRetry: null,
          modelId: null,
          createdAt: '2026-01-01T00:00:00.000Z',
        };
        return job;
      },
    });
    renderApp(host);
    const offer = await screen.findByRole('region', { name: 'Find passages by meaning' });
    const download = within(offer).getByRole('button', { name: /^Download / });
    const name = download.textContent!.replace(/^Download /, '');
    expect(['Qwen3-Embedding 0.6B', 'EmbeddingGemma 300M']).toContain(name);
    await userEvent.click(download);
    await waitFor(() => expect(started).toHaveLength(1));
    expect(started[0]).toEqual(
      name.startsWith('Qwen3')
        ? { repo: 'Qwen/Qwen3-Embedding-0.6B-GGUF', quantization: 'Q8_0' }
        : { repo: 'ggml-org/embeddinggemma-300M-GGUF', quantization: 'Q8_0' },
    );
    expect(await within(offer).findByText('100 MB of 400 MB')).toBeTruthy();
  });

  it('chooses the embedding model with docs.setEmbedding, and makes a collection with watched folders', async () => {
    window.location.hash = '#/settings';
    const host = createFakeHost();
    host.setDocs({ embedding: { choices: [{ id: 'e1', name: 'Qwen3 Embedding 0.6B' }], missing: 12 } });
    renderApp(host);
    const select = await screen.findByRole('combobox', { name: 'Embedding model' });
    expect((select as HTMLSelectElement).value).toBe('');
    expect(within(select).getByRole('option', { name: 'None (keywords only)' })).toBeTruthy();
    await userEvent.selectOptions(select, 'e1');
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'docs.setEmbedding', input: { modelId: 'e1' } }));
    expect(await screen.findByText('768-dimension vectors · 12 chunks waiting for a vector')).toBeTruthy();

    const form = screen.getByRole('form', { name: 'New collection' });
    expect(within(form).getByText(/Folders are watched/)).toBeTruthy();
    await userEvent.type(within(form).getByRole('textbox', { name: 'Name' }), 'Handbook');
    await userEvent.type(within(form).getByRole('textbox', { name: /Folders/ }), '/srv/handbook{Enter}/srv/policies');
    await userEvent.click(within(form).getByRole('button', { name: 'Create collection' }));
    await waitFor(() =>
      expect(host.calls).toContainEqual({
        method: 'docs.createCollection',
        input: { name: 'Handbook', folders: ['/srv/handbook', '/srv/policies'] },
      }),
    );
    const collection = await screen.findByRole('listitem', { name: 'Handbook' });
    expect(within(collection).getByText(/Watching the folders/)).toBeTruthy();
    expect(within(collection).getByRole('button', { name: 'Remove collection Handbook' })).toBeTruthy();
  });
});
