import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseMcpJson, serializeMcpJson, SSE_UNSUPPORTED } from '../../../electron/tools/mcp-config';
import { McpService, type McpServiceOptions } from '../../../electron/tools/mcp-service';
import { TOOL_LIMITS, type McpServerConfig } from '../../../shared/tools';
import { tempDir } from '../../helpers/temp';
import { until } from '../../helpers/until';

const STDIO_SERVER = fileURLToPath(new URL('../../fixtures/mcp/stdio-server.mjs', import.meta.url));
const HTTP_SERVER = fileURLToPath(new URL('../../fixtures/mcp/http-server.mjs', import.meta.url));
const TOKEN = 'tok-S3CRET-value';

const stdio = (env: Record<string, string> = {}, extraArgs: string[] = []): McpServerConfig => ({
  transport: 'stdio',
  command: process.execPath,
  args: [STDIO_SERVER, ...extraArgs],
  env,
  cwd: null,
});

const logs: string[] = [];
const services: McpService[] = [];

function service(dataDir: string, options: Partial<McpServiceOptions> = {}): McpService {
  const s = new McpService({ dataDir, onChanged: () => undefined, log: (line) => logs.push(line), ...options });
  services.push(s);
  return s;
}

const server = (s: McpService, name: string) => s.snapshot().servers.find((x) => x.name === name);
const stateOf = (s: McpService, name: string, state: string) => server(s, name)?.state === state && server(s, name);
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as { mcpServers: Record<string, Record<string, unknown>> };

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()));
});

afterAll(() => {
  // Whatever was logged, no header value was.
  expect(logs.join('\n')).not.toContain(TOKEN);
});

describe('a stdio server', () => {
  let dir: string;
  let mcp: McpService;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-mcp-'));
    // In this process's environment only: the server must not see it.
    process.env.FREEHOLD_SECRET_TEST = '1';
    // Time for the 10 MB result on a loaded machine; the timeout itself is tested on a service of its own.
    mcp = new McpService({ dataDir: dir, onChanged: () => undefined, log: (line) => logs.push(line), callTimeoutMs: 15_000 });
    await mcp.start();
    await mcp.add('fixture', stdio({ FIXTURE_VAR: 'configured' }));
    await until('the server to run', () => stateOf(mcp, 'fixture', 'running'));
  });

  afterAll(async () => {
    delete process.env.FREEHOLD_SECRET_TEST;
    await mcp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is running with its tools listed, and saved in the common format', () => {
    const info = server(mcp, 'fixture')!;
    expect(info).toMatchObject({ enabled: true, error: null });
    expect(info.tools.map((t) => t.name)).toEqual(
      expect.arrayContaining(['get_weather', 'add', 'fail', 'crash', 'hang', 'big', 'echo_env']),
    );
    expect(info.tools.find((t) => t.name === 'get_weather')).toMatchObject({
      description: 'The weather in a city.',
      enabled: true,
      alwaysAllow: false,
      unusable: null,
      inputSchema: { type: 'object', properties: { city: { type: 'string' } } },
    });
    const file = path.join(dir, 'mcp.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readJson(file).mcpServers.fixture).toEqual({
      command: process.execPath,
      args: [STDIO_SERVER],
      env: { FIXTURE_VAR: 'configured' },
    });
  });

  it('offers a tool with a pattern, naming it as checked after generation; lists one past the bounds as unusable', async () => {
    const lookup = server(mcp, 'fixture')!.tools.find((t) => t.name === 'lookup')!;
    expect(lookup).toMatchObject({ unusable: null, checkedAfter: ['pattern (at code)'], unchecked: [] });
    const wide = server(mcp, 'fixture')!.tools.find((t) => t.name === 'wide')!;
    expect(wide.unusable).toMatch(/^its arguments' schema cannot be used: the schema has more than 5,000 parts/);
    const offered = mcp.availableTools().map((t) => t.tool);
    expect(offered).toContain('get_weather');
    expect(offered).toContain('lookup');
    expect(offered).not.toContain('wide');
    // The whole schema is checked: the pattern, and the type the grammar holds too.
    expect(await mcp.checkArguments('fixture', 'lookup', { code: 'ABC' })).toEqual({ valid: true });
    expect(await mcp.checkArguments('fixture', 'lookup', { code: 'abcd' })).toEqual({
      valid: false,
      message: 'code must match pattern "^[A-Z]{3}$"',
    });
    expect(await mcp.checkArguments('fixture', 'add', { a: 1 })).toEqual({
      valid: false,
      message: "the arguments must have required property 'b'",
    });
    expect(mcp.availableTools().find((t) => t.tool === 'add')).toMatchObject({
      server: 'fixture',
      description: 'Adds two numbers.',
      inputSchema: { properties: { a: { type: 'number' }, b: { type: 'number' } } },
    });
  });

  it('calls a tool and returns its text', async () => {
    expect(await mcp.call('fixture', 'get_weather', { city: 'Lyon' })).toEqual({
      ok: true,
      text: 'Sunny, 21 °C in Lyon',
      truncated: false,
    });
    expect(await mcp.call('fixture', 'add', { a: 2, b: 3 })).toEqual({ ok: true, text: '5', truncated: false });
  });

  it('turns error results and refused arguments into ok: false with the message', async () => {
    expect(await mcp.call('fixture', 'fail', {})).toEqual({ ok: false, text: 'the tool failed on purpose', truncated: false });
    const refused = await mcp.call('fixture', 'add', { a: 'two' });
    expect(refused.ok).toBe(false);
    expect(refused.text).toMatch(/Invalid arguments for tool add/);
    expect(await mcp.call('fixture', 'nope', {})).toMatchObject({ ok: false, text: expect.stringMatching(/no tool named "nope"/) });
    expect(await mcp.call('elsewhere', 'x', {})).toMatchObject({ ok: false, text: expect.stringMatching(/no MCP server named/) });
  });

  it('describes images and gives structured content when there is no text', async () => {
    expect((await mcp.call('fixture', 'picture', {})).text).toBe('a red dot:\n[image/png, 12 KB]');
    expect((await mcp.call('fixture', 'structured', {})).text).toBe('{"temperature":21}');
  });

  it('cuts a 10 MB result to the bound, and goes on working', async () => {
    const result = await mcp.call('fixture', 'big', {});
    expect(result.ok).toBe(true);
    expect(result.truncated).toBe(true);
    expect(result.text.startsWith('x'.repeat(TOOL_LIMITS.maxResultChars))).toBe(true);
    expect(result.text.length).toBeLessThan(TOOL_LIMITS.maxResultChars + 200);
    expect(result.text).toMatch(/\[cut: the tool returned 10,485,760 characters; the first 32,000 are shown\]$/);
    expect(server(mcp, 'fixture')!.state).toBe('running');
    expect((await mcp.call('fixture', 'get_weather', { city: 'Oslo' })).text).toBe('Sunny, 21 °C in Oslo');
  });

  it('ends a call that does not answer in time, or when aborted', async () => {
    const quick = service(tempDir(), { callTimeoutMs: 1500 });
    await quick.start();
    await quick.add('fixture', stdio());
    await until('the server to run', () => stateOf(quick, 'fixture', 'running'));
    const started = Date.now();
    expect(await quick.call('fixture', 'hang', {})).toEqual({
      ok: false,
      text: 'hang (fixture) did not answer within 1.5 s.',
      truncated: false,
    });
    expect(Date.now() - started).toBeLessThan(5000);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const aborted = Date.now();
    expect(await mcp.call('fixture', 'hang', {}, controller.signal)).toEqual({ ok: false, text: 'stopped', truncated: false });
    expect(Date.now() - aborted).toBeLessThan(2000);
    expect((await mcp.call('fixture', 'add', { a: 1, b: 1 })).text).toBe('2');
  });

  it('gives the server only its configured environment and the minimal set', async () => {
    const env = JSON.parse((await mcp.call('fixture', 'echo_env', {})).text) as Record<string, string>;
    expect(process.env.FREEHOLD_SECRET_TEST).toBe('1');
    expect(env.FREEHOLD_SECRET_TEST).toBeUndefined();
    expect(env.FIXTURE_VAR).toBe('configured');
    expect(env.PATH).toBe(process.env.PATH);
    const allowed = new Set(['FIXTURE_VAR', 'HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER']);
    expect(Object.keys(env).filter((k) => !allowed.has(k))).toEqual([]);
  });

  it('follows the server when its tool list changes', async () => {
    expect(server(mcp, 'fixture')!.tools.some((t) => t.name === 'late')).toBe(false);
    expect((await mcp.call('fixture', 'add_tool', {})).text).toBe('added');
    await until('the new tool to be listed', () => server(mcp, 'fixture')!.tools.some((t) => t.name === 'late'));
    expect(await mcp.call('fixture', 'late', {})).toMatchObject({ ok: true, text: 'late' });
  });

  it('keeps tool settings, which a new service reads back', async () => {
    await mcp.setTool('fixture', 'add', { enabled: false });
    await mcp.setTool('fixture', 'get_weather', { alwaysAllow: true });
    const tools = server(mcp, 'fixture')!.tools;
    expect(tools.find((t) => t.name === 'add')).toMatchObject({ enabled: false, alwaysAllow: false });
    expect(tools.find((t) => t.name === 'get_weather')).toMatchObject({ enabled: true, alwaysAllow: true });
    expect(server(mcp, 'fixture')!.state).toBe('running'); // not restarted for that
    expect(mcp.availableTools().map((t) => t.tool)).not.toContain('add');
    expect(await mcp.call('fixture', 'add', { a: 1, b: 2 })).toMatchObject({ ok: false, text: expect.stringMatching(/turned off/) });
    expect(mcp.isAlwaysAllowed('fixture', 'get_weather')).toBe(true);
    expect(mcp.isAlwaysAllowed('fixture', 'add')).toBe(false);
    expect(readJson(path.join(dir, 'mcp.json')).mcpServers.fixture).toMatchObject({
      disabledTools: ['add'],
      alwaysAllow: ['get_weather'],
    });

    const other = service(dir, { connect: false });
    await other.start();
    expect(other.isAlwaysAllowed('fixture', 'get_weather')).toBe(true);
    expect(other.isAlwaysAllowed('fixture', 'add')).toBe(false);
    expect(other.snapshot().servers).toMatchObject([{ name: 'fixture', enabled: true }]);

    await mcp.setTool('fixture', 'add', { enabled: true });
    expect(mcp.availableTools().map((t) => t.tool)).toContain('add');
  });

  it('marks a server that exits mid-call failed with its exit code and last output, and restarts it on request', async () => {
    const result = await mcp.call('fixture', 'crash', {});
    expect(result.ok).toBe(false);
    expect(result.text).toMatch(/^fixture stopped while running crash: the program exited with code 3/);
    expect(result.text).toContain('about to crash on purpose');
    const info = server(mcp, 'fixture')!;
    expect(info.state).toBe('failed');
    expect(info.error).toMatch(/exited with code 3[\s\S]*about to crash on purpose/);
    expect(info.tools).toEqual([]);
    expect(mcp.availableTools()).toEqual([]);
    expect((await mcp.call('fixture', 'get_weather', { city: 'Rome' })).text).toMatch(/not running: the program exited with code 3/);

    // Not restarted by itself.
    await new Promise((r) => setTimeout(r, 300));
    expect(server(mcp, 'fixture')!.state).toBe('failed');

    await mcp.restart('fixture');
    await until('the server to run again', () => stateOf(mcp, 'fixture', 'running'));
    expect((await mcp.call('fixture', 'get_weather', { city: 'Rome' })).text).toBe('Sunny, 21 °C in Rome');
  });
});

describe('starting servers', () => {
  it('fails a server that does not finish initialize in time, and kills it', async () => {
    const mcp = service(tempDir(), { startTimeoutMs: 1000 });
    await mcp.start();
    await mcp.add('silent', stdio({}, ['--silent']));
    const info = await until('the server to fail', () => stateOf(mcp, 'silent', 'failed'));
    expect(info.error).toMatch(/did not finish starting within 1 s/);
    const pid = Number(/\(pid (\d+)\)/.exec(info.error ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    await until('its process to end', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  });

  it('closes a server that answers with a message over the bound, saying so', async () => {
    const mcp = service(tempDir());
    await mcp.start();
    await mcp.add('huge', stdio());
    await until('the server to run', () => stateOf(mcp, 'huge', 'running'));
    const result = await mcp.call('huge', 'huge', {});
    expect(result).toMatchObject({
      ok: false,
      text: expect.stringMatching(/^huge stopped while running huge: it sent a message larger than 16.0 MB/),
    });
    expect(server(mcp, 'huge')).toMatchObject({ state: 'failed', error: expect.stringMatching(/larger than 16.0 MB/) });
  });

  it('fails a server whose program does not exist', async () => {
    const mcp = service(tempDir());
    await mcp.start();
    await mcp.add('missing', { transport: 'stdio', command: '/nonexistent/freehold-mcp', args: [], env: {}, cwd: null });
    const info = await until('the server to fail', () => stateOf(mcp, 'missing', 'failed'));
    expect(info.error).toMatch(/"\/nonexistent\/freehold-mcp" was not found/);
  });

  it('refuses an invalid configuration', async () => {
    const mcp = service(tempDir());
    await mcp.start();
    await expect(mcp.add('bad/name', stdio())).rejects.toMatchObject({ code: 'invalid_input', message: /name/ });
    await expect(mcp.add('web', { transport: 'http', url: 'file:///etc/passwd', headers: {} })).rejects.toThrow(/http/);
    expect(mcp.snapshot().servers).toEqual([]);
  });
});

describe('Streamable HTTP servers', () => {
  let http: ChildProcess;
  let url: string;

  beforeAll(async () => {
    http = spawn(process.execPath, [HTTP_SERVER, '0', TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      http.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /listening (\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      http.once('exit', (code) => reject(new Error(`the HTTP fixture exited with ${code}`)));
    });
    url = `http://127.0.0.1:${port}/mcp`;
  });

  afterAll(() => {
    http.kill();
  });

  it('connects with the configured headers and calls its tools', async () => {
    const mcp = service(tempDir());
    await mcp.start();
    await mcp.add('remote', { transport: 'http', url, headers: { Authorization: `Bearer ${TOKEN}` } });
    const info = await until('the server to run', () => stateOf(mcp, 'remote', 'running'));
    expect(info.tools.map((t) => t.name).sort()).toEqual(['get_time', 'get_weather']);
    expect(await mcp.call('remote', 'get_weather', { city: 'Bergen' })).toEqual({
      ok: true,
      text: 'Rainy, 12 °C in Bergen',
      truncated: false,
    });
    expect((await mcp.call('remote', 'get_time', {})).text).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(readJson(mcp.configFile).mcpServers.remote).toEqual({ type: 'http', url, headers: { Authorization: `Bearer ${TOKEN}` } });
  });

  it('fails with a clear reason when the server refuses the headers', async () => {
    const mcp = service(tempDir());
    await mcp.start();
    await mcp.add('remote', { transport: 'http', url, headers: { Authorization: 'Bearer wrong' } });
    const info = await until('the server to fail', () => stateOf(mcp, 'remote', 'failed'));
    expect(info.error).toMatch(/401 Unauthorized/);
    expect(await mcp.call('remote', 'get_time', {})).toMatchObject({ ok: false, text: expect.stringMatching(/not running.*401/) });
  });

  it('imports a Claude Desktop file: stdio and http servers, SSE and invalid entries skipped', async () => {
    const mcp = service(tempDir());
    await mcp.start();
    const result = await mcp.importJson(
      JSON.stringify({
        mcpServers: {
          weather: { command: process.execPath, args: [STDIO_SERVER], env: { A: '1' } },
          remote: { type: 'streamable-http', url, headers: { Authorization: `Bearer ${TOKEN}` }, note: 'kept' },
          legacy: { type: 'sse', url: 'http://127.0.0.1:9/sse' },
          broken: { args: ['--x'] },
          'bad/name': { command: 'x' },
        },
        globalShortcut: 'Ctrl+Space',
      }),
    );
    expect(result.added).toEqual(['weather', 'remote']);
    expect(result.replaced).toEqual([]);
    expect(result.skipped).toEqual([
      { name: 'legacy', reason: SSE_UNSUPPORTED },
      { name: 'broken', reason: expect.stringMatching(/needs a "command"/) },
      { name: 'bad/name', reason: expect.stringMatching(/name/) },
    ]);
    await until('both to run', () => stateOf(mcp, 'weather', 'running') && stateOf(mcp, 'remote', 'running'));
    const saved = readJson(mcp.configFile).mcpServers;
    expect(Object.keys(saved)).toEqual(['weather', 'remote']);
    expect(saved.weather).toEqual({ command: process.execPath, args: [STDIO_SERVER], env: { A: '1' } });
    expect(saved.remote).toEqual({ type: 'http', url, headers: { Authorization: `Bearer ${TOKEN}` }, note: 'kept' });

    const again = await mcp.importJson(JSON.stringify({ mcpServers: { weather: { command: process.execPath, args: [STDIO_SERVER] } } }));
    expect(again).toEqual({ added: [], replaced: ['weather'], skipped: [] });
    await expect(mcp.importJson('not json')).rejects.toThrow(/not valid JSON/);
  });
});

describe('mcp.json', () => {
  it('is followed when another process edits it; other apps’ keys survive a rewrite', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'mcp.json');
    const mcp = service(dir);
    await mcp.start();
    expect(mcp.snapshot()).toMatchObject({ servers: [], configFile: file, configError: null });

    writeFileSync(
      file,
      JSON.stringify({
        globalShortcut: 'Ctrl+Space',
        mcpServers: {
          edited: { command: process.execPath, args: [STDIO_SERVER], note: 'keep me' },
          legacy: { type: 'sse', url: 'http://127.0.0.1:9/sse' },
        },
      }),
    );
    await until('the new server to run', () => stateOf(mcp, 'edited', 'running'), 10_000);
    expect(mcp.snapshot().skipped).toEqual([{ name: 'legacy', reason: SSE_UNSUPPORTED }]);

    await mcp.setEnabled('edited', false);
    expect(server(mcp, 'edited')).toMatchObject({ enabled: false, state: 'disabled', tools: [] });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      globalShortcut: 'Ctrl+Space',
      mcpServers: {
        edited: { command: process.execPath, args: [STDIO_SERVER], note: 'keep me', disabled: true },
        legacy: { type: 'sse', url: 'http://127.0.0.1:9/sse' },
      },
    });

    writeFileSync(file, JSON.stringify({ mcpServers: {} }));
    await until('the server to be gone', () => mcp.snapshot().servers.length === 0, 10_000);
  });

  it('reports a malformed file and never overwrites it', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'mcp.json');
    const broken = '{ "mcpServers": { "a": ';
    writeFileSync(file, broken);
    const mcp = service(dir);
    await mcp.start();
    const snapshot = mcp.snapshot();
    expect(snapshot.servers).toEqual([]);
    expect(snapshot.configError).toMatch(/mcp.json has an error: It is not valid JSON/);
    await expect(mcp.add('x', stdio())).rejects.toMatchObject({ code: 'conflict' });
    await expect(mcp.remove('x')).rejects.toMatchObject({ code: 'conflict' });
    expect(await fs.readFile(file, 'utf8')).toBe(broken);

    writeFileSync(file, JSON.stringify({ mcpServers: { a: { command: process.execPath, args: [STDIO_SERVER], disabled: true } } }));
    await until('the fixed file to be read', () => mcp.snapshot().configError === null, 10_000);
    expect(server(mcp, 'a')).toMatchObject({ state: 'disabled', enabled: false });
  });

  it('without connect (the CLI) only edits the file', async () => {
    const dir = tempDir();
    const mcp = service(dir, { connect: false });
    await mcp.start();
    await mcp.add('cli', stdio());
    await mcp.setEnabled('cli', false);
    expect(readJson(path.join(dir, 'mcp.json')).mcpServers.cli).toMatchObject({ disabled: true });
    await mcp.remove('cli');
    expect(readJson(path.join(dir, 'mcp.json')).mcpServers).toEqual({});
    await expect(mcp.remove('cli')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('parseMcpJson', () => {
  it('reads VS Code’s "servers" with comments, and writes it back in its own shape', () => {
    const doc = parseMcpJson(`{
      // VS Code's mcp.json is JSONC
      "servers": {
        "files": { "type": "stdio", "command": "npx", "args": ["-y", "@x/files"], "env": { "PORT": 8080, }, },
        "web": { "type": "http", "url": "https://example.com/mcp" },
      },
      "inputs": [],
    }`);
    expect(doc.skipped).toEqual([]);
    expect(doc.servers.get('files')!.config).toEqual({
      transport: 'stdio',
      command: 'npx',
      args: ['-y', '@x/files'],
      env: { PORT: '8080' },
      cwd: null,
    });
    expect(doc.servers.get('web')!.config).toEqual({ transport: 'http', url: 'https://example.com/mcp', headers: {} });
    expect(JSON.parse(serializeMcpJson(doc))).toEqual({
      inputs: [],
      servers: {
        files: { type: 'stdio', command: 'npx', args: ['-y', '@x/files'], env: { PORT: '8080' } },
        web: { type: 'http', url: 'https://example.com/mcp' },
      },
    });
  });

  it('accepts a bare object of servers, and refuses what is not a configuration', () => {
    expect([...parseMcpJson('{ "a": { "url": "http://127.0.0.1:1/mcp" } }').servers.keys()]).toEqual(['a']);
    expect(parseMcpJson('').servers.size).toBe(0);
    expect(() => parseMcpJson('[]')).toThrow(/not a JSON object/);
    expect(() => parseMcpJson('{ "theme": "dark" }')).toThrow(/no "mcpServers"/);
    expect(() => parseMcpJson('{ "mcpServers": [] }')).toThrow(/must be an object/);
    const doc = parseMcpJson('{ "mcpServers": { "w": { "type": "websocket", "url": "ws://x" }, "h": { "url": "ftp://x" } } }');
    expect(doc.skipped).toEqual([
      { name: 'w', reason: expect.stringMatching(/type "websocket" are not supported/) },
      { name: 'h', reason: expect.stringMatching(/"url": must be an http/) },
    ]);
  });
});
