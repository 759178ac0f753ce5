/**
 * The official reference MCP server from npm (@modelcontextprotocol/server-everything,
 * a devDependency) added as a user adds it, over stdio: every one of its tools
 * can be offered to a model, and the keywords the grammar does not hold
 * (`minimum`/`maximum` on a number, `format: "uri"`) are named and checked.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpService } from '../../../electron/tools/mcp-service';
import { until } from '../../helpers/until';

const require = createRequire(import.meta.url);
const EVERYTHING = path.join(path.dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'index.js');

describe('the reference MCP server (server-everything 2026.8.31)', () => {
  let dir: string;
  let mcp: McpService;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-everything-'));
    mcp = new McpService({ dataDir: dir, onChanged: () => undefined, log: (line) => logs.push(line), callTimeoutMs: 15_000 });
    await mcp.start();
    await mcp.add('everything', { transport: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'], env: {}, cwd: null });
    await until('the reference server to run', () => mcp.snapshot().servers[0]?.state === 'running', 30_000);
  }, 60_000);

  afterAll(async () => {
    await mcp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists 13 of 13 tools as usable, and offers them all to a model', () => {
    const tools = mcp.snapshot().servers[0]!.tools;
    expect(tools).toHaveLength(13);
    expect(tools.filter((t) => t.unusable !== null).map((t) => `${t.name}: ${t.unusable}`)).toEqual([]);
    expect(mcp.availableTools()).toHaveLength(13);
  });

  it('names what is checked after generation: the bounds on a number, a uri format', () => {
    const tools = new Map(mcp.snapshot().servers[0]!.tools.map((t) => [t.name, t]));
    expect(tools.get('get-resource-links')).toMatchObject({ checkedAfter: ['minimum, maximum (at count)'], unchecked: [] });
    expect(tools.get('gzip-file-as-resource')).toMatchObject({ checkedAfter: ['format uri (at data)'], unchecked: [] });
    expect(tools.get('echo')).toMatchObject({ checkedAfter: [], unchecked: [] });
  });

  it('checks calls against the whole schema, and a matching call runs', async () => {
    expect(await mcp.checkArguments('everything', 'get-resource-links', { count: 3 })).toEqual({ valid: true });
    expect(await mcp.checkArguments('everything', 'get-resource-links', { count: 11 })).toEqual({
      valid: false,
      message: 'count must be <= 10',
    });
    expect(await mcp.checkArguments('everything', 'gzip-file-as-resource', { data: 'not a url' })).toEqual({
      valid: false,
      message: 'data must match format "uri"',
    });
    expect(await mcp.checkArguments('everything', 'gzip-file-as-resource', { data: 'data:text/plain;base64,aGk=' })).toEqual({
      valid: true,
    });
    expect(await mcp.call('everything', 'get-sum', { a: 2, b: 40 })).toMatchObject({ ok: true, text: expect.stringContaining('42') });
  });
});
