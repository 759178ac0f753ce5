import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { LoadedModel } from '../../shared/inference';
import { defaultSettings } from '../../shared/settings';
import { eachTestAt, giveElementsASize, renderApp, startApp } from './app-fixture';
import { createFakeHost, libraryOf, modelFixture } from './fake-host';

eachTestAt('#/models');
// The library is virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();

const stories = modelFixture({ id: 'm1', name: 'stories260K' });
const other = modelFixture({ id: 'm2', name: 'other', files: ['/m/other.gguf'] });

describe('Models → Options → Engine', () => {
  it('offers Auto, node-llama-cpp and llama.cpp’s server, shows the saved one and saves the whole map', async () => {
    const host = createFakeHost();
    host.pushSettings({ ...defaultSettings, inference: { ...defaultSettings.inference, engines: { m2: 'server' } } });
    host.setLibrary(libraryOf(stories, other));
    renderApp(host);
    const list = await screen.findByRole('list', { name: 'Models in your library' });
    const row = await within(list).findByRole('listitem', { name: 'stories260K' });
    await userEvent.click(within(row).getByRole('button', { name: 'Options for stories260K' }));
    const options = within(row).getByRole('group', { name: 'Options for stories260K' });
    const select = within(options).getByRole('combobox', { name: 'Engine for stories260K' }) as HTMLSelectElement;
    expect(select.value).toBe('auto');
    expect([...select.options].map((o) => o.textContent)).toEqual([
      'Auto (node-llama-cpp for this model)',
      'node-llama-cpp',
      'llama.cpp’s server',
    ]);
    expect(document.getElementById(select.getAttribute('aria-describedby')!)?.textContent).toMatch(/run by Freehold on this computer only/);
    const save = within(options).getByRole('button', { name: 'Save the engine for stories260K' }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    await userEvent.selectOptions(select, 'llama.cpp’s server');
    await userEvent.click(save);
    const saved = () => host.calls.filter((c) => c.method === 'settings.update').map((c) => c.input);
    await waitFor(() => expect(saved()).toEqual([{ inference: { engines: { m2: 'server', m1: 'server' } } }]));
    expect((await within(options).findByRole('status')).textContent).toBe(
      'Saved: stories260K runs on llama.cpp’s server. A loaded model moves now.',
    );
    await userEvent.selectOptions(select, 'Auto (node-llama-cpp for this model)');
    await userEvent.click(save);
    await waitFor(() => expect(saved()[1]).toEqual({ inference: { engines: { m2: 'server' } } }));
  });

  it('Auto names llama.cpp’s server for a model with a projector', async () => {
    const host = createFakeHost();
    const seeing = modelFixture({
      id: 'm3',
      name: 'tiny vision',
      files: ['/m/vision.gguf'],
      projector: { file: '/m/mmproj.gguf', sizeBytes: 1000, projectorType: 'mlp', vision: true, audio: false, imageTokens: 16 },
    });
    host.setLibrary(libraryOf(seeing));
    renderApp(host);
    const list = await screen.findByRole('list', { name: 'Models in your library' });
    const row = await within(list).findByRole('listitem', { name: 'tiny vision' });
    await userEvent.click(within(row).getByRole('button', { name: 'Options for tiny vision' }));
    const select = within(row).getByRole('combobox', { name: 'Engine for tiny vision' }) as HTMLSelectElement;
    expect(select.options[0]!.textContent).toBe('Auto (llama.cpp’s server for this model)');
  });
});

describe('Hardware → Inference engine', () => {
  it('says which engine runs the loaded model, and why', async () => {
    window.location.hash = '#/hardware';
    const host = startApp();
    const engine = await screen.findByRole('region', { name: 'Inference engine' });
    const model: LoadedModel = {
      path: '/m/stories.gguf',
      name: 'stories260K',
      architecture: 'llama',
      sizeBytes: 1185376,
      gpuLayers: 0,
      totalLayers: 5,
      contextSize: 2048,
      chatWrapper: 'llama-server (jinja)',
      engine: 'server',
      engineReason: 'Chosen for this model in its options: llama.cpp’s server',
      vision: true,
      audio: false,
      projector: 'mmproj.gguf',
    };
    host.setInference({ state: 'ready', backend: 'cpu', model });
    const facts = await within(engine).findByRole('group', { name: 'Loaded model' });
    expect(within(facts).getByText(/^Engine:/).textContent).toBe(
      'Engine: llama.cpp’s server (Chosen for this model in its options: llama.cpp’s server)',
    );
    expect(within(facts).getByText(/^It sees/).textContent).toBe('It sees images (projector mmproj.gguf).');
  });
});
