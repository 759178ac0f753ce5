import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { HostHandlers } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import { eachTestAt, giveElementsASize, renderApp } from './app-fixture';
import { GB, createFakeHost, libraryOf, machineFixture, modelFixture } from './fake-host';

eachTestAt('#/hardware');
// The chat's thread is virtualized, and happy-dom lays nothing out: give elements a size so that rows render.
giveElementsASize();

const model = (id: string, name: string, sizeBytes: number) =>
  modelFixture({
    id,
    name,
    parameterCount: 70_000_000_000,
    quantization: 'Q4_K_M',
    sizeBytes,
    contextLength: 8192,
    hasChatTemplate: true,
    files: [`/m/${id}.gguf`],
  });
// 40 GB in 80 layers: half a GB a layer, beside 24 GB on each machine (the fake host's budget here, and tower's VRAM less its margin).
const big = model('big', 'Llama 3.3 70B Instruct', 40 * GB);
const small = model('small', 'Qwen2.5 7B Instruct', 4.4 * GB);
const tower = machineFixture({
  hardware: {
    backend: 'cuda',
    gpus: ['NVIDIA GeForce RTX 5090'],
    cpu: 'AMD Ryzen 9 7950X',
    os: 'Linux 6.8',
    ramTotalBytes: 64 * GB,
    ramFreeBytes: 48 * GB,
    vramTotalBytes: 32 * GB,
    vramFreeBytes: 24.5 * GB,
  },
});

/** The app over a fake host with both models in the library, and three machines: tower, attic (offline) and a vLLM server. */
function start(overrides: Partial<HostHandlers> = {}) {
  const host = createFakeHost(overrides);
  host.setLibrary(libraryOf(big, small));
  host.setMachines([
    tower,
    machineFixture({ id: 'attic1', name: 'attic', state: 'offline', order: 1 }),
    machineFixture({ id: 'server1', name: 'vllm box', kind: 'openai', address: 'http://10.0.0.5:8000/v1', order: 2 }),
  ]);
  renderApp(host);
  return host;
}

const enginesPanel = () => screen.findByRole('region', { name: 'Engines' });
const splitPanel = () => screen.findByRole('region', { name: 'Split a model across machines' });

/** Chooses the machines (by their checkboxes' names) and asks for the plan; resolves to the plan's table. */
async function planOn(panel: HTMLElement, machines: string[], modelName = big.name) {
  await userEvent.selectOptions(within(panel).getByRole('combobox', { name: 'Model' }), modelName);
  for (const name of ['This machine', 'tower']) {
    const box = within(panel).getByRole('checkbox', { name }) as HTMLInputElement;
    if (box.checked !== machines.includes(name)) await userEvent.click(box);
  }
  await userEvent.click(within(panel).getByRole('button', { name: 'Plan' }));
  return within(panel).findByRole('table');
}

/** A row of the plan's table as text, cell by cell (a layers input as its value). */
function rowText(row: HTMLElement): string[] {
  return [...row.querySelectorAll('th, td')].map((cell) => {
    const input = cell.querySelector('input');
    return input ? input.value : (cell.textContent ?? '');
  });
}

describe('Hardware → Engines', () => {
  it('none found: says so and why; Build shows the live step and progress, then what is in use', async () => {
    const host = start();
    const panel = await enginesPanel();
    expect(await within(panel).findByText(/^None yet: a split model needs llama\.cpp b6000/)).toBeTruthy();
    const rows = within(within(panel).getByRole('table', { name: 'Where Freehold looked' }))
      .getAllByRole('row')
      .slice(1);
    expect(rows.map((r) => [...r.children].map((c) => c.textContent))).toEqual([
      ['PATH', 'unavailable', 'No llama-server and ggml-rpc-server on the PATH.'],
      ['Download', 'unavailable', 'No release of b6000 for Linux x64 with CUDA is pinned here.'],
      ['Build from source', 'available', 'cmake and g++ are here: it can be built from source.'],
    ]);

    await userEvent.click(within(panel).getByRole('button', { name: 'Build llama.cpp b6000' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'engines.build', input: undefined }));
    expect(await within(panel).findByText('Building llama.cpp: Configuring with cmake (0%)')).toBeTruthy();
    expect(within(panel).queryByRole('button', { name: /^Build llama\.cpp/ })).toBeNull();

    act(() =>
      host.buildProgress(
        'Compiling llama-server',
        0.45,
        '[ 45%] Building CXX object tools/server/CMakeFiles/llama-server.dir/server.cpp.o',
      ),
    );
    expect(await within(panel).findByText('Building llama.cpp: Compiling llama-server (45%)')).toBeTruthy();
    const bar = within(panel).getByRole('progressbar', { name: 'Building llama.cpp' }) as HTMLProgressElement;
    expect(bar.value).toBe(0.45);
    expect(within(panel).getByText(/Building CXX object tools\/server/)).toBeTruthy();

    act(() => host.finishBuild());
    expect(await within(panel).findByText('In use: Built here from llama.cpp b6000 (CPU).')).toBeTruthy();
    expect(within(panel).queryByRole('progressbar')).toBeNull();
    expect(within(panel).queryByText(/None yet/)).toBeNull();
    expect(within(panel).getByText('/data/freehold/engines/llama.cpp-b6000-cpu/bin/llama-server')).toBeTruthy();
    const used = within(panel).getByRole('row', { name: /^Build from source/ });
    expect(within(used).getByText('used')).toBeTruthy();
    expect(within(panel).queryByRole('alert')).toBeNull();
  });

  it('a failed build is an alert, and the button comes back; where it cannot build, says why instead of a button', async () => {
    const host = start();
    const panel = await enginesPanel();
    await userEvent.click(await within(panel).findByRole('button', { name: 'Build llama.cpp b6000' }));
    expect(await within(panel).findByRole('progressbar', { name: 'Building llama.cpp' })).toBeTruthy();
    act(() => host.failBuild('cmake failed: no C++ compiler found.'));
    expect((await within(panel).findByRole('alert')).textContent).toBe('Could not build llama.cpp: cmake failed: no C++ compiler found.');
    expect(within(panel).getByRole('button', { name: 'Build llama.cpp b6000' })).toBeTruthy();

    act(() => host.setEngines({ canBuild: { ok: false, reason: 'No C++ compiler (g++ or clang++) on the PATH.' } }));
    expect(await within(panel).findByText('Cannot build it here: No C++ compiler (g++ or clang++) on the PATH.')).toBeTruthy();
    expect(within(panel).queryByRole('button', { name: /^Build llama\.cpp/ })).toBeNull();
  });
});

describe('Hardware → Split a model across machines', () => {
  it('offers this machine and online Freehold machines; the plan’s layers are editable and re-plan with them', async () => {
    const host = start();
    const panel = await splitPanel();
    expect(within(panel).getByRole('group', { name: 'Machines' })).toBeTruthy();
    expect(await within(panel).findByRole('checkbox', { name: 'tower' })).toBeTruthy();
    expect((within(panel).getByRole('checkbox', { name: 'This machine' }) as HTMLInputElement).checked).toBe(true);
    // Offline, or not a Freehold: no part of a split.
    expect(within(panel).queryByRole('checkbox', { name: 'attic' })).toBeNull();
    expect(within(panel).queryByRole('checkbox', { name: 'vllm box' })).toBeNull();
    expect(within(panel).getByText('Not online now: attic.')).toBeTruthy();
    expect(within(panel).getByText('RAM 48.0 GB free of 64.0 GB · VRAM 24.5 GB free of 32.0 GB')).toBeTruthy();

    const table = await planOn(panel, ['This machine', 'tower']);
    expect(host.calls).toContainEqual({ method: 'split.plan', input: { modelId: 'big', machineIds: ['this', 'tower1'] } });
    expect(within(table).getByText('Plan for Llama 3.3 70B Instruct: 80 layers, 40.0 GB')).toBeTruthy();
    const rows = within(table).getAllByRole('row');
    expect(rows.map(rowText)).toEqual([
      ['Machine', 'Layers', 'Expected memory', 'It can give'],
      ['laptop', '40', '20.0 GB', '24.0 GB'],
      ['tower', '40', '20.0 GB', '24.0 GB'],
      ['Total', '80 of 80', '40.1 GB', '48.0 GB'],
    ]);
    expect(within(panel).getByText('Context').nextElementSibling?.textContent).toBe('4096 tokens');
    expect(within(panel).getByText('40 layers on laptop, 40 layers on tower; 4096-token context.')).toBeTruthy();
    expect(within(panel).queryByText(/could run it alone/)).toBeNull();
    expect((within(panel).getByRole('button', { name: 'Load split' }) as HTMLButtonElement).disabled).toBe(false);

    // Moving layers: while they do not add up, the plan says so and Load waits.
    const onLaptop = within(table).getByRole('spinbutton', { name: 'Layers on laptop' });
    await userEvent.clear(onLaptop);
    await userEvent.type(onLaptop, '44');
    await waitFor(() =>
      expect(host.calls).toContainEqual({
        method: 'split.plan',
        input: { modelId: 'big', machineIds: ['this', 'tower1'], layers: [44, 40] },
      }),
    );
    expect(await within(panel).findByText('The layers given add up to 84; the model has 80.')).toBeTruthy();
    expect((within(panel).getByRole('button', { name: 'Load split' }) as HTMLButtonElement).disabled).toBe(true);

    const onTower = within(table).getByRole('spinbutton', { name: 'Layers on tower' });
    await userEvent.clear(onTower);
    await userEvent.type(onTower, '36');
    await waitFor(() =>
      expect(host.calls).toContainEqual({
        method: 'split.plan',
        input: { modelId: 'big', machineIds: ['this', 'tower1'], layers: [44, 36] },
      }),
    );
    expect(await within(panel).findByText('44 layers on laptop, 36 layers on tower; 4096-token context.')).toBeTruthy();
    expect(within(table).getAllByRole('row').map(rowText).slice(1)).toEqual([
      ['laptop', '44', '22.0 GB', '24.0 GB'],
      ['tower', '36', '18.0 GB', '24.0 GB'],
      ['Total', '80 of 80', '40.1 GB', '48.0 GB'],
    ]);
    await waitFor(() => expect((within(panel).getByRole('button', { name: 'Load split' }) as HTMLButtonElement).disabled).toBe(false));

    // Another choice of machines is another plan: the old one goes.
    await userEvent.click(within(panel).getByRole('checkbox', { name: 'tower' }));
    expect(within(panel).queryByRole('table')).toBeNull();
    expect(within(panel).queryByRole('button', { name: 'Load split' })).toBeNull();
  });

  it('a plan that does not fit disables Load, which the note explains; a model one machine can hold says so', async () => {
    const host = start();
    host.setSplitBudget(24 * GB);
    const panel = await splitPanel();
    await within(panel).findByRole('checkbox', { name: 'tower' });
    const table = await planOn(panel, ['This machine']);
    expect(within(table).getAllByRole('row').map(rowText)[1]).toEqual(['laptop', '80', '40.1 GB (more than it can give)', '24.0 GB']);
    const note = 'Does not fit: laptop would need 40.1 GB of the 24.0 GB it can give.';
    expect(within(panel).getByText(note)).toBeTruthy();
    expect(within(panel).getByText('This plan does not fit: move layers to a machine with room, or add a machine.')).toBeTruthy();
    const load = within(panel).getByRole('button', { name: 'Load split' }) as HTMLButtonElement;
    expect(load.disabled).toBe(true);
    expect(document.getElementById(load.getAttribute('aria-describedby')!)?.textContent).toBe(note);

    await planOn(panel, ['This machine', 'tower'], small.name);
    expect(await within(panel).findByText('laptop could run it alone, which is faster than splitting it.')).toBeTruthy();
    expect((within(panel).getByRole('button', { name: 'Load split' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('loads: the starting detail live, then running with Chat with it (the split in the picker); Unload stops it', async () => {
    const host = start();
    const panel = await splitPanel();
    await within(panel).findByRole('checkbox', { name: 'tower' });
    expect(await within(panel).findByText('No split model is loaded.')).toBeTruthy();
    await planOn(panel, ['This machine', 'tower']);
    await userEvent.click(within(panel).getByRole('button', { name: 'Load split' }));
    await waitFor(() =>
      expect(host.calls).toContainEqual({
        method: 'split.load',
        input: { modelId: 'big', machineIds: ['this', 'tower1'], layers: [40, 40] },
      }),
    );
    expect(await within(panel).findByText('Starting: Getting llama.cpp ready…')).toBeTruthy();
    expect((within(panel).getByRole('button', { name: 'Load split' }) as HTMLButtonElement).disabled).toBe(true);
    expect((within(panel).getByRole('button', { name: 'Plan' }) as HTMLButtonElement).disabled).toBe(true);
    act(() => host.splitStep('Starting the RPC helper on tower…'));
    expect(await within(panel).findByText('Starting: Starting the RPC helper on tower…')).toBeTruthy();
    act(() => host.splitStep('Loading the model across the machines…'));
    expect(await within(panel).findByText('Starting: Loading the model across the machines…')).toBeTruthy();

    act(() => host.finishSplitLoad());
    expect(
      await within(panel).findByText(
        'Running: Llama 3.3 70B Instruct runs split: 40 layers on laptop, 40 layers on tower; 4096-token context.',
      ),
    ).toBeTruthy();
    expect(within(panel).queryByRole('alert')).toBeNull();
    // The split is a machine in the list while it runs.
    const machines = screen.getByRole('region', { name: 'Machines' });
    expect(await within(machines).findByRole('listitem', { name: 'split: laptop + tower' })).toBeTruthy();

    await userEvent.click(within(panel).getByRole('button', { name: 'Chat with it' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Chat' })).toBeTruthy();
    await waitFor(() =>
      expect((screen.getByRole('combobox', { name: 'Model' }) as HTMLSelectElement).value).toBe('@split/Llama 3.3 70B Instruct'),
    );

    window.location.hash = '#/hardware';
    const again = await splitPanel();
    await userEvent.click(await within(again).findByRole('button', { name: 'Unload' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'split.unload', input: undefined }));
    expect(await within(again).findByText('The split model was unloaded.')).toBeTruthy();
    expect(within(again).queryByRole('button', { name: 'Chat with it' })).toBeNull();
    await waitFor(() =>
      expect(
        within(screen.getByRole('region', { name: 'Machines' })).queryByRole('listitem', { name: 'split: laptop + tower' }),
      ).toBeNull(),
    );
  });

  it('a load that fails says why once, as an alert, and can be tried again', async () => {
    const host = start();
    const panel = await splitPanel();
    await within(panel).findByRole('checkbox', { name: 'tower' });
    await planOn(panel, ['This machine', 'tower']);
    await userEvent.click(within(panel).getByRole('button', { name: 'Load split' }));
    expect(await within(panel).findByText('Starting: Getting llama.cpp ready…')).toBeTruthy();
    act(() => host.failSplitLoad('tower stopped answering: its RPC helper could not start (out of memory).'));
    const alert = await within(panel).findByRole('alert');
    expect(alert.textContent).toBe('The split model failed: tower stopped answering: its RPC helper could not start (out of memory).');
    await waitFor(() => expect(within(panel).getAllByRole('alert')).toHaveLength(1));
    expect((within(panel).getByRole('button', { name: 'Load split' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('after a machine went away, offers to go on where the model fits: alone here (chat), or split on the machines left (load)', async () => {
    const loads: unknown[] = [];
    const host = start({
      'split.load': (input: unknown) => {
        loads.push(input);
        return { state: 'starting', plan: null, ref: null, detail: 'Getting llama.cpp ready…' };
      },
    } as Partial<HostHandlers>);
    const panel = await splitPanel();
    const plan = {
      modelId: 'small',
      modelName: 'Qwen2.5 7B Instruct',
      sizeBytes: 1,
      totalLayers: 5,
      contextSize: 512,
      devices: [],
      fitsOn: 'laptop',
      fits: true,
      note: '',
    };
    act(() =>
      host.pushSplitStatus({
        state: 'failed',
        plan,
        ref: null,
        detail: 'tower went away mid-reply (tower closed the link to its part of the split), so the split model stopped.',
        fallback: { kind: 'local', modelId: 'small', name: 'laptop' },
      }),
    );
    await userEvent.click(await within(panel).findByRole('button', { name: 'Chat with Qwen2.5 7B Instruct on laptop alone' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Chat' })).toBeTruthy();
    await waitFor(() => expect((screen.getByRole('combobox', { name: 'Model' }) as HTMLSelectElement).value).toBe('small'));
    window.location.hash = '#/hardware';
    const again = await splitPanel();
    act(() =>
      host.pushSplitStatus({
        state: 'failed',
        plan,
        ref: null,
        detail: 'desk went away mid-reply (desk stopped answering), so the split model stopped.',
        fallback: { kind: 'split', modelId: 'small', machineIds: ['this', 't1'], names: ['laptop', 'tower'] },
      }),
    );
    await userEvent.click(await within(again).findByRole('button', { name: 'Load it on laptop + tower' }));
    await waitFor(() => expect(loads).toEqual([{ modelId: 'small', machineIds: ['this', 't1'] }]));
  });

  it('a refused plan (a host rule) is an alert', async () => {
    start({
      'split.plan': () => {
        throw new RpcError('invalid_input', 'vllm box is not a paired Freehold: only those can hold part of a split model.');
      },
    });
    const panel = await splitPanel();
    await userEvent.click(await within(panel).findByRole('button', { name: 'Plan' }));
    expect((await within(panel).findByRole('alert')).textContent).toBe(
      'Could not plan the split: vllm box is not a paired Freehold: only those can hold part of a split model.',
    );
  });
});
