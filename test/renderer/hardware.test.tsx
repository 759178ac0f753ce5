import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { backendLabels } from '../../shared/inference';
import { recordedReports } from '../fixtures/hardware-reports';
import { eachTestAt, mockClipboard, renderApp, startApp } from './app-fixture';
import { createFakeHost, inferenceFixture, libraryOf, modelFixture } from './fake-host';

eachTestAt('#/hardware');

describe('hardware panel on recorded machines', () => {
  for (const [machine, report] of Object.entries(recordedReports)) {
    it(`shows ${machine} correctly`, async () => {
      const host = createFakeHost();
      host.setHardware(report, [
        {
          modelId: 'm1',
          name: 'Qwen2.5 7B Instruct Q4_K_M',
          sizeBytes: 4.4 * 1024 ** 3,
          fit: { verdict: 'gpu', neededBytes: 1, contextSize: 4096, freeVramBytes: 1, freeRamBytes: 1, explanation: 'Needs about 7.3 GB.' },
        },
      ]);
      renderApp(host);
      const engine = await screen.findByRole('region', { name: 'Inference engine' });
      expect(within(engine).getByText(/Running on/).textContent).toContain(`Running on ${backendLabels[report.backend]}`);
      const rows = within(within(engine).getByRole('table')).getAllByRole('row').slice(1);
      expect(rows.map((r) => within(r).getByRole('rowheader').textContent)).toEqual(['CUDA', 'Vulkan', 'Metal', 'CPU']);
      const chosen = report.attempts.find((a) => a.outcome === 'chosen')!;
      expect(within(engine).getByRole('row', { name: new RegExp(`^${backendLabels[chosen.backend]} chosen`) })).toBeTruthy();
      if (report.gpus.length === 0) expect(within(engine).getByText('none detected')).toBeTruthy();
      else expect(within(engine).getByText(report.gpus.map((g) => g.name).join(', '))).toBeTruthy();
      if (report.vram.unifiedBytes > 0) expect(within(engine).getByText(/shared with the CPU/)).toBeTruthy();
      if (report.vram.capBytes) expect(within(engine).getByText(/capped at 40\.0 GB/)).toBeTruthy();
      const fits = await screen.findByRole('region', { name: 'Your models on this machine' });
      expect(within(fits).getByText('Fits on GPU')).toBeTruthy();
    });
  }

  it('says when Vulkan loaded but found no GPU, and that it runs on the CPU', async () => {
    const host = createFakeHost();
    host.setHardware(recordedReports['Linux box with only lavapipe']!);
    renderApp(host);
    const engine = await screen.findByRole('region', { name: 'Inference engine' });
    expect(within(engine).getByText(/Running on/).textContent).toMatch(
      /^Running on CPU \(chosen automatically\)\. Vulkan loaded but found no GPU \(only llvmpipe, a CPU renderer\): running on the CPU\./,
    );
    expect(
      within(engine).getByRole('row', { name: /^Vulkan unavailable loaded but found no GPU \(only llvmpipe, a CPU renderer\)$/ }),
    ).toBeTruthy();
    expect(within(engine).getByText('none detected')).toBeTruthy();
  });

  it('spells the backend the same in the status bar as in the panel', async () => {
    const host = createFakeHost();
    host.setHardware(recordedReports['AMD GPU on Vulkan']!);
    renderApp(host);
    const engine = await screen.findByRole('region', { name: 'Inference engine' });
    expect(within(engine).getByText(/Running on/).textContent).toMatch(/^Running on Vulkan /);
    act(() => host.pushInference(inferenceFixture({ backend: 'vulkan' })));
    const status = screen.getByRole('status', { name: 'Inference backend' });
    await waitFor(() => expect(status.textContent).toBe('Inference: ready on Vulkan'));
  });

  it('saves engine settings and says the engine restarts', async () => {
    const host = startApp();
    const controls = await screen.findByRole('region', { name: 'Engine settings' });
    await userEvent.selectOptions(within(controls).getByRole('combobox', { name: 'Backend' }), 'vulkan');
    await userEvent.type(within(controls).getByRole('textbox', { name: 'Threads' }), '6');
    await userEvent.type(within(controls).getByRole('textbox', { name: 'Max VRAM per GPU (MiB)' }), '8192');
    await userEvent.click(within(controls).getByRole('button', { name: 'Save and restart engine' }));
    await waitFor(() =>
      expect(host.calls).toContainEqual({
        method: 'settings.update',
        input: { inference: { backend: 'vulkan', threads: 6, maxVramPerGpuMiB: 8192, parallel: 4 } },
      }),
    );
    expect(await within(controls).findByText(/restarts with these settings/)).toBeTruthy();
    await userEvent.clear(within(controls).getByRole('textbox', { name: 'Threads' }));
    await userEvent.type(within(controls).getByRole('textbox', { name: 'Threads' }), 'many');
    await userEvent.click(within(controls).getByRole('button', { name: 'Save and restart engine' }));
    expect(await within(controls).findByText(/Threads must be a whole number/)).toBeTruthy();
  });
});

describe('live readings', () => {
  it('shows memory, the engine, the model and tokens/s from samples, with charts', async () => {
    const host = startApp();
    await screen.findByText('Waiting for the first live reading…');
    const GB = 1024 ** 3;
    for (let i = 0; i < 3; i += 1) {
      host.pushSample({
        at: new Date().toISOString(),
        ramTotalBytes: 32 * GB,
        ramFreeBytes: (20 - i) * GB,
        vramTotalBytes: 8 * GB,
        vramUsedBytes: 5 * GB,
        workerRssBytes: 1.5 * GB,
        model: { name: 'Qwen2.5 7B', gpuLayers: 28, totalLayers: 29, contextSize: 8192, parallel: 1 },
        tokensPerSecond: i === 2 ? 42.5 : null,
        running: i === 2 ? 1 : 0,
      });
    }
    const live = await screen.findByRole('region', { name: 'Live' });
    await waitFor(() => expect(within(live).getByText('42.5 tokens/s')).toBeTruthy());
    expect(within(live).getByText('14.0 GB of 32.0 GB')).toBeTruthy();
    expect(within(live).getByText('5.0 GB of 8.0 GB')).toBeTruthy();
    expect(within(live).getByText('1.5 GB of memory')).toBeTruthy();
    expect(within(live).getByText('Qwen2.5 7B: 28/29 layers on the GPU, 8,192-token context')).toBeTruthy();
    const chart = within(live).getByRole('img', { name: 'RAM in use, last minutes' });
    expect(chart.querySelector('polyline')!.getAttribute('points')!.split(' ')).toHaveLength(3);
  });
});

describe('benchmark panel', () => {
  it('runs a benchmark for a library model and lists the result with its backend', async () => {
    const host = createFakeHost();
    host.setLibrary(libraryOf(modelFixture()));
    renderApp(host);
    const panel = await screen.findByRole('region', { name: 'Benchmark' });
    await userEvent.click(await within(panel).findByRole('button', { name: 'Run benchmark' }));
    const table = await within(panel).findByRole('table', { name: 'Results on this machine' });
    expect(within(table).getByRole('rowheader', { name: 'stories260K' })).toBeTruthy();
    expect(within(table).getByText('2500.0')).toBeTruthy();
    expect(host.calls).toContainEqual({ method: 'hardware.benchmark', input: { modelId: 'm1' } });
  });
});

describe('local API server panel', () => {
  it('is off by default; the switch starts it and shows the URL and a copyable key; a new key needs confirming', async () => {
    const host = startApp();
    const panel = await screen.findByRole('region', { name: 'Local API server' });
    const toggle = within(panel).getByRole('switch', { name: 'Serve the OpenAI-compatible API' });
    expect((toggle as HTMLInputElement).checked).toBe(false);
    expect(within(panel).getByText('Off.')).toBeTruthy();
    expect(within(panel).queryByRole('group', { name: 'API connection' })).toBeNull();

    await userEvent.click(toggle);
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'settings.update', input: { api: { enabled: true } } }));
    expect(await within(panel).findByText('http://127.0.0.1:4849/v1')).toBeTruthy();
    expect(within(panel).getByRole('group', { name: 'API connection' })).toBeTruthy();
    expect(within(panel).getByText(/Running \(this computer only\)/)).toBeTruthy();
    // The key is hidden until asked for, and copyable either way.
    const key = within(panel).getByLabelText('API key (hidden)');
    expect(key.textContent).not.toContain('firstkeyfirstkey');
    await userEvent.click(within(panel).getByRole('button', { name: 'Show' }));
    expect(within(panel).getByLabelText('API key').textContent).toBe('fh-firstkeyfirstkeyfirstkeyfirstkey0000000');
    const written = mockClipboard();
    await userEvent.click(within(panel).getByRole('button', { name: 'Copy the API key' }));
    await userEvent.click(within(panel).getByRole('button', { name: 'Copy the API base URL' }));
    expect(written).toEqual(['fh-firstkeyfirstkeyfirstkeyfirstkey0000000', 'http://127.0.0.1:4849/v1']);

    await userEvent.click(within(panel).getByRole('button', { name: 'New key…' }));
    expect(host.calls.some((c) => c.method === 'api.regenerateKey')).toBe(false);
    await userEvent.click(within(panel).getByRole('button', { name: 'Replace the key' }));
    await waitFor(() => expect(within(panel).getByLabelText('API key').textContent).toMatch(/^fh-secondkey/));
  });

  it('saves where it listens and who may call it; another address always needs the key; a taken port is shown', async () => {
    const host = startApp();
    const panel = await screen.findByRole('region', { name: 'Local API server' });
    const form = within(panel).getByRole('form', { name: 'API server settings' });
    const address = within(form).getByRole('textbox', { name: 'Address' });
    const requireKey = within(form).getByRole('checkbox', { name: 'Require the API key' }) as HTMLInputElement;
    expect(requireKey.disabled).toBe(false);
    await userEvent.clear(address);
    await userEvent.type(address, '0.0.0.0');
    expect(requireKey.checked).toBe(true);
    expect(requireKey.disabled).toBe(true);
    await userEvent.type(within(form).getByRole('textbox', { name: /CORS origins/ }), 'http://localhost:3000');
    const idle = within(form).getByRole('textbox', { name: 'Unload idle models after (minutes)' });
    await userEvent.clear(idle);
    await userEvent.type(idle, '5');
    await userEvent.click(within(form).getByRole('button', { name: 'Save API settings' }));
    await waitFor(() =>
      expect(host.calls).toContainEqual({
        method: 'settings.update',
        input: { api: { host: '0.0.0.0', port: 4849, requireKey: true, corsOrigins: ['http://localhost:3000'], idleUnloadMinutes: 5 } },
      }),
    );
    const port = within(form).getByRole('textbox', { name: 'Port' });
    await userEvent.clear(port);
    await userEvent.type(port, 'abc');
    await userEvent.click(within(form).getByRole('button', { name: 'Save API settings' }));
    expect(await within(panel).findByRole('alert')).toHaveProperty('textContent', 'The port must be a whole number from 1 to 65535.');

    await userEvent.clear(port);
    await userEvent.type(port, '1');
    await userEvent.click(within(form).getByRole('button', { name: 'Save API settings' }));
    await userEvent.click(within(panel).getByRole('switch', { name: 'Serve the OpenAI-compatible API' }));
    expect(await within(panel).findByText(/Port 1 is in use/)).toBeTruthy();
  });
});
