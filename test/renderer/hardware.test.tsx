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
