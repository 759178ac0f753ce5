import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { GenerationStats, LoadedModel } from '../../shared/inference';
import type { ModelEntry } from '../../shared/library';
import { defaultSettings } from '../../shared/settings';
import { eachTestAt, giveElementsASize, renderApp, startApp } from './app-fixture';
import { GB, conversationFixture, createFakeHost, libraryOf, machineFixture, messageFixture, modelFixture, summaryOf } from './fake-host';

eachTestAt('#/hardware');
// The library and the thread are virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();

/** A Qwen2.5 model in the library, 7B unless told otherwise. */
function modelEntry(overrides: Partial<ModelEntry> & Pick<ModelEntry, 'id' | 'name'>): ModelEntry {
  return modelFixture({
    publisher: 'Qwen',
    architecture: 'qwen2',
    parameterCount: 7.6e9,
    quantization: 'Q4_K_M',
    sizeBytes: 4.4 * GB,
    contextLength: 32768,
    hasChatTemplate: true,
    license: 'apache-2.0',
    files: [`/m/${overrides.id}.gguf`],
    ...overrides,
  });
}

const big = modelEntry({ id: 'm1', name: 'Qwen2.5 7B Instruct' });
const small = modelEntry({ id: 'm2', name: 'Qwen2.5 0.5B Instruct', parameterCount: 0.5e9, sizeBytes: 0.4 * GB });

const loaded: LoadedModel = {
  path: '/m/m1.gguf',
  name: 'Qwen2.5 7B Instruct',
  architecture: 'qwen2',
  sizeBytes: 4.4 * GB,
  gpuLayers: 29,
  totalLayers: 29,
  contextSize: 8192,
  chatWrapper: 'QwenChatWrapper',
};

describe('Hardware: parallel replies', () => {
  it('saves the number of replies at once with the other engine settings, and refuses 0 and 17', async () => {
    const host = startApp();
    const controls = await screen.findByRole('region', { name: 'Engine settings' });
    const field = within(controls).getByRole('textbox', { name: 'Parallel replies' }) as HTMLInputElement;
    expect(field.value).toBe('4');
    expect(field.placeholder).toBe('4');
    const hint = document.getElementById(field.getAttribute('aria-describedby')!);
    expect(hint?.textContent).toBe(
      'Replies a model writes at once (chats and API requests), batched; fewer when memory is short. Each uses its own context.',
    );

    await userEvent.clear(field);
    await userEvent.type(field, '2');
    await userEvent.click(within(controls).getByRole('button', { name: 'Save and restart engine' }));
    await waitFor(() =>
      expect(host.calls).toContainEqual({
        method: 'settings.update',
        input: { inference: { backend: 'auto', threads: 0, maxVramPerGpuMiB: null, parallel: 2 } },
      }),
    );
    expect(await within(controls).findByText(/restarts with these settings/)).toBeTruthy();
    expect(field.value).toBe('2');

    const saves = () => host.calls.filter((c) => c.method === 'settings.update').length;
    for (const wrong of ['0', '17', '2.5']) {
      await userEvent.clear(field);
      await userEvent.type(field, wrong);
      await userEvent.click(within(controls).getByRole('button', { name: 'Save and restart engine' }));
      expect(await within(controls).findByText('Parallel replies must be a whole number from 1 to 16 (empty: 4).')).toBeTruthy();
      expect(field.getAttribute('aria-invalid')).toBe('true');
    }
    expect(saves()).toBe(1);

    // Empty: the default.
    await userEvent.clear(field);
    await userEvent.click(within(controls).getByRole('button', { name: 'Save and restart engine' }));
    await waitFor(() => expect(saves()).toBe(2));
    expect(host.calls.at(-1)!.input).toEqual({ inference: { backend: 'auto', threads: 0, maxVramPerGpuMiB: null, parallel: 4 } });
  });

  it('shows how many replies the loaded model writes at once, and why fewer when memory is short', async () => {
    const host = startApp();
    const engine = await screen.findByRole('region', { name: 'Inference engine' });
    expect(within(engine).queryByRole('group', { name: 'Loaded model' })).toBeNull();
    host.setInference({
      state: 'ready',
      backend: 'cuda',
      model: {
        ...loaded,
        parallel: 2,
        parallelNote: 'Memory allows 2 replies at once of the 4 asked for, each with an 8,192-token context.',
        speculative: 'prompt-lookup',
      },
    });
    const facts = await within(engine).findByRole('group', { name: 'Loaded model' });
    expect(within(facts).getByText('Up to 2 replies at once.')).toBeTruthy();
    expect(within(facts).getByRole('note').textContent).toBe(
      'Memory allows 2 replies at once of the 4 asked for, each with an 8,192-token context.',
    );
    expect(within(facts).getByText('Speculative decoding: prompt lookup')).toBeTruthy();
    expect(facts.textContent).toContain('Qwen2.5 7B Instruct is loaded: 29/29 layers on the GPU, 8,192-token context for each reply.');

    // A draft model in use; then one refused for its vocabulary (a warning note, no speculative line).
    host.setInference({ model: { ...loaded, parallel: 4, speculative: 'draft', draftModel: 'Qwen2.5 0.5B Instruct' } });
    await waitFor(() => expect(within(facts).getByText('Speculative decoding: draft model Qwen2.5 0.5B Instruct')).toBeTruthy());
    expect(within(facts).getByText('Up to 4 replies at once.')).toBeTruthy();
    expect(within(facts).queryByRole('note')).toBeNull();

    const refused = 'Llama 3.2 1B has a different vocabulary from Qwen2.5 7B Instruct: no draft model is used.';
    host.setInference({ model: { ...loaded, parallel: 1, speculativeNote: refused } });
    await waitFor(() => expect(within(facts).getByRole('note').textContent).toBe(refused));
    expect(within(facts).getByRole('note').className).toBe('notice');
    expect(within(facts).getByText('One reply at a time.')).toBeTruthy();
    expect(within(facts).queryByText(/^Speculative decoding:/)).toBeNull();

    host.setInference({ model: null });
    await waitFor(() => expect(within(engine).queryByRole('group', { name: 'Loaded model' })).toBeNull());
  });
});

describe('Models: speculative decoding per model', () => {
  it('offers off, prompt lookup and the other library models as drafts, and saves the whole map', async () => {
    window.location.hash = '#/models';
    const host = createFakeHost();
    // Another model's setting is kept whatever this one's becomes.
    host.pushSettings({ ...defaultSettings, inference: { ...defaultSettings.inference, speculative: { m2: { mode: 'prompt-lookup' } } } });
    host.setLibrary(libraryOf(big, small));
    host.setMachines([machineFixture()]);
    renderApp(host);

    const list = await screen.findByRole('list', { name: 'Models in your library' });
    const row = await within(list).findByRole('listitem', { name: 'Qwen2.5 7B Instruct' });
    const smallRow = within(list).getByRole('listitem', { name: 'Qwen2.5 0.5B Instruct' });
    expect(within(smallRow).getByText('prompt lookup')).toBeTruthy();
    // Models on other machines have no such option.
    const tower = await screen.findByRole('region', { name: /^On tower/ });
    expect(within(tower).queryByRole('button', { name: /^Options for/ })).toBeNull();

    const toggle = within(row).getByRole('button', { name: 'Options for Qwen2.5 7B Instruct' });
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    await userEvent.click(toggle);
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    const options = within(row).getByRole('group', { name: 'Options for Qwen2.5 7B Instruct' });
    expect(toggle.getAttribute('aria-controls')).toBe(options.id);
    const select = within(options).getByRole('combobox', { name: 'Speculative decoding for Qwen2.5 7B Instruct' }) as HTMLSelectElement;
    expect(select.value).toBe('off');
    expect([...select.options].map((o) => o.textContent)).toEqual([
      'Off',
      'Prompt lookup (for edits and summaries)',
      'Draft model: Qwen2.5 0.5B Instruct',
    ]);
    expect(document.getElementById(select.getAttribute('aria-describedby')!)?.textContent).toMatch(/a smaller model of the same family/);
    const save = within(options).getByRole('button', { name: 'Save speculative decoding for Qwen2.5 7B Instruct' }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);

    const saved = () => host.calls.filter((c) => c.method === 'settings.update').map((c) => c.input);
    await userEvent.selectOptions(select, 'Prompt lookup (for edits and summaries)');
    await userEvent.click(save);
    await waitFor(() =>
      expect(saved()).toEqual([{ inference: { speculative: { m2: { mode: 'prompt-lookup' }, m1: { mode: 'prompt-lookup' } } } }]),
    );
    expect(await within(options).findByRole('status')).toHaveProperty('textContent', expect.stringMatching(/^Saved\./));
    expect(within(row).getByText('prompt lookup')).toBeTruthy();

    await userEvent.selectOptions(select, 'Draft model: Qwen2.5 0.5B Instruct');
    await userEvent.click(save);
    await waitFor(() => expect(saved()).toHaveLength(2));
    expect(saved()[1]).toEqual({
      inference: { speculative: { m2: { mode: 'prompt-lookup' }, m1: { mode: 'draft', draftModelId: 'm2' } } },
    });
    await waitFor(() => expect(within(row).getByText('draft: Qwen2.5 0.5B Instruct')).toBeTruthy());
    expect(select.value).toBe('draft:m2');

    await userEvent.selectOptions(select, 'Off');
    await userEvent.click(save);
    await waitFor(() => expect(saved()).toHaveLength(3));
    expect(saved()[2]).toEqual({ inference: { speculative: { m2: { mode: 'prompt-lookup' } } } });
    await waitFor(() => expect(within(row).queryByText(/^draft:/)).toBeNull());

    await userEvent.click(toggle);
    expect(within(row).queryByRole('group', { name: 'Options for Qwen2.5 7B Instruct' })).toBeNull();
  });
});

describe('Chat: speculative decoding in the reply statistics', () => {
  it('says how many predicted tokens the model accepted, only when speculative decoding was on', async () => {
    window.location.hash = '';
    const conversation = conversationFixture({ title: 'Edits', modelId: 'm1', activeLeafId: 'r2' });
    const stats = (extra: Partial<GenerationStats> = {}): GenerationStats => ({
      promptTokens: 120,
      generatedTokens: 40,
      timeToFirstTokenMs: 120,
      tokensPerSecond: 30,
      totalMs: 1500,
      stopReason: 'eos',
      ...extra,
    });
    const messages = [
      messageFixture({ id: 'u1', role: 'user', content: 'Fix the typos.' }),
      messageFixture({ id: 'r1', role: 'assistant', parentId: 'u1', content: 'Plain reply.', stats: stats() }),
      messageFixture({ id: 'u2', role: 'user', parentId: 'r1', content: 'Again.' }),
      messageFixture({
        id: 'r2',
        role: 'assistant',
        parentId: 'u2',
        content: 'Predicted reply.',
        stats: stats({ predictedTokens: 32, acceptedPredictions: 25 }),
      }),
    ];
    const host = createFakeHost({
      'chats.list': () => [summaryOf(conversation, messages.length)],
      'chats.get': () => ({ conversation, messages, thread: messages.map((m) => m.id) }),
    });
    host.setLibrary(libraryOf(big));
    renderApp(host);
    await userEvent.click(within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: 'Chat' }));
    const thread = await screen.findByRole('list', { name: 'Messages' });
    await within(thread).findByText('Predicted reply.');
    const lines = within(thread)
      .getAllByLabelText('Reply statistics')
      .map((s) => s.textContent);
    expect(lines).toEqual([
      '40 tokens · 30.0 tokens/s · first token 120 ms',
      '40 tokens · 30.0 tokens/s · first token 120 ms · 25 of 32 predicted tokens accepted',
    ]);
  });
});
