import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { App } from '../../renderer/app/App';
import type { EventName, Events, HostHandlers } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import type { ImportResult, McpServerInfo, ToolsSnapshot } from '../../shared/tools';
import { connectWithEvents, eachTestAt } from './app-fixture';
import { createFakeHost } from './fake-host';

eachTestAt('');

const REFUSED =
  'Programs can be added only from the desktop app, the CLI, or a browser on this machine while Freehold listens on 127.0.0.1 only';

function weather(overrides: Partial<McpServerInfo> = {}): McpServerInfo {
  return {
    name: 'weather',
    config: { transport: 'stdio', command: 'node', args: ['server.mjs', '--units', 'metric'], env: { API_KEY: 'secret' }, cwd: null },
    enabled: true,
    state: 'running',
    error: null,
    tools: [
      {
        name: 'get_weather',
        description: 'The weather now in a city.',
        inputSchema: { type: 'object' },
        enabled: true,
        alwaysAllow: false,
        unusable: null,
        checkedAfter: ['pattern (at city)', 'minimum, maximum (at days)'],
        unchecked: ['x-units (at units)'],
      },
      {
        name: 'odd_tool',
        description: 'Takes anything.',
        inputSchema: {},
        enabled: true,
        alwaysAllow: false,
        unusable: 'its schema uses "$ref", which cannot be enforced',
        checkedAfter: [],
        unchecked: [],
      },
    ],
    ...overrides,
  };
}

const broken: McpServerInfo = {
  name: 'files',
  config: { transport: 'stdio', command: 'npx', args: ['-y', 'my server'], env: {}, cwd: '/srv' },
  enabled: true,
  state: 'failed',
  error: 'The program exited (code 1).\nstderr:\nError: Cannot find module\n  at line 2',
  tools: [],
};

const remote: McpServerInfo = {
  name: 'search',
  config: { transport: 'http', url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer x' } },
  enabled: false,
  state: 'disabled',
  error: null,
  tools: [],
};

/**
 * The app over the fake host, with MCP servers: the tools.* methods record
 * what the UI asked and answer with the snapshot changed as the host would;
 * `push` tells the UI a new snapshot (onToolsChanged).
 */
function renderTools(initial: Partial<ToolsSnapshot> = {}, more: Partial<HostHandlers> = {}) {
  let snapshot: ToolsSnapshot = {
    servers: [weather(), broken, remote],
    configFile: '/data/freehold/mcp.json',
    configError: null,
    skipped: [],
    canEditStdio: true,
    ...initial,
  };
  const calls: Array<{ method: string; input: unknown }> = [];
  const server = (name: string) => {
    const found = snapshot.servers.find((s) => s.name === name);
    if (!found) throw new RpcError('not_found', `No MCP server named "${name}".`);
    return found;
  };
  const change = (name: string, patch: (s: McpServerInfo) => McpServerInfo) => {
    server(name);
    snapshot = { ...snapshot, servers: snapshot.servers.map((s) => (s.name === name ? patch(s) : s)) };
    return snapshot;
  };
  const overrides: Partial<HostHandlers> = {
    'tools.list': () => snapshot,
    'tools.add': (input) => {
      calls.push({ method: 'tools.add', input });
      const added: McpServerInfo = { name: input.name, config: input.config, enabled: true, state: 'starting', error: null, tools: [] };
      snapshot = { ...snapshot, servers: [...snapshot.servers.filter((s) => s.name !== input.name), added] };
      return snapshot;
    },
    'tools.remove': (input) => {
      calls.push({ method: 'tools.remove', input });
      if (!snapshot.skipped.some((s) => s.name === input.name)) server(input.name);
      snapshot = {
        ...snapshot,
        servers: snapshot.servers.filter((s) => s.name !== input.name),
        skipped: snapshot.skipped.filter((s) => s.name !== input.name),
      };
      return snapshot;
    },
    'tools.setEnabled': (input) => {
      calls.push({ method: 'tools.setEnabled', input });
      return change(input.name, (s) => ({ ...s, enabled: input.enabled, state: input.enabled ? 'starting' : 'disabled' }));
    },
    'tools.setTool': (input) => {
      calls.push({ method: 'tools.setTool', input });
      return change(input.server, (s) => ({
        ...s,
        tools: s.tools.map((t) =>
          t.name === input.tool ? { ...t, enabled: input.enabled ?? t.enabled, alwaysAllow: input.alwaysAllow ?? t.alwaysAllow } : t,
        ),
      }));
    },
    'tools.restart': (input) => {
      calls.push({ method: 'tools.restart', input });
      return change(input.name, (s) => ({ ...s, state: 'starting', error: null }));
    },
    'tools.import': (input): ImportResult => {
      calls.push({ method: 'tools.import', input });
      return { added: ['github'], replaced: ['weather'], skipped: [{ name: 'bad', reason: 'it has neither "command" nor "url"' }] };
    },
    ...more,
  };
  const host = createFakeHost(overrides);
  // The host's events, as the UI subscribed to them (the fake host does not send onToolsChanged itself).
  const { connection, emit } = connectWithEvents(host);
  const push = <E extends EventName>(event: E, payload: Events[E]) => act(() => emit(event, payload));
  render(<App connection={connection} />);
  return {
    calls,
    push,
    setSnapshot(next: ToolsSnapshot) {
      snapshot = next;
    },
  };
}

async function openSettings() {
  await userEvent.click(within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: 'Settings' }));
  expect(await screen.findByRole('heading', { name: 'Settings', level: 1 })).toBeTruthy();
  return screen.findByRole('region', { name: 'Tools' });
}

const serverItem = async (name: string) => {
  const list = await screen.findByRole('list', { name: 'Servers' });
  return within(list).getByRole('listitem', { name });
};

describe('Settings → Tools: the MCP servers', () => {
  it('lists each server with what it runs, its state in words, and its tools', async () => {
    renderTools();
    const tools = await openSettings();
    expect(within(tools).getByText('/data/freehold/mcp.json')).toBeTruthy();

    const w = await serverItem('weather');
    expect(within(w).getByText('node server.mjs --units metric')).toBeTruthy();
    expect(within(w).getByText('Running with 2 tools')).toBeTruthy();
    expect(within(w).getByText('Program (stdio)')).toBeTruthy();
    // The variables' names, never their values.
    expect(within(w).getByText('API_KEY')).toBeTruthy();
    expect(w.textContent).not.toContain('secret');
    expect((within(w).getByRole('switch', { name: 'Enable weather' }) as HTMLInputElement).checked).toBe(true);
    const toolList = within(w).getByRole('list', { name: 'Tools of weather' });
    const use = within(toolList).getByRole('switch', { name: 'Use get_weather' }) as HTMLInputElement;
    expect(use.checked).toBe(true);
    expect(use.disabled).toBe(false);
    expect((within(toolList).getByRole('checkbox', { name: 'Always allow get_weather' }) as HTMLInputElement).checked).toBe(false);
    expect(within(toolList).getByText('The weather now in a city.')).toBeTruthy();
    // What the grammar does not hold is named, and so is what nobody checks; both are part of the switch's description.
    expect(use.getAttribute('aria-describedby')).toBeTruthy();
    const described = document.getElementById(use.getAttribute('aria-describedby')!)!.textContent;
    expect(described).toContain(
      'Checked after the model writes a call (calls that do not match are not run): pattern (at city), minimum, maximum (at days)',
    );
    expect(described).toContain('Not checked: x-units (at units)');
    // A tool whose schema cannot be enforced says why, and cannot be switched on.
    const odd = within(toolList).getByRole('switch', { name: 'Use odd_tool' }) as HTMLInputElement;
    expect(odd.disabled).toBe(true);
    expect(odd.checked).toBe(false);
    expect(within(toolList).getByText(/cannot be enforced/).textContent).toMatch(/^Cannot be offered to a model: /);

    // A failed server: its reason, stderr lines and all, as written (newlines kept).
    const f = await serverItem('files');
    expect(within(f).getByText('Failed')).toBeTruthy();
    const why = within(f).getByRole('group', { name: 'Why files failed' });
    expect(why.tagName).toBe('PRE');
    expect(why.textContent).toBe(broken.error);
    expect(within(f).getByText('npx -y "my server"')).toBeTruthy();
    expect(within(f).getByText('/srv')).toBeTruthy();

    // An HTTP server, turned off.
    const s = await serverItem('search');
    expect(within(s).getByText('https://mcp.example.com/mcp')).toBeTruthy();
    expect(within(s).getByText('Off')).toBeTruthy();
    expect(within(s).getByText('Authorization')).toBeTruthy();
    expect(s.textContent).not.toContain('Bearer');
    expect((within(s).getByRole('switch', { name: 'Enable search' }) as HTMLInputElement).checked).toBe(false);
    expect((within(s).getByRole('button', { name: 'Restart search' }) as HTMLButtonElement).disabled).toBe(true);
  });

  it('follows onToolsChanged: a server that starts, then fails', async () => {
    const { push } = renderTools({ servers: [weather({ state: 'starting', tools: [] })] });
    await openSettings();
    expect(within(await serverItem('weather')).getByText('Starting…')).toBeTruthy();
    const snapshot = (servers: McpServerInfo[]): ToolsSnapshot => ({
      servers,
      configFile: '/data/freehold/mcp.json',
      configError: null,
      skipped: [],
      canEditStdio: true,
    });
    await push('onToolsChanged', snapshot([weather()]));
    expect(within(await serverItem('weather')).getByText('Running with 2 tools')).toBeTruthy();
    await push('onToolsChanged', snapshot([weather({ state: 'failed', error: 'It stopped.\nstderr: boom', tools: [] })]));
    const w = await serverItem('weather');
    expect(within(w).getByRole('group', { name: 'Why weather failed' }).textContent).toBe('It stopped.\nstderr: boom');
    // A file that could not be read says so.
    await push('onToolsChanged', { ...snapshot([]), configError: 'Unexpected token } in JSON at position 12.' });
    expect((await screen.findByRole('alert')).textContent).toMatch(/could not be read.*Unexpected token \} in JSON at position 12\./);
    expect(screen.getByText(/None yet/)).toBeTruthy();
  });

  it('switches servers and tools with the right input', async () => {
    const { calls } = renderTools();
    await openSettings();
    let w = await serverItem('weather');
    await userEvent.click(within(w).getByRole('switch', { name: 'Use get_weather' }));
    await waitFor(() =>
      expect(calls).toEqual([{ method: 'tools.setTool', input: { server: 'weather', tool: 'get_weather', enabled: false } }]),
    );
    w = await serverItem('weather');
    await waitFor(() => expect((within(w).getByRole('switch', { name: 'Use get_weather' }) as HTMLInputElement).checked).toBe(false));

    await userEvent.click(within(w).getByRole('checkbox', { name: 'Always allow get_weather' }));
    await waitFor(() =>
      expect(calls[1]).toEqual({ method: 'tools.setTool', input: { server: 'weather', tool: 'get_weather', alwaysAllow: true } }),
    );
    await waitFor(() =>
      expect((within(w).getByRole('checkbox', { name: 'Always allow get_weather' }) as HTMLInputElement).checked).toBe(true),
    );

    await userEvent.click(within(w).getByRole('switch', { name: 'Enable weather' }));
    await waitFor(() => expect(calls[2]).toEqual({ method: 'tools.setEnabled', input: { name: 'weather', enabled: false } }));
    await waitFor(() => expect(within(w).getByText('Off')).toBeTruthy());

    const s = await serverItem('search');
    await userEvent.click(within(s).getByRole('switch', { name: 'Enable search' }));
    await waitFor(() => expect(calls[3]).toEqual({ method: 'tools.setEnabled', input: { name: 'search', enabled: true } }));

    const f = await serverItem('files');
    await userEvent.click(within(f).getByRole('button', { name: 'Restart files' }));
    await waitFor(() => expect(calls[4]).toEqual({ method: 'tools.restart', input: { name: 'files' } }));
    await waitFor(() => expect(within(f).getByText('Starting…')).toBeTruthy());
  });

  it('asks in the page before removing a server', async () => {
    const { calls } = renderTools();
    await openSettings();
    const f = await serverItem('files');
    await userEvent.click(within(f).getByRole('button', { name: 'Remove files' }));
    // Kept when the answer is no.
    await userEvent.click(within(f).getByRole('button', { name: 'Keep files' }));
    expect(calls).toEqual([]);
    await userEvent.click(within(f).getByRole('button', { name: 'Remove files' }));
    expect(within(f).getByText('Remove files from the configuration?')).toBeTruthy();
    await userEvent.click(within(f).getByRole('button', { name: 'Yes, remove files' }));
    await waitFor(() => expect(calls).toEqual([{ method: 'tools.remove', input: { name: 'files' } }]));
    const list = screen.getByRole('list', { name: 'Servers' });
    await waitFor(() => expect(within(list).queryByRole('listitem', { name: 'files' })).toBeNull());
  });

  it('lists the entries of the file that are left out, with why, and removes them when asked', async () => {
    const { calls } = renderTools({ skipped: [{ name: 'old-sse', reason: 'SSE servers are not supported: use Streamable HTTP.' }] });
    await openSettings();
    const list = screen.getByRole('list', { name: 'Left out of the file' });
    const entry = within(list).getByRole('listitem');
    expect(entry.textContent).toMatch(/^old-sse: SSE servers are not supported: use Streamable HTTP\./);
    await userEvent.click(within(entry).getByRole('button', { name: 'Remove old-sse' }));
    await userEvent.click(within(entry).getByRole('button', { name: 'Yes, remove old-sse' }));
    await waitFor(() => expect(calls).toEqual([{ method: 'tools.remove', input: { name: 'old-sse' } }]));
  });

  it('shows what the host says when a change fails', async () => {
    renderTools(
      {},
      {
        'tools.restart': () => {
          throw new RpcError('invalid_input', 'weather is turned off: turn it on to start it.');
        },
      },
    );
    await openSettings();
    const w = await serverItem('weather');
    await userEvent.click(within(w).getByRole('button', { name: 'Restart weather' }));
    expect((await within(w).findByRole('alert')).textContent).toBe(
      'Could not restart weather: weather is turned off: turn it on to start it.',
    );
  });
});

describe('Settings → Tools: adding a server', () => {
  it('sends a program as an argv (one argument per line) with its environment parsed', async () => {
    const { calls } = renderTools();
    await openSettings();
    const form = screen.getByRole('form', { name: 'Add a server' });
    expect((within(form).getByRole('radio', { name: 'Program (stdio)' }) as HTMLInputElement).checked).toBe(true);
    await userEvent.type(within(form).getByRole('textbox', { name: 'Name' }), 'everything');
    await userEvent.type(within(form).getByRole('textbox', { name: 'Command' }), 'npx');
    await userEvent.type(
      within(form).getByRole('textbox', { name: 'Arguments (one per line)' }),
      '-y{enter}@modelcontextprotocol/server-everything{enter}{enter}a folder with spaces',
    );
    await userEvent.type(
      within(form).getByRole('textbox', { name: 'Environment variables (KEY=value, one per line)' }),
      'API_KEY=abc=def{enter}MODE = fast',
    );
    await userEvent.type(within(form).getByRole('textbox', { name: 'Working folder (optional)' }), '/home/me/mcp');
    await userEvent.click(within(form).getByRole('button', { name: 'Add server' }));
    await waitFor(() =>
      expect(calls).toEqual([
        {
          method: 'tools.add',
          input: {
            name: 'everything',
            config: {
              transport: 'stdio',
              command: 'npx',
              args: ['-y', '@modelcontextprotocol/server-everything', 'a folder with spaces'],
              env: { API_KEY: 'abc=def', MODE: 'fast' },
              cwd: '/home/me/mcp',
            },
          },
        },
      ]),
    );
    expect(await screen.findByText('Added everything: it is listed above.')).toBeTruthy();
    expect(
      within(await serverItem('everything')).getByText('npx -y @modelcontextprotocol/server-everything "a folder with spaces"'),
    ).toBeTruthy();
    // The form is empty again.
    expect((within(form).getByRole('textbox', { name: 'Name' }) as HTMLInputElement).value).toBe('');
  });

  it('sends a URL with its headers; the headers field is not autofilled', async () => {
    const { calls } = renderTools();
    await openSettings();
    const form = screen.getByRole('form', { name: 'Add a server' });
    await userEvent.click(within(form).getByRole('radio', { name: 'URL (Streamable HTTP)' }));
    expect(within(form).queryByRole('textbox', { name: 'Command' })).toBeNull();
    await userEvent.type(within(form).getByRole('textbox', { name: 'Name' }), 'remote tools');
    await userEvent.type(within(form).getByRole('textbox', { name: 'URL' }), 'https://tools.example.com/mcp');
    const headers = within(form).getByRole('textbox', { name: 'Headers (Name: value, one per line)' });
    expect(headers.getAttribute('autocomplete')).toBe('off');
    await userEvent.type(headers, 'Authorization: Bearer abc:123{enter}X-Team: blue');
    await userEvent.click(within(form).getByRole('button', { name: 'Add server' }));
    await waitFor(() =>
      expect(calls).toEqual([
        {
          method: 'tools.add',
          input: {
            name: 'remote tools',
            config: {
              transport: 'http',
              url: 'https://tools.example.com/mcp',
              headers: { Authorization: 'Bearer abc:123', 'X-Team': 'blue' },
            },
          },
        },
      ]),
    );
  });

  it('says what is wrong beside each field, and sends nothing', async () => {
    const { calls } = renderTools();
    await openSettings();
    const form = screen.getByRole('form', { name: 'Add a server' });
    await userEvent.click(within(form).getByRole('button', { name: 'Add server' }));
    const name = within(form).getByRole('textbox', { name: 'Name' });
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(within(form).getByText('Give the server a name.')).toBeTruthy();
    expect(within(form).getByText(/Say which program to run/)).toBeTruthy();

    await userEvent.type(name, '-bad name!');
    await userEvent.type(within(form).getByRole('textbox', { name: 'Command' }), 'node');
    await userEvent.type(within(form).getByRole('textbox', { name: 'Environment variables (KEY=value, one per line)' }), 'A=1{enter}oops');
    await userEvent.click(within(form).getByRole('button', { name: 'Add server' }));
    expect(within(form).getByText(/Letters, digits, spaces/)).toBeTruthy();
    expect(within(form).getByText('Line 2 is not KEY=value.')).toBeTruthy();
    // The message is tied to its field.
    const env = within(form).getByRole('textbox', { name: 'Environment variables (KEY=value, one per line)' });
    expect(env.getAttribute('aria-describedby')).toContain('mcp-add-env-error');

    await userEvent.click(within(form).getByRole('radio', { name: 'URL (Streamable HTTP)' }));
    await userEvent.type(within(form).getByRole('textbox', { name: 'URL' }), 'ftp://x');
    await userEvent.type(within(form).getByRole('textbox', { name: 'Headers (Name: value, one per line)' }), 'no colon here');
    await userEvent.click(within(form).getByRole('button', { name: 'Add server' }));
    expect(within(form).getByText('The URL must start with http:// or https://.')).toBeTruthy();
    expect(within(form).getByText('Line 1 is not Name: value.')).toBeTruthy();
    expect(calls).toEqual([]);
  });

  it('shows the host’s refusal in an alert', async () => {
    renderTools(
      {},
      {
        'tools.add': () => {
          throw new RpcError('invalid_input', 'config.url: must be an http:// or https:// URL');
        },
      },
    );
    await openSettings();
    const form = screen.getByRole('form', { name: 'Add a server' });
    await userEvent.click(within(form).getByRole('radio', { name: 'URL (Streamable HTTP)' }));
    await userEvent.type(within(form).getByRole('textbox', { name: 'Name' }), 'x');
    await userEvent.type(within(form).getByRole('textbox', { name: 'URL' }), 'http://localhost:9/mcp');
    await userEvent.click(within(form).getByRole('button', { name: 'Add server' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Could not add x: config.url: must be an http:// or https:// URL');
  });

  it('offers only URLs, and no import, to a client that may not add programs', async () => {
    const { calls } = renderTools({ canEditStdio: false });
    await openSettings();
    const form = screen.getByRole('form', { name: 'Add a server' });
    const stdio = within(form).getByRole('radio', { name: 'Program (stdio)' }) as HTMLInputElement;
    expect(stdio.disabled).toBe(true);
    expect(stdio.checked).toBe(false);
    expect((within(form).getByRole('radio', { name: 'URL (Streamable HTTP)' }) as HTMLInputElement).checked).toBe(true);
    expect(within(form).getByText(`${REFUSED}.`)).toBeTruthy();
    expect(stdio.getAttribute('aria-describedby')).toBe('mcp-stdio-refused');
    expect(within(form).queryByRole('textbox', { name: 'Command' })).toBeNull();

    const importForm = screen.getByRole('form', { name: 'Import mcp.json' });
    expect((within(importForm).getByRole('button', { name: 'Import' }) as HTMLButtonElement).disabled).toBe(true);
    expect((within(importForm).getByRole('textbox', { name: 'mcp.json contents' }) as HTMLTextAreaElement).disabled).toBe(true);
    expect((within(importForm).getByLabelText('mcp.json file') as HTMLInputElement).disabled).toBe(true);
    expect(screen.getByText(new RegExp(`^${REFUSED}; so can a file`))).toBeTruthy();
    // Servers already there can still be switched.
    const w = await serverItem('weather');
    expect((within(w).getByRole('switch', { name: 'Enable weather' }) as HTMLInputElement).disabled).toBe(false);
    expect(calls).toEqual([]);
  });
});

describe('Settings → Tools: importing mcp.json', () => {
  const file = JSON.stringify({ mcpServers: { github: { url: 'https://api.example.com/mcp' }, weather: { command: 'node' }, bad: {} } });

  it('imports pasted JSON and shows what was added, replaced and skipped', async () => {
    const { calls } = renderTools();
    await openSettings();
    const form = screen.getByRole('form', { name: 'Import mcp.json' });
    const text = within(form).getByRole('textbox', { name: 'mcp.json contents' });
    await userEvent.click(text);
    await userEvent.paste(file);
    await userEvent.click(within(form).getByRole('button', { name: 'Import' }));
    await waitFor(() => expect(calls).toEqual([{ method: 'tools.import', input: { json: file } }]));
    expect(await screen.findByText('Added: github.')).toBeTruthy();
    expect(screen.getByText('Replaced: weather.')).toBeTruthy();
    const skipped = screen.getByRole('list', { name: 'Skipped servers' });
    expect(within(skipped).getByRole('listitem').textContent).toBe('bad: it has neither "command" nor "url"');
  });

  it('reads a picked file', async () => {
    const { calls } = renderTools();
    await openSettings();
    const form = screen.getByRole('form', { name: 'Import mcp.json' });
    const input = within(form).getByLabelText('mcp.json file') as HTMLInputElement;
    expect(input.accept).toContain('.json');
    await userEvent.upload(input, new File([file], 'claude_desktop_config.json', { type: 'application/json' }));
    await waitFor(() => expect((within(form).getByRole('textbox', { name: 'mcp.json contents' }) as HTMLTextAreaElement).value).toBe(file));
    await userEvent.click(within(form).getByRole('button', { name: 'Import' }));
    await waitFor(() => expect(calls).toEqual([{ method: 'tools.import', input: { json: file } }]));
  });

  it('says why the host refused the file', async () => {
    renderTools(
      {},
      {
        'tools.import': () => {
          throw new RpcError('invalid_input', 'That is not an MCP configuration. Unexpected end of JSON input');
        },
      },
    );
    await openSettings();
    const form = screen.getByRole('form', { name: 'Import mcp.json' });
    await userEvent.click(within(form).getByRole('textbox', { name: 'mcp.json contents' }));
    await userEvent.paste('{"mcpServers":');
    await userEvent.click(within(form).getByRole('button', { name: 'Import' }));
    expect((await screen.findByRole('alert')).textContent).toBe(
      'Could not import the servers: That is not an MCP configuration. Unexpected end of JSON input',
    );
  });
});
