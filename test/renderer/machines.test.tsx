import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessageRecord, Conversation } from '../../shared/chat';
import type { HostHandlers } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { RepoDetails } from '../../shared/hub';
import { UPLOAD_CHUNK_BYTES, type MachineInfo } from '../../shared/machines';
import { formatWhen } from '../../renderer/features/machines/machines';
import { eachTestAt, giveElementsASize, mockClipboard, mockConfirm, renderApp, startApp } from './app-fixture';
import {
  GB,
  at,
  conversationFixture,
  createFakeHost,
  libraryOf,
  machineFixture,
  messageFixture,
  modelFixture,
  summaryOf,
} from './fake-host';

eachTestAt('#/hardware');
// The library and the thread are virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();
afterEach(() => {
  vi.restoreAllMocks();
});

const localModel = modelFixture();

async function machinesPanel() {
  return screen.findByRole('region', { name: 'Machines' });
}

describe('Hardware → Machines: adding a machine', () => {
  it('pairs by code: the machine appears online with its hardware; a used code is refused with the host’s message', async () => {
    const host = startApp();
    const panel = await machinesPanel();
    expect(await within(panel).findByText('None yet: add one above.')).toBeTruthy();
    const code = within(panel).getByRole('textbox', { name: 'Pairing code' });
    const add = within(panel).getByRole('button', { name: 'Add' });
    expect((add as HTMLButtonElement).disabled).toBe(true);

    await userEvent.type(code, 'FH1-used-code-0000');
    await userEvent.click(add);
    expect((await within(panel).findByRole('alert')).textContent).toBe(
      'Could not pair: This pairing code was already used: make a new one on that machine.',
    );

    await userEvent.clear(code);
    await userEvent.type(code, 'FH1-GOODGOODGOOD');
    await userEvent.click(add);
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'machines.add', input: { code: 'FH1-GOODGOODGOOD' } }));
    expect(await within(panel).findByText('Added tower: it is listed under Other machines.')).toBeTruthy();
    expect(within(panel).queryByRole('alert')).toBeNull();
    expect((code as HTMLInputElement).value).toBe('');

    const item = within(panel).getByRole('listitem', { name: 'tower' });
    expect(within(item).getByText('Freehold')).toBeTruthy();
    expect(within(item).getByText('Online')).toBeTruthy();
    expect(within(item).getByText('192.168.1.20:4850')).toBeTruthy();
    expect(within(item).getByText('CUDA')).toBeTruthy();
    expect(within(item).getByText('NVIDIA GeForce RTX 4090')).toBeTruthy();
    expect(within(item).getByText('RAM 48.0 GB free of 64.0 GB · VRAM 20.0 GB free of 24.0 GB')).toBeTruthy();
    expect(within(item).getByText('Models').nextElementSibling?.textContent).toBe('1');
  });

  it('shows a refusal for a browser that is not on this computer', async () => {
    startApp({
      'machines.add': () => {
        throw new RpcError('forbidden', 'Machines can be added only from this computer (the desktop app or a browser on 127.0.0.1).');
      },
    });
    const panel = await machinesPanel();
    await userEvent.type(within(panel).getByRole('textbox', { name: 'Pairing code' }), 'FH1-ANYANYANYANY');
    await userEvent.click(within(panel).getByRole('button', { name: 'Add' }));
    expect((await within(panel).findByRole('alert')).textContent).toMatch(/only from this computer/);
  });

  it('adds an OpenAI-compatible server by URL, with its key in a password field and an optional name', async () => {
    const host = startApp();
    const panel = await machinesPanel();
    const form = within(panel).getByRole('form', { name: 'Or an OpenAI-compatible server' });
    const key = within(form).getByLabelText('API key (optional)');
    expect(key.getAttribute('type')).toBe('password');
    await userEvent.type(within(form).getByRole('textbox', { name: 'Server URL' }), 'ftp://nas');
    await userEvent.click(within(form).getByRole('button', { name: 'Add server' }));
    expect((await within(panel).findByRole('alert')).textContent).toMatch(/must start with http/);
    await userEvent.clear(within(form).getByRole('textbox', { name: 'Server URL' }));
    await userEvent.type(within(form).getByRole('textbox', { name: 'Server URL' }), 'http://nas:8080/v1');
    await userEvent.type(key, 'sk-secret');
    await userEvent.type(within(form).getByRole('textbox', { name: 'Name (optional)' }), 'nas');
    await userEvent.click(within(form).getByRole('button', { name: 'Add server' }));
    await waitFor(() =>
      expect(host.calls).toContainEqual({ method: 'machines.add', input: { url: 'http://nas:8080/v1', apiKey: 'sk-secret', name: 'nas' } }),
    );
    const item = await within(panel).findByRole('listitem', { name: 'nas' });
    expect(within(item).getByText('OpenAI-compatible server')).toBeTruthy();
    expect(within(item).getAllByText('not reported').length).toBeGreaterThan(0);
  });
});

describe('Hardware → Machines: state, live', () => {
  it('says each state in words: online, busy, connecting, offline since … retrying in N s, refused: why', async () => {
    const host = startApp();
    const panel = await machinesPanel();
    const since = new Date(Date.now() - 5 * 60_000);
    act(() =>
      host.setMachines([
        machineFixture({ id: 'a', name: 'tower', busy: true }),
        machineFixture({ id: 'b', name: 'attic', state: 'connecting', order: 1 }),
        machineFixture({
          id: 'c',
          name: 'laptop2',
          state: 'offline',
          since: since.toISOString(),
          retryAt: new Date(Date.now() + 12_000).toISOString(),
          error: 'connect ECONNREFUSED 192.168.1.30:4850',
          order: 2,
        }),
        machineFixture({ id: 'd', name: 'old-pc', state: 'refused', error: 'The pairing was revoked on old-pc.', order: 3 }),
      ]),
    );
    const item = (name: string) => within(panel).getByRole('listitem', { name });
    await waitFor(() => expect(within(item('tower')).getByText('Busy')).toBeTruthy());
    expect(within(item('attic')).getByText('Connecting…')).toBeTruthy();
    // Five minutes ago is yesterday just after midnight: then the date is shown too.
    const time = formatWhen(since.toISOString());
    const offline = within(item('laptop2')).getByText(/^Offline since/);
    await waitFor(() => expect(offline.textContent).toMatch(new RegExp(`^Offline since ${time} — retrying in (1[0-2]|[89]) s$`)));
    expect(within(item('laptop2')).getByText('connect ECONNREFUSED 192.168.1.30:4850')).toBeTruthy();
    expect(within(item('old-pc')).getByText('Refused: The pairing was revoked on old-pc.')).toBeTruthy();
    // The order the host gives: lower first.
    expect(
      within(within(panel).getByRole('list', { name: 'Other machines' }))
        .getAllByRole('heading', { level: 4 })
        .map((h) => h.textContent),
    ).toEqual(['tower', 'attic', 'laptop2', 'old-pc']);
    // The countdown moves on its own.
    await waitFor(() => expect(offline.textContent).not.toMatch(/retrying in 12 s$/), { timeout: 2500 });
  });

  it('gives the time alone for today, and the day too for an earlier day (just after midnight)', () => {
    const now = new Date(2026, 11, 7, 0, 2).getTime();
    const earlier = new Date(2026, 11, 7, 0, 1);
    const yesterday = new Date(2026, 11, 6, 23, 58);
    const hm = (d: Date) => d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    expect(formatWhen(earlier.toISOString(), now)).toBe(hm(earlier));
    expect(formatWhen(yesterday.toISOString(), now)).toBe(
      `${yesterday.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })}, ${hm(yesterday)}`,
    );
    expect(formatWhen(null, now)).toBe('never');
  });

  it('reconnects, renames, and removes a machine after confirming', async () => {
    const host = startApp();
    const panel = await machinesPanel();
    act(() => host.setMachines([machineFixture()]));
    const item = await within(panel).findByRole('listitem', { name: 'tower' });
    await userEvent.click(within(item).getByRole('button', { name: 'Reconnect tower' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'machines.reconnect', input: { id: 'tower1' } }));
    expect(await within(item).findByText('Connecting…')).toBeTruthy();

    await userEvent.click(within(item).getByRole('button', { name: 'Rename tower' }));
    const name = within(item).getByRole('textbox', { name: 'New name for tower' });
    await userEvent.clear(name);
    await userEvent.type(name, 'big box');
    await userEvent.click(within(item).getByRole('button', { name: 'Save name' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'machines.update', input: { id: 'tower1', name: 'big box' } }));
    const renamed = await within(panel).findByRole('listitem', { name: 'big box' });

    const confirm = mockConfirm(false, true);
    await userEvent.click(within(renamed).getByRole('button', { name: 'Remove big box' }));
    expect(host.calls.some((c) => c.method === 'machines.remove')).toBe(false);
    await userEvent.click(within(renamed).getByRole('button', { name: 'Remove big box' }));
    expect(confirm).toHaveBeenCalledTimes(2);
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'machines.remove', input: { id: 'tower1' } }));
    expect(await within(panel).findByText('Removed big box.')).toBeTruthy();
    expect(within(panel).queryByRole('listitem', { name: 'big box' })).toBeNull();
  });
});

describe('Hardware → Machines: sharing this machine', () => {
  it('the switch shares it and shows the address, a copyable one-time code, a new code, the fingerprint; paired machines can be revoked', async () => {
    const host = startApp();
    const panel = await machinesPanel();
    const toggle = await within(panel).findByRole('switch', { name: 'Share this machine' });
    expect((toggle as HTMLInputElement).checked).toBe(false);
    expect(within(panel).getByText(/^Not shared/)).toBeTruthy();
    expect(within(panel).queryByRole('group', { name: 'Pairing' })).toBeNull();

    await userEvent.click(toggle);
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'machines.share', input: { enabled: true } }));
    const pairing = await within(panel).findByRole('group', { name: 'Pairing' });
    expect((toggle as HTMLInputElement).checked).toBe(true);
    expect(within(pairing).getByText('192.168.1.10:4850')).toBeTruthy();
    const code = within(pairing).getByRole('textbox', { name: "This machine's pairing code" }) as HTMLInputElement;
    expect(code.readOnly).toBe(true);
    expect(code.value).toMatch(/^FH1-A+1$/);
    expect(within(pairing).getByText(/^Pairs one machine; expires at \d.+\.$/)).toBeTruthy();
    expect(within(pairing).getByText('q7F3 Zx0b Yw1u Tn2L…')).toBeTruthy();
    const written = mockClipboard();
    await userEvent.click(within(pairing).getByRole('button', { name: 'Copy the pairing code' }));
    expect(written).toEqual([code.value]);
    await userEvent.click(within(pairing).getByRole('button', { name: 'New code' }));
    await waitFor(() => expect(code.value).toMatch(/^FH1-A+2$/));

    expect(within(panel).getByText('No machine is paired with this one yet.')).toBeTruthy();
    act(() =>
      host.setSharing({
        clients: [
          { id: 'p1', name: 'laptop', pairedAt: at, lastSeenAt: new Date().toISOString(), connected: true },
          { id: 'p2', name: 'old-phone', pairedAt: at, lastSeenAt: null, connected: false },
        ],
      }),
    );
    const table = await within(panel).findByRole('table', { name: 'Paired machines' });
    expect(within(table).getByRole('row', { name: /^laptop .* now Connected/ })).toBeTruthy();
    expect(within(table).getByRole('row', { name: /^old-phone .* never Not connected/ })).toBeTruthy();
    mockConfirm(true);
    await userEvent.click(within(table).getByRole('button', { name: 'Revoke old-phone' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'machines.revoke', input: { id: 'p2' } }));
    await waitFor(() => expect(within(table).queryByRole('row', { name: /old-phone/ })).toBeNull());
  });

  it('shows the host’s refusal to share from a browser elsewhere', async () => {
    startApp({
      'machines.share': () => {
        throw new RpcError('forbidden', 'Sharing can be turned on only from this computer.');
      },
    });
    const panel = await machinesPanel();
    await userEvent.click(await within(panel).findByRole('switch', { name: 'Share this machine' }));
    expect((await within(panel).findByRole('alert')).textContent).toBe(
      'Could not share this machine: Sharing can be turned on only from this computer.',
    );
  });
});

/** Chat overrides that keep what the view creates and sends, so a conversation with a remote model can be followed. */
function chatOverrides(calls: Array<{ method: string; input: unknown }>): Partial<HostHandlers> {
  let conversation: Conversation | null = null;
  let messages: ChatMessageRecord[] = [];
  return {
    'chats.list': () => (conversation ? [summaryOf(conversation, messages.length)] : []),
    'chats.create': (input) => {
      calls.push({ method: 'chats.create', input });
      conversation = conversationFixture({ modelId: input.modelId ?? null, settings: input.settings ?? {} });
      return conversation;
    },
    'chats.send': (input) => {
      calls.push({ method: 'chats.send', input });
      const userMessage = messageFixture({ id: 'u1', role: 'user', content: input.text });
      const reply = messageFixture({
        id: 'r1',
        role: 'assistant',
        parentId: 'u1',
        content: 'Hello from the tower.',
        stats: {
          promptTokens: 12,
          generatedTokens: 5,
          tokensPerSecond: 88.5,
          timeToFirstTokenMs: 140,
          totalMs: 200,
          stopReason: 'eos',
        },
      });
      messages = [userMessage, reply];
      conversation = { ...conversation!, activeLeafId: 'r1' };
      return { userMessage, reply };
    },
    'chats.get': () => {
      if (!conversation) throw new RpcError('not_found', 'No such conversation.');
      return { conversation, messages, thread: messages.map((m) => m.id) };
    },
  };
}

describe('Chat: models on other machines', () => {
  it('groups the picker by machine (offline ones not choosable) and starts a conversation on a remote model', async () => {
    window.location.hash = '#/chat';
    const calls: Array<{ method: string; input: unknown }> = [];
    const host = createFakeHost(chatOverrides(calls));
    host.setLibrary(libraryOf(localModel));
    host.setMachines([
      machineFixture({ id: 'tower1', name: 'tower' }, [{}, { modelId: 'rm2', name: 'Llama 3.3 70B', fit: { ...noFit } }]),
      machineFixture({ id: 'attic1', name: 'attic', state: 'offline', order: 1 }, [{ modelId: 'a1', name: 'Gemma 3 27B' }]),
    ]);
    renderApp(host);
    const picker = (await screen.findByRole('combobox', { name: 'Model' })) as HTMLSelectElement;
    await waitFor(() => expect(picker.querySelectorAll('optgroup')).toHaveLength(3));
    const groups = [...picker.querySelectorAll('optgroup')].map((g) => ({
      label: g.label,
      options: [...g.querySelectorAll('option')].map((o) => `${o.textContent}${o.disabled ? ' [disabled]' : ''}`),
    }));
    expect(groups).toEqual([
      { label: 'This machine', options: ['stories260K'] },
      { label: 'tower', options: ['Qwen2.5 32B Instruct on tower — fits on GPU', "Llama 3.3 70B on tower — won't fit"] },
      { label: 'attic', options: ['Gemma 3 27B on attic (offline) [disabled]'] },
    ]);
    // Local models first: the last used (none yet) falls back to the library's.
    expect(picker.value).toBe('m1');

    await userEvent.selectOptions(picker, '@tower1/rm1');
    expect(picker.value).toBe('@tower1/rm1');
    const composer = screen.getByRole('textbox', { name: 'Message' });
    await userEvent.type(composer, 'Hello there{Enter}');
    await waitFor(() =>
      expect(calls).toContainEqual(
        expect.objectContaining({ method: 'chats.create', input: expect.objectContaining({ modelId: '@tower1/rm1' }) }),
      ),
    );
    await waitFor(() => expect(calls.some((c) => c.method === 'chats.send')).toBe(true));
    const thread = await screen.findByRole('list', { name: 'Messages' });
    expect(await within(thread).findByText('Hello from the tower.')).toBeTruthy();
    expect(within(thread).getByLabelText('Reply statistics').textContent).toMatch(/^5 tokens · 88\.5 tokens\/s · first token 140 ms/);
    // The conversation's picker shows the remote model, and where replies come from.
    await waitFor(() => expect((screen.getByRole('combobox', { name: 'Model' }) as HTMLSelectElement).value).toBe('@tower1/rm1'));
    expect(screen.getByText('Replies come from tower.')).toBeTruthy();

    // The machine goes offline: said in words, with when it retries.
    act(() =>
      host.setMachines([
        machineFixture({ id: 'tower1', name: 'tower', state: 'offline', retryAt: new Date(Date.now() + 30_000).toISOString() }),
      ]),
    );
    expect(await screen.findByText(/^tower: Offline since .* — retrying in \d+ s\. Replies fail until it answers again\.$/)).toBeTruthy();
  });

  it('with only remote models: no first-run card, the message box is open, and the first online remote model is chosen', async () => {
    window.location.hash = '#/chat';
    const host = createFakeHost();
    host.setMachines([machineFixture()]);
    renderApp(host);
    const picker = (await screen.findByRole('combobox', { name: 'Model' })) as HTMLSelectElement;
    await waitFor(() => expect(picker.value).toBe('@tower1/rm1'));
    expect(screen.queryByRole('region', { name: 'Get a model that fits this machine' })).toBeNull();
    expect(screen.getByRole('textbox', { name: 'Message' }).getAttribute('aria-describedby')).toBeFalsy();
  });
});

const noFit = {
  verdict: 'no' as const,
  neededBytes: 50 * GB,
  contextSize: 4096,
  freeVramBytes: 20 * GB,
  freeRamBytes: 48 * GB,
  explanation: 'Too big.',
};

describe('Models: other machines in the library and as download targets', () => {
  it('lists each machine’s models with size, quantization and fit; offline ones say so; Chat opens a conversation on the ref', async () => {
    window.location.hash = '#/models';
    const host = createFakeHost();
    host.setLibrary(libraryOf(localModel));
    host.setMachines([
      machineFixture(),
      machineFixture({ id: 'attic1', name: 'attic', state: 'refused', error: 'Its certificate changed.', order: 1 }, [
        { modelId: 'a1', name: 'Gemma 3 27B' },
      ]),
    ]);
    renderApp(host);
    const tower = await screen.findByRole('region', { name: /^On tower/ });
    const row = within(tower).getByRole('listitem', { name: 'Qwen2.5 32B Instruct on tower' });
    expect(within(row).getByText('Fits on GPU')).toBeTruthy();
    expect(within(row).getByText('qwen2 · Q4_K_M · 19.9 GB')).toBeTruthy();
    expect(within(tower).getByText('Online')).toBeTruthy();
    const attic = screen.getByRole('region', { name: /^On attic/ });
    expect(within(attic).getByText('Refused: Its certificate changed.')).toBeTruthy();
    expect((within(attic).getByRole('button', { name: 'Chat with Gemma 3 27B on attic' }) as HTMLButtonElement).disabled).toBe(true);

    await userEvent.click(within(row).getByRole('button', { name: 'Chat with Qwen2.5 32B Instruct on tower' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Chat' })).toBeTruthy();
    await waitFor(() => expect((screen.getByRole('combobox', { name: 'Model' }) as HTMLSelectElement).value).toBe('@tower1/rm1'));
  });

  it('Download onto: a Freehold machine that answers gets the download; its progress, pause, resume and cancel are in its section', async () => {
    window.location.hash = '#/models';
    const details: RepoDetails = {
      repo: 'replaced by the one asked for',
      revision: 'abc1234',
      license: 'apache-2.0',
      baseModel: null,
      gated: false,
      architecture: 'qwen2',
      parameterCount: 7.6e9,
      contextLength: 32768,
      fitProblem: null,
      quants: [
        {
          quantization: 'Q4_K_M',
          files: [{ name: 'qwen2.5-7b-instruct-q4_k_m.gguf', sizeBytes: 4.7 * GB, sha256: null }],
          totalBytes: 4.7 * GB,
          fit: {
            verdict: 'ram',
            neededBytes: 6 * GB,
            contextSize: 4096,
            freeVramBytes: 2 * GB,
            freeRamBytes: 9 * GB,
            explanation: 'Here: RAM.',
          },
          recommended: true,
        },
      ],
    };
    const host = createFakeHost({ 'hub.repo': ({ repo }) => ({ ...details, repo }) });
    host.setMachines([
      machineFixture(),
      machineFixture({ id: 'nas1', name: 'nas', kind: 'openai', order: 1 }),
      machineFixture({ id: 'attic1', name: 'attic', state: 'offline', order: 2 }),
    ]);
    renderApp(host);
    await userEvent.click(await screen.findByRole('tab', { name: 'Discover' }));
    await userEvent.click((await screen.findAllByRole('button', { name: /Qwen/ }))[0]!);
    const panel = await screen.findByRole('region', { name: /GGUF$/ });
    const repo = within(panel).getByRole('heading', { level: 3 }).textContent!;
    const onto = (await within(panel).findByRole('combobox', { name: 'Download onto' })) as HTMLSelectElement;
    // Only Freehold machines that answer now can take a download.
    expect([...onto.options].map((o) => o.textContent)).toEqual(['This machine', 'tower']);
    const table = await within(panel).findByRole('table', { name: 'Files by quantization' });
    expect(within(table).getByText('Fits in RAM, slower')).toBeTruthy();
    expect(within(table).getByText('recommended')).toBeTruthy();

    await userEvent.selectOptions(onto, 'tower1');
    expect(within(table).getByRole('columnheader', { name: 'On tower (estimate)' })).toBeTruthy();
    expect(within(table).getByText('Fits on GPU')).toBeTruthy();
    expect(within(table).queryByText('recommended')).toBeNull();
    await userEvent.click(within(table).getByRole('button', { name: 'Download Q4_K_M onto tower' }));
    await waitFor(() =>
      expect(host.calls.filter((c) => c.method !== 'settings.update')).toContainEqual({
        method: 'machines.download',
        input: { machineId: 'tower1', repo, file: 'qwen2.5-7b-instruct-q4_k_m.gguf' },
      }),
    );
    expect(await within(table).findByText('queued on tower — see Library')).toBeTruthy();

    await userEvent.click(screen.getByRole('tab', { name: 'Library' }));
    const tower = await screen.findByRole('region', { name: /^On tower/ });
    const label = `${repo} on tower`;
    expect(
      within(tower)
        .getByRole('progressbar', { name: `Download of ${label}` })
        .getAttribute('aria-valuenow'),
    ).toBe('25');
    await userEvent.click(within(tower).getByRole('button', { name: `Pause ${label}` }));
    await waitFor(() =>
      expect(host.calls).toContainEqual({ method: 'machines.downloadControl', input: { machineId: 'tower1', id: 'rd1', action: 'pause' } }),
    );
    expect(await within(tower).findByText('Paused')).toBeTruthy();
    await userEvent.click(within(tower).getByRole('button', { name: `Resume ${label}` }));
    expect(await within(tower).findByText('Downloading')).toBeTruthy();
    await userEvent.click(within(tower).getByRole('button', { name: `Cancel ${label}` }));
    await waitFor(() => expect(within(tower).queryByRole('progressbar')).toBeNull());

    // The Downloads tab lists it under its machine, canceled.
    await userEvent.click(screen.getByRole('tab', { name: 'Downloads' }));
    const elsewhere = await screen.findByRole('region', { name: 'On tower' });
    expect(within(elsewhere).getByText('Canceled')).toBeTruthy();
  });
});

/** A small .gguf-looking file: "GGUF", then bytes that differ from chunk to chunk (so an offset mix-up shows). */
function ggufFile(sizeBytes: number, name = 'tiny-model.gguf'): { file: File; bytes: Uint8Array } {
  const bytes = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) bytes[i] = (i * 31 + Math.floor(i / 4096)) % 251;
  bytes.set([0x47, 0x47, 0x55, 0x46]);
  return { file: new File([bytes], name), bytes };
}

/** Base64 the slow, obvious way, to check the UI's. */
function plainBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

async function libraryWith(machines: MachineInfo[], overrides: Partial<HostHandlers> = {}) {
  window.location.hash = '#/models';
  const host = createFakeHost(overrides);
  host.setMachines(machines);
  renderApp(host);
  const tower = await screen.findByRole('region', { name: /^On tower/ });
  return { host, tower };
}

describe('Models → Library: importing a file onto another machine', () => {
  it('sends a picked file in 512 KiB chunks, in order, base64, with progress; says when it is there, and the list shows it', async () => {
    const { host, tower } = await libraryWith([machineFixture()]);
    const size = 2 * UPLOAD_CHUNK_BYTES + 1000;
    const { file, bytes } = ggufFile(size);
    host.holdUploadChunks(1);
    const input = within(tower).getByLabelText('Import a .gguf file onto tower') as HTMLInputElement;
    expect(input.type).toBe('file');
    expect(input.accept).toBe('.gguf');
    await userEvent.upload(input, file);

    // The first chunk is through, the second held: the progress says so.
    const progress = (await within(tower).findByRole('progressbar', {
      name: 'Import of tiny-model.gguf onto tower',
    })) as HTMLProgressElement;
    await waitFor(() => expect(progress.value).toBe(UPLOAD_CHUNK_BYTES));
    expect(progress.max).toBe(size);
    expect(within(tower).getByText(/^512 KB of 1\.0 MB · 49%/)).toBeTruthy();
    expect(within(tower).getByText('Importing tiny-model.gguf onto tower')).toBeTruthy();
    act(() => host.releaseUploadChunks());

    expect((await within(tower).findByRole('status')).textContent).toBe('tiny-model is now on tower');
    expect(within(tower).queryByRole('progressbar')).toBeNull();
    const [upload] = host.uploads;
    expect(upload).toMatchObject({ machineId: 'tower1', name: 'tiny-model.gguf', sizeBytes: size, state: 'finished' });
    expect(upload!.chunks.map((c) => c.offset)).toEqual([0, UPLOAD_CHUNK_BYTES, 2 * UPLOAD_CHUNK_BYTES]);
    expect(upload!.chunks.map((c) => c.data)).toEqual([
      plainBase64(bytes.subarray(0, UPLOAD_CHUNK_BYTES)),
      plainBase64(bytes.subarray(UPLOAD_CHUNK_BYTES, 2 * UPLOAD_CHUNK_BYTES)),
      plainBase64(bytes.subarray(2 * UPLOAD_CHUNK_BYTES)),
    ]);
    expect(host.calls.filter((c) => c.method.startsWith('machines.upload')).map((c) => c.method)).toEqual([
      'machines.uploadBegin',
      'machines.uploadChunk',
      'machines.uploadChunk',
      'machines.uploadChunk',
      'machines.uploadFinish',
    ]);
    // The machine's list, from onMachinesChanged: one more model.
    expect(await within(tower).findByRole('listitem', { name: 'tiny-model on tower' })).toBeTruthy();
    expect(within(tower).getByRole('heading', { level: 2 }).textContent).toMatch(/2 models/);
  });

  it('a file dropped on a machine’s section goes to that machine only, not to this machine’s library', async () => {
    const fetchSpy = vi.spyOn(window, 'fetch');
    const { host, tower } = await libraryWith([machineFixture()]);
    const { file } = ggufFile(1000, 'dropped.gguf');
    fireEvent.dragOver(tower, { dataTransfer: { files: [file], dropEffect: 'none' } });
    expect(tower.className).toMatch(/drop-target-over/);
    expect(screen.getByRole('region', { name: 'Models' }).className).not.toMatch(/drop-over/);
    fireEvent.drop(tower, { dataTransfer: { files: [file] } });
    expect((await within(tower).findByRole('status')).textContent).toBe('dropped is now on tower');
    expect(host.uploads.map((u) => u.name)).toEqual(['dropped.gguf']);
    expect(tower.className).not.toMatch(/drop-target-over/);
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(screen.queryByRole('list', { name: 'Import results' })).toBeNull();
    expect(host.calls.some((c) => c.method === 'models.import')).toBe(false);
  });

  it('shows the machine’s refusal in an alert and stops; a file that is not GGUF is not sent at all', async () => {
    const { host, tower } = await libraryWith([machineFixture()]);
    host.failUpload({ chunk: 1 }, new RpcError('unavailable', 'Not enough space on tower: 600 KB free, 1.0 MB needed.'));
    await userEvent.upload(within(tower).getByLabelText('Import a .gguf file onto tower'), ggufFile(UPLOAD_CHUNK_BYTES + 100_000).file);
    expect((await within(tower).findByRole('alert')).textContent).toBe(
      'Could not import tiny-model.gguf onto tower: Not enough space on tower: 600 KB free, 1.0 MB needed.',
    );
    expect(within(tower).queryByRole('progressbar')).toBeNull();
    expect(host.calls.some((c) => c.method === 'machines.uploadFinish')).toBe(false);
    // What arrived is dropped there.
    await waitFor(() =>
      expect(host.calls).toContainEqual({ method: 'machines.uploadCancel', input: { machineId: 'tower1', uploadId: 'up1' } }),
    );
    expect(host.uploads[0]!.chunks).toHaveLength(1);

    const notGguf = new File([new TextEncoder().encode('PK\u0003\u0004 a zip, not a model')], 'notes.gguf');
    await userEvent.upload(within(tower).getByLabelText('Import a .gguf file onto tower'), notGguf);
    expect((await within(tower).findByRole('alert')).textContent).toBe(
      'Could not import notes.gguf onto tower: This is not a GGUF model file: it does not start with "GGUF".',
    );
    expect(host.uploads).toHaveLength(1);

    // The machine went offline at begin: its words, and nothing sent.
    host.failUpload('begin', new RpcError('unavailable', 'tower is not answering: connect ECONNREFUSED 192.168.1.20:4850'));
    await userEvent.upload(within(tower).getByLabelText('Import a .gguf file onto tower'), ggufFile(1000).file);
    expect((await within(tower).findByRole('alert')).textContent).toMatch(
      /^Could not import tiny-model\.gguf onto tower: tower is not answering/,
    );
    expect(host.uploads).toHaveLength(1);
  });

  it('Cancel stops sending and tells the machine to drop what it has', async () => {
    const { host, tower } = await libraryWith([machineFixture()]);
    host.holdUploadChunks(1);
    await userEvent.upload(within(tower).getByLabelText('Import a .gguf file onto tower'), ggufFile(3 * UPLOAD_CHUNK_BYTES).file);
    const progress = (await within(tower).findByRole('progressbar', {
      name: 'Import of tiny-model.gguf onto tower',
    })) as HTMLProgressElement;
    await waitFor(() => expect(progress.value).toBe(UPLOAD_CHUNK_BYTES));
    const cancel = within(tower).getByRole('button', { name: 'Cancel importing tiny-model.gguf onto tower' }) as HTMLButtonElement;
    await userEvent.click(cancel);
    expect(cancel.textContent).toBe('Cancelling…');
    expect(cancel.disabled).toBe(true);
    act(() => host.releaseUploadChunks());
    expect((await within(tower).findByRole('status')).textContent).toBe('Import of tiny-model.gguf onto tower cancelled.');
    await waitFor(() =>
      expect(host.calls).toContainEqual({ method: 'machines.uploadCancel', input: { machineId: 'tower1', uploadId: 'up1' } }),
    );
    expect(host.uploads[0]).toMatchObject({ state: 'cancelled' });
    // The chunk on its way when Cancel was pressed was the last one sent.
    expect(host.uploads[0]!.chunks).toHaveLength(2);
    expect(host.calls.some((c) => c.method === 'machines.uploadFinish')).toBe(false);
    expect(within(tower).queryByRole('progressbar')).toBeNull();
  });

  it('only a Freehold machine that answers takes files', async () => {
    await libraryWith([
      machineFixture(),
      machineFixture({ id: 'nas1', name: 'nas', kind: 'openai', order: 1 }),
      machineFixture({ id: 'attic1', name: 'attic', state: 'offline', order: 2 }),
    ]);
    const nas = screen.getByRole('region', { name: /^On nas/ });
    expect(within(nas).queryByLabelText(/^Import a \.gguf file/)).toBeNull();
    const attic = screen.getByRole('region', { name: /^On attic/ });
    expect((within(attic).getByLabelText('Import a .gguf file onto attic') as HTMLInputElement).disabled).toBe(true);
    expect(within(attic).getByText('Files can be imported onto attic when it answers again.')).toBeTruthy();
  });
});
