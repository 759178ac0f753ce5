import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { App } from '../../renderer/app/App';
import { HostConnection } from '../../renderer/transport/host-connection';
import { recordedReports } from '../fixtures/hardware-reports';
import { createFakeHost } from './fake-host';

beforeEach(() => {
  window.location.hash = '#/hardware';
});
afterEach(cleanup);

const labels: Record<string, string> = { cuda: 'CUDA', vulkan: 'Vulkan', metal: 'Metal', cpu: 'CPU' };

describe('hardware panel on recorded machines', () => {
  for (const [machine, report] of Object.entries(recordedReports)) {
    it(`shows ${machine} correctly`, async () => {
      const host = createFakeHost();
      host.setHardware(report, [
        { modelId: 'm1', name: 'Qwen2.5 7B Instruct Q4_K_M', sizeBytes: 4.4 * 1024 ** 3, fit: { verdict: 'gpu', neededBytes: 1, contextSize: 4096, freeVramBytes: 1, freeRamBytes: 1, explanation: 'Needs about 7.3 GB.' } },
      ]);
      render(<App connection={new HostConnection({ bridge: host.bridge })} />);
      const engine = await screen.findByRole('region', { name: 'Inference engine' });
      expect(within(engine).getByText(/Running on/).textContent).toContain(`Running on ${labels[report.backend]}`);
      const rows = within(within(engine).getByRole('table')).getAllByRole('row').slice(1);
      expect(rows.map((r) => within(r).getByRole('rowheader').textContent)).toEqual(['CUDA', 'Vulkan', 'Metal', 'CPU']);
      const chosen = report.attempts.find((a) => a.outcome === 'chosen')!;
      expect(within(engine).getByRole('row', { name: new RegExp(`^${labels[chosen.backend]} chosen`) })).toBeTruthy();
      if (report.gpus.length === 0) expect(within(engine).getByText('none detected')).toBeTruthy();
      else expect(within(engine).getByText(report.gpus.map((g) => g.name).join(', '))).toBeTruthy();
      if (report.vram.unifiedBytes > 0) expect(within(engine).getByText(/shared with the CPU/)).toBeTruthy();
      if (report.vram.capBytes) expect(within(engine).getByText(/capped at 40\.0 GB/)).toBeTruthy();
      const fits = await screen.findByRole('region', { name: 'Your models on this machine' });
      expect(within(fits).getByText('Fits on GPU')).toBeTruthy();
    });
  }

  it('saves engine settings and says the engine restarts', async () => {
    const host = createFakeHost();
    render(<App connection={new HostConnection({ bridge: host.bridge })} />);
    const controls = await screen.findByRole('region', { name: 'Engine settings' });
    await userEvent.selectOptions(within(controls).getByRole('combobox', { name: 'Backend' }), 'vulkan');
    await userEvent.type(within(controls).getByRole('textbox', { name: 'Threads' }), '6');
    await userEvent.type(within(controls).getByRole('textbox', { name: 'Max VRAM per GPU (MiB)' }), '8192');
    await userEvent.click(within(controls).getByRole('button', { name: 'Save and restart engine' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'settings.update', input: { inference: { backend: 'vulkan', threads: 6, maxVramPerGpuMiB: 8192 } } }));
    expect(await within(controls).findByText(/restarts with these settings/)).toBeTruthy();
    await userEvent.clear(within(controls).getByRole('textbox', { name: 'Threads' }));
    await userEvent.type(within(controls).getByRole('textbox', { name: 'Threads' }), 'many');
    await userEvent.click(within(controls).getByRole('button', { name: 'Save and restart engine' }));
    expect(await within(controls).findByText(/Threads must be a whole number/)).toBeTruthy();
  });
});

describe('live readings', () => {
  it('shows memory, the engine, the model and tokens/s from samples, with charts', async () => {
    const host = createFakeHost();
    render(<App connection={new HostConnection({ bridge: host.bridge })} />);
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
        model: { name: 'Qwen2.5 7B', gpuLayers: 28, totalLayers: 29, contextSize: 8192 },
        tokensPerSecond: i === 2 ? 42.5 : null,
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
    host.setLibrary({
      models: [
        { id: 'm1', name: 'stories260K', publisher: null, architecture: 'llama', parameterCount: 292800, quantization: 'F32', sizeBytes: 1185376, contextLength: 2048, hasChatTemplate: false, license: null, baseModel: null, files: ['/m/stories.gguf'], origin: 'referenced', owned: false, folderId: null, source: null, sha256: null, duplicateOf: null, addedAt: '2026-01-01T00:00:00.000Z' },
      ],
      folders: [],
      totalBytes: 1185376,
      ownedBytes: 0,
    });
    render(<App connection={new HostConnection({ bridge: host.bridge })} />);
    const panel = await screen.findByRole('region', { name: 'Benchmark' });
    await userEvent.click(await within(panel).findByRole('button', { name: 'Run benchmark' }));
    const table = await within(panel).findByRole('table', { name: 'Results on this machine' });
    expect(within(table).getByRole('rowheader', { name: 'stories260K' })).toBeTruthy();
    expect(within(table).getByText('2500.0')).toBeTruthy();
    expect(host.calls).toContainEqual({ method: 'hardware.benchmark', input: { modelId: 'm1' } });
  });
});
