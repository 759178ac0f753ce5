import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../../renderer/app/App';
import { ErrorBoundary } from '../../renderer/app/ErrorBoundary';
import { HostConnection } from '../../renderer/transport/host-connection';
import { defaultSettings } from '../../shared/settings';
import { eachTestAt, startApp } from './app-fixture';
import { inferenceFixture } from './fake-host';

eachTestAt('');
beforeEach(() => {
  delete document.documentElement.dataset.theme;
});

describe('app shell', () => {
  it('opens on Models and navigates between the three views', async () => {
    startApp();
    const nav = screen.getByRole('navigation', { name: 'Main' });
    const links = within(nav).getAllByRole('link');
    expect(links.map((l) => l.textContent)).toEqual(['Models', 'Chat', 'Hardware', 'Settings']);
    expect(await screen.findByRole('heading', { level: 1, name: 'Models' })).toBeTruthy();
    expect(within(nav).getByRole('link', { name: 'Models' }).getAttribute('aria-current')).toBe('page');

    await userEvent.click(within(nav).getByRole('link', { name: 'Chat' }));
    expect(await screen.findByRole('heading', { level: 1, name: 'Chat' })).toBeTruthy();
    expect(within(nav).getByRole('link', { name: 'Chat' }).getAttribute('aria-current')).toBe('page');
    expect(within(nav).getByRole('link', { name: 'Models' }).getAttribute('aria-current')).toBeNull();

    await userEvent.click(within(nav).getByRole('link', { name: 'Hardware' }));
    expect(await screen.findByText('Test CPU')).toBeTruthy();
    expect(screen.getByText('9.0 GB free of 16.0 GB')).toBeTruthy();
  });

  it('shows what inference runs on and why the other backends were not used', async () => {
    window.location.hash = '#/hardware';
    startApp();
    const engine = await screen.findByRole('region', { name: 'Inference engine' });
    expect(within(engine).getByText(/Running on/).textContent).toMatch(
      /Running on CUDA \(chosen automatically\)\. CUDA is the first that loaded/,
    );
    const rows = within(within(engine).getByRole('table')).getAllByRole('row');
    expect(rows.map((r) => r.textContent)).toEqual([
      'BackendStatusWhy',
      'CUDAchosenloaded',
      'Vulkanavailableavailable, but CUDA comes first',
      'Metalunavailablenot available on win32-x64',
      'CPUavailableavailable, but CUDA comes first',
    ]);
    expect(within(engine).getByText('NVIDIA GeForce RTX 4070 Laptop GPU')).toBeTruthy();
    expect(within(engine).getByText('7.0 GB free of 8.0 GB')).toBeTruthy();
  });

  it('shows the connection and the inference backend in the status bar, updated by events', async () => {
    const host = startApp();
    expect(await screen.findByRole('status', { name: 'Connection' })).toHaveProperty('textContent', 'Connected');
    const inference = screen.getByRole('status', { name: 'Inference backend' });
    await waitFor(() => expect(inference.textContent).toMatch(/idle/));
    act(() => host.pushInference(inferenceFixture()));
    await waitFor(() => expect(inference.textContent).toBe('Inference: ready on CUDA'));
    // Work from the local API shows, with what waits behind it.
    act(() => host.pushInference(inferenceFixture({ queue: { running: 'api', waiting: 2 } })));
    await waitFor(() => expect(inference.textContent).toBe('Inference: ready on CUDA · answering an API request · 2 waiting'));
  });

  it('changes the theme through the host and follows changes made elsewhere', async () => {
    const host = startApp();
    const picker = await screen.findByRole('combobox', { name: 'Theme' });
    await waitFor(() => expect((picker as HTMLSelectElement).disabled).toBe(false));
    await userEvent.selectOptions(picker, 'dark');
    await waitFor(() => expect(document.documentElement.dataset.theme).toBe('dark'));
    expect(host.calls).toContainEqual({ method: 'settings.update', input: { appearance: { theme: 'dark' } } });
    act(() => host.pushSettings({ ...defaultSettings, appearance: { theme: 'system' } }));
    await waitFor(() => expect(document.documentElement.dataset.theme).toBeUndefined());
    expect((picker as HTMLSelectElement).value).toBe('system');
  });

  it('shows notices from the host until dismissed', async () => {
    const host = startApp();
    await screen.findByRole('heading', { level: 1, name: 'Models' });
    act(() => host.addNotice({ id: 'n1', level: 'warning', message: 'Settings file was unreadable', at: '' }));
    expect(await screen.findByText('Settings file was unreadable')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Dismiss notice' }));
    await waitFor(() => expect(screen.queryByText('Settings file was unreadable')).toBeNull());
    expect(host.calls).toContainEqual({ method: 'app.dismissNotice', input: { id: 'n1' } });
  });

  it('tells a browser user without the launch link how to connect', () => {
    const connection = new HostConnection({ noToken: true });
    render(<App connection={connection} />);
    expect(screen.getByRole('status', { name: 'Connection' }).textContent).toMatch(/open the link printed by "npm run serve"/);
  });
});

describe('error boundary', () => {
  it('contains a failing view and offers to try again', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    let fail = true;
    function Flaky() {
      if (fail) throw new Error('view exploded');
      return <p>recovered</p>;
    }
    render(
      <ErrorBoundary area="Chat">
        <Flaky />
      </ErrorBoundary>,
    );
    expect(screen.getByRole('alert').textContent).toMatch(/Something went wrong in Chat.*view exploded/);
    fail = false;
    await userEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(screen.getByText('recovered')).toBeTruthy();
    spy.mockRestore();
  });
});
