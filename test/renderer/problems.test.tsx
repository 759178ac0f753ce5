import { act, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { RpcError } from '../../shared/errors';
import type { DownloadJob } from '../../shared/hub';
import { eachTestAt, startApp } from './app-fixture';
import { at, conversationFixture, summaryOf } from './fake-host';

eachTestAt('');

const job: DownloadJob = {
  id: 'd1',
  repo: 'ggml-org/tiny-llamas',
  revision: 'c0ffee12',
  quantization: 'Q8_0',
  files: [],
  state: 'downloading',
  bytesDone: 100,
  totalBytes: 1000,
  bytesPerSecond: 10,
  etaSeconds: 90,
  error: null,
  attempts: 0,
  lastRetry: null,
  modelId: null,
  createdAt: at,
};

const problems = () => screen.findByRole('region', { name: 'Problems' });

describe('every failure reaches the user', () => {
  it('shows a failed call in the Problems region until dismissed', async () => {
    window.location.hash = '#/models';
    startApp({
      'downloads.list': () => [job],
      'downloads.pause': () => {
        throw new RpcError('conflict', 'The download already finished.');
      },
    });
    await userEvent.click(await screen.findByRole('tab', { name: 'Downloads' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Pause ggml-org/tiny-llamas Q8_0' }));
    const alert = within(await problems()).getByRole('alert');
    expect(alert.textContent).toContain('Could not pause ggml-org/tiny-llamas Q8_0: The download already finished.');
    await userEvent.click(within(alert).getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByRole('region', { name: 'Problems' })).toBeNull();
  });

  it('shows a failed read, once however many parts of the view made it', async () => {
    window.location.hash = '#/models';
    startApp({
      'downloads.list': () => {
        throw new RpcError('internal', 'The download queue file is unreadable.');
      },
    });
    await userEvent.click(await screen.findByRole('tab', { name: 'Downloads' }));
    const alerts = within(await problems()).getAllByRole('alert');
    expect(alerts.map((a) => a.textContent)).toEqual(['Could not read downloads list: The download queue file is unreadable.Dismiss']);
  });

  it('shows a failed call inline where the view has a place for it (a folder that cannot be rescanned)', async () => {
    window.location.hash = '#/models';
    const host = startApp({
      'folders.rescan': () => {
        throw new RpcError('not_found', 'The folder is gone.');
      },
    });
    host.setLibrary({
      models: [],
      folders: [{ id: 'f1', path: '/srv/models', label: 'models', modelCount: 0, problem: null }],
      totalBytes: 0,
      ownedBytes: 0,
    });
    await userEvent.click(await screen.findByRole('tab', { name: 'Folders & token' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Rescan /srv/models' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Could not rescan /srv/models: The folder is gone.');
  });

  it('shows a failed chat action above the message box (pinning a conversation that was deleted elsewhere)', async () => {
    window.location.hash = '#/chat';
    const conversation = conversationFixture({ title: 'Stories' });
    startApp({
      'chats.list': () => [summaryOf(conversation, 0)],
      'chats.get': () => ({ conversation, messages: [], thread: [] }),
      'chats.update': () => {
        throw new RpcError('not_found', 'No such conversation.');
      },
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Pin conversation' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Could not pin it: No such conversation.');
  });

  it('shows a promise rejection nobody handled, and an uncaught error', async () => {
    startApp();
    await screen.findByRole('heading', { level: 1, name: 'Models' });
    // happy-dom has no PromiseRejectionEvent; the event a browser dispatches carries the same `reason`.
    const rejection = Object.assign(new Event('unhandledrejection'), {
      reason: new RpcError('unavailable', 'The worker stopped.'),
      promise: Promise.resolve(),
    });
    act(() => {
      window.dispatchEvent(rejection);
    });
    const region = await problems();
    expect(within(region).getByRole('alert').textContent).toContain('Something failed without being handled: The worker stopped.');

    act(() => {
      window.dispatchEvent(new ErrorEvent('error', { message: 'x is not a function', error: new TypeError('x is not a function') }));
      // Chromium's report of a ResizeObserver that skipped a frame is not a failure.
      window.dispatchEvent(new ErrorEvent('error', { message: 'ResizeObserver loop completed with undelivered notifications.' }));
    });
    expect(
      within(region)
        .getAllByRole('alert')
        .map((a) => a.textContent),
    ).toEqual(['Something failed without being handled: The worker stopped.Dismiss', 'Something went wrong: x is not a functionDismiss']);
  });
});
