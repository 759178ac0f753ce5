import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { LoadedModel } from '../../shared/inference';
import type { DevicePlan, PlacementPlan } from '../../shared/placement';
import { defaultSettings } from '../../shared/settings';
import { eachTestAt, giveElementsASize, renderApp, startApp, type FakeHost } from './app-fixture';
import { createFakeHost as createBareHost, GB, libraryOf, modelFixture } from './fake-host';

eachTestAt('#/models');
// The library is virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();

const MiB = 1024 ** 2;
const qwen = modelFixture({ id: 'm1', name: 'qwen7b', sizeBytes: 4 * GB, contextLength: 8192, files: ['/m/qwen7b.gguf'] });

/** A fake host whose llama.cpp's server is here (found on the PATH): its GPUs can be listed and plans made. */
function createFakeHost() {
  const host = createBareHost();
  host.setEngines({
    found: {
      llamaServer: '/usr/bin/llama-server',
      rpcServer: '/usr/bin/rpc-server',
      source: 'path',
      version: 'b6000',
      backend: 'cuda',
      reason: 'On the PATH.',
    },
  });
  return host;
}

/** The app over this host, at the library, with `name`'s options open: its Options group. */
async function openOptions(host: FakeHost, name: string) {
  renderApp(host);
  const list = await screen.findByRole('list', { name: 'Models in your library' });
  const row = await within(list).findByRole('listitem', { name });
  await userEvent.click(within(row).getByRole('button', { name: `Options for ${name}` }));
  return within(row).getByRole('group', { name: `Options for ${name}` });
}

const savedPlacements = (host: FakeHost) =>
  host.calls
    .filter((c) => c.method === 'settings.update')
    .map((c) => (c.input as { inference: { placements: unknown } }).inference.placements);

/** A plan table's rows as text: device id, then each cell. */
function rowsOf(table: HTMLElement): string[][] {
  return within(table)
    .getAllByRole('row')
    .slice(1)
    .map((row) => [...row.querySelectorAll('th, td')].map((cell) => cell.textContent!.trim()));
}

describe('Models → Options → Placement', () => {
  it('chooses two GPUs in order with a cap each, shows their plan and saves the whole map', async () => {
    const host = createFakeHost();
    host.pushSettings({ ...defaultSettings, inference: { ...defaultSettings.inference, placements: { m2: { devices: 'cpu' } } } });
    host.setLibrary(libraryOf(qwen, modelFixture({ id: 'm2', name: 'other', files: ['/m/other.gguf'] })));
    const options = await openOptions(host, 'qwen7b');
    const auto = within(options).getByRole('radio', { name: 'Automatic (every GPU) for qwen7b' }) as HTMLInputElement;
    expect(auto.checked).toBe(true);
    // Automatic uses every GPU: each is listed, checked and fixed, with its name and memory.
    const cuda0 = (await within(options).findByRole('checkbox', { name: 'Use CUDA0 for qwen7b' })) as HTMLInputElement;
    const cuda1 = within(options).getByRole('checkbox', { name: 'Use CUDA1 for qwen7b' }) as HTMLInputElement;
    expect([cuda0.checked, cuda0.disabled, cuda1.checked, cuda1.disabled]).toEqual([true, true, true, true]);
    expect(document.getElementById(cuda0.getAttribute('aria-describedby')!)?.textContent).toBe(
      'NVIDIA GeForce RTX 4090 · 22.00 GB free of 24.00 GB',
    );
    const save = within(options).getByRole('button', { name: 'Save the placement for qwen7b' }) as HTMLButtonElement;
    expect(save.disabled).toBe(true);

    // Chosen GPUs: CUDA1 first (the main GPU), then CUDA0, each capped.
    await userEvent.click(within(options).getByRole('radio', { name: 'Chosen GPUs for qwen7b' }));
    expect([cuda0.checked, cuda1.checked]).toEqual([false, false]);
    expect(within(options).getByText('Choose at least one GPU, or CPU only.')).toBeTruthy();
    await userEvent.click(cuda1);
    await userEvent.click(cuda0);
    expect(
      within(options)
        .getAllByText(/^(main|2nd) GPU$/)
        .map((b) => b.textContent),
    ).toEqual(['2nd GPU', 'main GPU']);
    await userEvent.type(within(options).getByRole('spinbutton', { name: 'Max memory on CUDA1 for qwen7b (MiB)' }), '3072');
    await userEvent.type(within(options).getByRole('spinbutton', { name: 'Max memory on CUDA0 for qwen7b (MiB)' }), '1024');
    // Both are CUDA: rows may be chosen.
    expect((within(options).getByRole('radio', { name: 'Split qwen7b by rows' }) as HTMLInputElement).disabled).toBe(false);

    await userEvent.click(within(options).getByRole('button', { name: 'Show plan for qwen7b' }));
    const table = await within(options).findByRole('table', { name: /^Plan for qwen7b: 31 of 33 layers on GPUs, 8,192-token context$/ });
    const placement = { devices: ['CUDA1', 'CUDA0'], maxMemory: { CUDA1: 3072 * MiB, CUDA0: 1024 * MiB } };
    expect(host.calls.filter((c) => c.method === 'placement.plan').map((c) => c.input)).toEqual([{ id: 'm1', placement }]);
    const rows = rowsOf(table);
    expect(rows.map((r) => [r[0], r[1], r[6]])).toEqual([
      ['CUDA1 NVIDIA GeForce RTX 3060', '24', '3.00 GB (cap)'],
      ['CUDA0 NVIDIA GeForce RTX 4090', '7', '1.00 GB (cap)'],
      ['CPU CPU (RAM)', '2', '9.00 GB free'],
    ]);
    // Weights, KV cache and compute add up to what is planned.
    expect(rows[0]!.slice(2, 6)).toEqual(['2.70 GB', '192.0 MB', '64.0 MB', '2.95 GB']);
    expect(
      within(options).getByText(/^31\/33 layers on CUDA1 24 \(2\.95 GB\), CUDA0 7 \(926\.4 MB\), 2 on the CPU; 8192-token context\.$/),
    ).toBeTruthy();
    expect(within(options).getByText('2 layers stay on the CPU: the GPUs have room for 31.')).toBeTruthy();
    expect(within(options).getByText(/^Engine:/).textContent).toBe(
      'Engine: llama.cpp’s server (Auto: its placement (chosen GPUs, caps per GPU or a split by rows) is one only llama.cpp’s server runs)',
    );
    expect(within(options).queryByRole('alert')).toBeNull();

    await userEvent.click(save);
    await waitFor(() => expect(savedPlacements(host)).toEqual([{ m2: { devices: 'cpu' }, m1: placement }]));
    expect((await within(options).findByRole('status')).textContent).toMatch(
      /^Saved: qwen7b is placed CUDA1, CUDA0 by layers \(CUDA1 ≤ 3\.00 GB, CUDA0 ≤ 1\.00 GB\)\. /,
    );
    await waitFor(() => expect(save.disabled).toBe(true));

    // Back to Automatic without caps: no entry for the model at all.
    await userEvent.click(auto);
    await userEvent.clear(within(options).getByRole('spinbutton', { name: 'Max memory on CUDA1 for qwen7b (MiB)' }));
    await userEvent.clear(within(options).getByRole('spinbutton', { name: 'Max memory on CUDA0 for qwen7b (MiB)' }));
    // The plan shown was for the GPUs chosen before.
    expect(within(options).queryByRole('table')).toBeNull();
    expect(within(options).getByText('The choice changed since the last plan: show the plan again.')).toBeTruthy();
    await userEvent.click(save);
    await waitFor(() => expect(savedPlacements(host)[1]).toEqual({ m2: { devices: 'cpu' } }));
  });

  it('CPU only: no GPU to choose, every layer on the CPU, the model’s own engine', async () => {
    const host = createFakeHost();
    host.setLibrary(libraryOf(qwen));
    const options = await openOptions(host, 'qwen7b');
    await within(options).findByRole('checkbox', { name: 'Use CUDA0 for qwen7b' });
    await userEvent.click(within(options).getByRole('radio', { name: 'CPU only for qwen7b' }));
    expect(within(options).queryByRole('checkbox')).toBeNull();
    expect(within(options).queryByRole('radio', { name: /^Split/ })).toBeNull();
    await userEvent.click(within(options).getByRole('button', { name: 'Show plan for qwen7b' }));
    const table = await within(options).findByRole('table', { name: /^Plan for qwen7b: 0 of 33 layers on GPUs/ });
    expect(rowsOf(table).map((r) => [r[0], r[1]])).toEqual([['CPU CPU (RAM)', '33']]);
    expect(within(options).getByText('CPU only; 8192-token context.')).toBeTruthy();
    expect(within(options).getByText(/^Engine:/).textContent).toMatch(
      /^Engine: node-llama-cpp \(Auto: a text-only model runs on node-llama-cpp\)\./,
    );
    await userEvent.click(within(options).getByRole('button', { name: 'Save the placement for qwen7b' }));
    await waitFor(() => expect(savedPlacements(host)).toEqual([{ m1: { devices: 'cpu' } }]));
    expect((await within(options).findByRole('status')).textContent).toMatch(/^Saved: qwen7b is placed CPU only\./);
  });

  it('a plan that does not fit says where and by how much, in an alert', async () => {
    const host = createFakeHost();
    host.setLibrary(libraryOf(modelFixture({ id: 'big', name: 'llama 70B', sizeBytes: 60 * GB, contextLength: 4096 })));
    const options = await openOptions(host, 'llama 70B');
    await within(options).findByRole('checkbox', { name: 'Use CUDA0 for llama 70B' });
    await userEvent.click(within(options).getByRole('button', { name: 'Show plan for llama 70B' }));
    const alert = await within(options).findByRole('alert');
    expect(alert.textContent).toMatch(
      /^It does not fit: Not enough RAM: the part on the CPU needs [\d.]+ GB, 9\.00 GB is free \([\d.]+ GB short\)\.$/,
    );
    const cpu = rowsOf(within(options).getByRole('table')).at(-1)!;
    expect(cpu[5]).toMatch(/ \(too much\)$/);
  });

  it('a placement naming a GPU not here shows it unchecked-able, and the planner’s refusal as text', async () => {
    const host = createFakeHost();
    host.pushSettings({ ...defaultSettings, inference: { ...defaultSettings.inference, placements: { m1: { devices: ['Vulkan3'] } } } });
    host.setLibrary(libraryOf(qwen));
    const options = await openOptions(host, 'qwen7b');
    const gone = (await within(options).findByRole('checkbox', { name: 'Use Vulkan3 for qwen7b' })) as HTMLInputElement;
    expect(gone.checked).toBe(true);
    expect(document.getElementById(gone.getAttribute('aria-describedby')!)?.textContent).toBe('not seen now');
    await userEvent.click(within(options).getByRole('button', { name: 'Show plan for qwen7b' }));
    expect((await within(options).findByRole('alert')).textContent).toBe(
      'Could not plan it: There is no device "Vulkan3" here; llama.cpp sees CUDA0, CUDA1.',
    );
  });

  it('splits by rows only on CUDA GPUs', async () => {
    const host = createFakeHost();
    host.setComputeDevices([
      { id: 'Vulkan0', name: 'AMD Radeon RX 7900 XTX', backend: 'vulkan', totalBytes: 24 * GB, freeBytes: 23 * GB },
      { id: 'Vulkan1', name: 'AMD Radeon RX 7600', backend: 'vulkan', totalBytes: 8 * GB, freeBytes: 7 * GB },
    ]);
    host.setLibrary(libraryOf(qwen));
    const options = await openOptions(host, 'qwen7b');
    await within(options).findByRole('checkbox', { name: 'Use Vulkan0 for qwen7b' });
    const rows = within(options).getByRole('radio', { name: 'Split qwen7b by rows' }) as HTMLInputElement;
    const layers = within(options).getByRole('radio', { name: 'Split qwen7b by layers' }) as HTMLInputElement;
    expect([rows.disabled, layers.checked]).toEqual([true, true]);
    expect(within(options).getByText('By rows needs every GPU in use to be a CUDA one; these are split by layers.')).toBeTruthy();
  });

  it('before llama.cpp’s server is here, its GPUs are not asked for (that would fetch it) and no plan is made', async () => {
    const host = createBareHost();
    host.setLibrary(libraryOf(qwen));
    const options = await openOptions(host, 'qwen7b');
    expect(await within(options).findByText(/^llama\.cpp’s server is not here yet \(Hardware → Engines gets it\)/)).toBeTruthy();
    expect(
      within(options)
        .getAllByRole('radio')
        .map((r) => r.getAttribute('aria-label')),
    ).toEqual(['Automatic (every GPU) for qwen7b', 'CPU only for qwen7b']);
    expect((within(options).getByRole('button', { name: 'Show plan for qwen7b' }) as HTMLButtonElement).disabled).toBe(true);
    await userEvent.click(within(options).getByRole('radio', { name: 'CPU only for qwen7b' }));
    await userEvent.click(within(options).getByRole('button', { name: 'Save the placement for qwen7b' }));
    await waitFor(() => expect(savedPlacements(host)).toEqual([{ m1: { devices: 'cpu' } }]));
    expect(host.calls.filter((c) => c.method.startsWith('placement.'))).toEqual([]);
  });

  it('with no GPU it says so, and offers only Automatic and CPU only', async () => {
    const host = createFakeHost();
    host.setComputeDevices([]);
    host.setLibrary(libraryOf(qwen));
    const options = await openOptions(host, 'qwen7b');
    expect(await within(options).findByText('llama.cpp sees no GPU here: the model runs on the CPU.')).toBeTruthy();
    const modes = within(options)
      .getAllByRole('radio')
      .map((r) => r.getAttribute('aria-label'));
    expect(modes).toEqual(['Automatic (every GPU) for qwen7b', 'CPU only for qwen7b']);
    expect(within(options).queryByRole('checkbox')).toBeNull();
    expect(within(options).queryByRole('spinbutton')).toBeNull();
  });
});

/** A device's share in a plan, planned at `planned` bytes of `budget`. */
function share(id: string, name: string, layers: number, planned: number, budget: number): DevicePlan {
  return {
    id,
    name,
    layers,
    weightBytes: planned * 0.8,
    kvBytes: planned * 0.15,
    computeBytes: planned * 0.05,
    plannedBytes: planned,
    budgetBytes: budget,
    capBytes: null,
    freeBytes: budget,
  };
}

describe('Hardware → Inference engine → Placement', () => {
  it('shows each device’s share, planned and measured against what it may use, and whether it went as planned', async () => {
    window.location.hash = '#/hardware';
    const host = startApp();
    const engine = await screen.findByRole('region', { name: 'Inference engine' });
    const plan: PlacementPlan = {
      placement: { devices: ['CUDA0', 'CUDA1'] },
      split: 'layers',
      gpuLayers: 33,
      totalLayers: 33,
      devices: [
        share('CUDA0', 'NVIDIA GeForce RTX 4090', 22, 3 * GB, 20 * GB),
        share('CUDA1', 'NVIDIA GeForce RTX 3060', 11, 1.5 * GB, 10 * GB),
      ],
      cpu: share('CPU', 'CPU (RAM)', 0, 0.25 * GB, 9 * GB),
      contextSize: 8192,
      contextPool: 8192,
      parallel: 1,
      fits: true,
      summary: '33/33 layers on CUDA0 22 (3.00 GB), CUDA1 11 (1.50 GB); 8192-token context.',
      notes: [],
    };
    const model: LoadedModel = {
      path: '/m/qwen7b.gguf',
      name: 'qwen7b',
      architecture: 'qwen2',
      sizeBytes: 4 * GB,
      gpuLayers: 33,
      totalLayers: 33,
      contextSize: 8192,
      chatWrapper: 'llama-server (jinja)',
      engine: 'server',
      engineReason: 'Auto: its placement (chosen GPUs, caps per GPU or a split by rows) is one only llama.cpp’s server runs',
      placement: {
        plan,
        check: {
          devices: [
            { id: 'CUDA0', modelBytes: 2.5 * GB, kvBytes: 0.25 * GB, computeBytes: 0.25 * GB, totalBytes: 3 * GB, layers: 22 },
            { id: 'CUDA1', modelBytes: 1 * GB, kvBytes: 0.25 * GB, computeBytes: 0.25 * GB, totalBytes: 1.5 * GB, layers: 11 },
            { id: 'CPU', modelBytes: 0.25 * GB, kvBytes: 0, computeBytes: 0, totalBytes: 0.25 * GB },
          ],
          offloaded: { layers: 33, of: 33 },
          asPlanned: true,
          note: 'As planned: CUDA0 3.00 GB of 20.00 GB, CUDA1 1.50 GB of 10.00 GB (33/33 layers offloaded).',
        },
      },
    };
    host.setInference({ state: 'ready', backend: 'cuda', model });
    const placed = await within(engine).findByRole('group', { name: 'Placement' });
    const table = within(placed).getByRole('table', { name: 'Placement: 33 of 33 layers on GPUs, split by layers' });
    expect(rowsOf(table).map((r) => r.slice(0, 5))).toEqual([
      ['CUDA0 NVIDIA GeForce RTX 4090', '22', '3.00 GB', '3.00 GB', '20.00 GB'],
      ['CUDA1 NVIDIA GeForce RTX 3060', '11', '1.50 GB', '1.50 GB', '10.00 GB'],
      ['CPU CPU (RAM)', '0', '256.0 MB', '256.0 MB', '9.00 GB'],
    ]);
    expect(within(placed).getByRole('img', { name: 'CUDA0: 3.00 GB in use of 20.00 GB' })).toBeTruthy();
    expect(within(placed).getByRole('img', { name: 'CUDA1: 1.50 GB in use of 10.00 GB' })).toBeTruthy();
    expect(within(placed).getByRole('note').textContent).toBe(
      'As planned: CUDA0 3.00 GB of 20.00 GB, CUDA1 1.50 GB of 10.00 GB (33/33 layers offloaded).',
    );

    // Not as planned: the device over its budget is marked, and the note says why.
    const over = {
      ...model.placement!.check!,
      devices: [{ id: 'CUDA0', modelBytes: 21 * GB, kvBytes: 0, computeBytes: 0, totalBytes: 21 * GB, layers: 22 }],
      asPlanned: false,
      note: 'Not as planned: CUDA0 holds 21.00 GB, more than the 20.00 GB planned for it.',
    };
    host.setInference({ model: { ...model, placement: { plan, check: over } } });
    await waitFor(() => expect(within(placed).getByRole('note').textContent).toMatch(/^Not as planned: CUDA0 holds 21\.00 GB/));
    expect(within(placed).getByRole('img', { name: 'CUDA0: 21.00 GB in use of 20.00 GB' }).className).toContain('bar-warn');
    expect(within(placed).getByRole('img', { name: 'CUDA1: 1.50 GB planned of 10.00 GB' })).toBeTruthy();
  });
});
