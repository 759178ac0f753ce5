/** Hardware → Local API server → Keys: the list with each key's use, a new key shown once, revoking with a question first. */
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { RpcError } from '../../shared/errors';
import { eachTestAt, mockClipboard, mockConfirm, renderApp, type FakeHost } from './app-fixture';
import { createFakeHost } from './fake-host';

eachTestAt('#/hardware');

async function keysPanel(host: FakeHost) {
  renderApp(host);
  const api = await screen.findByRole('region', { name: 'Local API server' });
  return within(api).findByRole('region', { name: 'Keys' });
}

describe('API keys panel', () => {
  it('lists the keys with when they were made and used, their requests and tokens, and follows the host', async () => {
    const host = createFakeHost();
    const panel = await keysPanel(host);
    const table = within(panel).getByRole('table', { name: 'API keys' });
    expect(
      within(table)
        .getAllByRole('columnheader')
        .map((h) => h.textContent),
    ).toEqual(['Name', 'Key', 'Created', 'Last used', 'Requests', 'Tokens', 'Revoke']);
    const row = within(table).getByRole('row', { name: /default/ });
    expect(within(row).getByRole('rowheader').textContent).toBe('default');
    expect(within(row).getByLabelText('Beginning of the key default').textContent).toBe('fh-firstk…');
    expect(within(row).getByText('never')).toBeTruthy();
    // The default key is replaced with "New key…", not revoked.
    expect(within(row).queryByRole('button')).toBeNull();
    expect(within(row).getByText('New key… replaces it')).toBeTruthy();

    // The host counts the key's use and says so.
    host.pushApiKeys([
      {
        id: 'key_default',
        name: 'default',
        prefix: 'firstk',
        createdAt: '2026-01-01T09:00:00.000Z',
        lastUsedAt: new Date().toISOString(),
        requests: 1234,
        tokens: 56789,
        isDefault: true,
      },
    ]);
    await waitFor(() => expect(within(table).getByRole('row', { name: /default/ }).textContent).toContain('56,789'));
    expect(within(table).getByRole('row', { name: /default/ }).textContent).toContain('1,234');
  });

  it('adds a key and shows it once, with Copy and the note; Done hides it for good', async () => {
    const host = createFakeHost();
    const panel = await keysPanel(host);
    const form = within(panel).getByRole('form', { name: 'Add an API key' });
    const name = within(form).getByRole('textbox', { name: 'Name' });
    await userEvent.type(name, 'alice laptop');
    await userEvent.click(within(form).getByRole('button', { name: 'Add key' }));
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'api.keys.create', input: { name: 'alice laptop' } }));

    const shown = await within(panel).findByRole('group', { name: 'New API key' });
    const secret = (within(shown).getByRole('textbox', { name: 'New key for alice laptop' }) as HTMLInputElement).value;
    expect(secret).toMatch(/^fh-made1x+$/);
    expect(within(shown).getByRole('status').textContent).toBe('Copy it now: it will not be shown again.');
    const written = mockClipboard();
    await userEvent.click(within(shown).getByRole('button', { name: 'Copy the new key for alice laptop' }));
    expect(written).toEqual([secret]);
    expect((name as HTMLInputElement).value).toBe('');
    // In the list, by name and prefix only.
    const row = await within(panel).findByRole('row', { name: /alice laptop/ });
    expect(row.textContent).not.toContain(secret);
    expect(within(row).getByLabelText('Beginning of the key alice laptop').textContent).toBe(`fh-${secret.slice(3, 9)}…`);

    await userEvent.click(within(shown).getByRole('button', { name: 'Done' }));
    expect(within(panel).queryByRole('group', { name: 'New API key' })).toBeNull();
    expect(panel.textContent).not.toContain(secret);
  });

  it('checks the name before asking the host, and shows the host’s refusal', async () => {
    const host = createFakeHost();
    const panel = await keysPanel(host);
    const form = within(panel).getByRole('form', { name: 'Add an API key' });
    const name = within(form).getByRole('textbox', { name: 'Name' });
    expect(name.getAttribute('aria-describedby')).toBe('api-key-name-rule');
    await userEvent.type(name, 'a/b');
    await userEvent.click(within(form).getByRole('button', { name: 'Add key' }));
    expect((await within(panel).findByRole('alert')).textContent).toMatch(/A key name is 1 to 60 characters/);
    expect(host.calls.some((c) => c.method === 'api.keys.create')).toBe(false);

    await userEvent.clear(name);
    await userEvent.type(name, 'Default');
    await userEvent.click(within(form).getByRole('button', { name: 'Add key' }));
    await waitFor(() =>
      expect(within(panel).getByRole('alert').textContent).toBe(
        'Could not add the key: There is already a key named "Default"; choose another name.',
      ),
    );
    expect(within(panel).queryByRole('group', { name: 'New API key' })).toBeNull();
  });

  it('revokes a key only after asking, and says so when the host refuses', async () => {
    const host = createFakeHost();
    const panel = await keysPanel(host);
    const form = within(panel).getByRole('form', { name: 'Add an API key' });
    await userEvent.type(within(form).getByRole('textbox', { name: 'Name' }), 'bob');
    await userEvent.click(within(form).getByRole('button', { name: 'Add key' }));
    const revoke = await within(panel).findByRole('button', { name: 'Revoke bob' });

    const confirm = mockConfirm(false, true);
    await userEvent.click(revoke);
    expect(confirm).toHaveBeenCalledWith('Revoke bob? Requests with it get 401 at once, and replies streaming to it now are stopped.');
    expect(host.calls.some((c) => c.method === 'api.keys.revoke')).toBe(false);
    await userEvent.click(revoke);
    await waitFor(() => expect(host.calls).toContainEqual({ method: 'api.keys.revoke', input: { id: 'key_1' } }));
    await waitFor(() => expect(within(panel).queryByRole('row', { name: /bob/ })).toBeNull());
    // The key shown once goes with it.
    expect(within(panel).queryByRole('group', { name: 'New API key' })).toBeNull();

    cleanup();
    const refusing = createFakeHost({
      'api.keys.revoke': () => {
        throw new RpcError('forbidden', 'API keys are made and revoked only from this computer.');
      },
    });
    const other = await keysPanel(refusing);
    await userEvent.type(within(other).getByRole('textbox', { name: 'Name' }), 'carol');
    await userEvent.click(within(other).getByRole('button', { name: 'Add key' }));
    mockConfirm(true);
    await userEvent.click(await within(other).findByRole('button', { name: 'Revoke carol' }));
    expect((await within(other).findByRole('alert')).textContent).toBe(
      'Could not revoke carol: API keys are made and revoked only from this computer.',
    );
    expect(within(other).getByRole('row', { name: /carol/ })).toBeTruthy();
  });
});
