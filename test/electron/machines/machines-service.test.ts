import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../electron/cli/cli';
import { remoteBrowserHandlers } from '../../../electron/host/server';
import { restrictStdioEdits } from '../../../electron/services/handlers/tools';
import type { HostServices } from '../../../electron/services/host-services';
import type { MachineInfo } from '../../../shared/machines';
import { inferenceHost } from '../../helpers/inference-host';
import { suiteTempDirs } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';
import { until } from '../../helpers/until';

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('machines through the app: an OpenAI-compatible server, the CLI, the browser rule', () => {
  const dir = suiteTempDirs('freehold-machines-');
  let server: HostServices; // another Freehold: its OpenAI API, and it shares
  let app: Awaited<ReturnType<typeof inferenceHost>>;

  beforeAll(async () => {
    ({ services: server } = await inferenceHost({
      dataDir: dir(),
      host: 'web',
      api: { enabled: true, port: 0 },
      share: { enabled: true, host: '127.0.0.1', port: 0, name: 'study' },
    }));
    await server.handlers['models.import']({ paths: [testModelPath()], mode: 'reference' });
    app = await inferenceHost({ dataDir: dir(), host: 'web', machines: { openAi: { pollMs: 500, backoffMs: [100, 200] } } });
  }, 60_000);

  afterAll(async () => {
    await app?.services.close();
    await server?.close();
  });

  it('adds another Freehold’s API by URL and key; a chat on its model streams over SSE and is stored here', async () => {
    const api = server.api.status();
    const added = await app.services.handlers['machines.add']({ url: api.url!, apiKey: api.key, name: 'Study API' });
    expect(added).toMatchObject({ name: 'Study API', kind: 'openai' });
    const online = await until('online with its models', () =>
      app.services.machines.list().find((m: MachineInfo) => m.name === 'Study API' && m.state === 'online' && m.models.length > 0),
    );
    const model = online.models[0]!;
    const conversation = await app.services.handlers['chats.create']({ modelId: model.ref, settings: { maxTokens: 24 } });
    const { reply } = await app.services.handlers['chats.send']({
      conversationId: conversation.id,
      parentId: null,
      text: 'Once upon a time',
    });
    expect(reply.error).toBeNull();
    expect(reply.status).toBe('complete');
    expect(reply.content.length).toBeGreaterThan(0);
    expect(reply.stats?.generatedTokens).toBeGreaterThan(0);
    const streamed = app.deltas.filter((d) => d.requestId === reply.id).flatMap((d) => d.parts.map((p) => p.text));
    expect(streamed.join('')).toBe(reply.content + reply.reasoning);
    expect(await server.handlers['chats.list'](undefined)).toEqual([]);
  }, 60_000);

  it('a wrong key is refused with the server’s own words', async () => {
    const api = server.api.status();
    await expect(app.services.handlers['machines.add']({ url: api.url!, apiKey: 'wrong-key-0000' })).rejects.toMatchObject({
      message: expect.stringMatching(/HTTP 401/),
    });
  });

  it('freehold machines add <code>, list --json, import and remove <name>', async () => {
    const cliDir = dir();
    const code = server.sharing.status().code!;
    const pairedBefore = server.sharing.status().clients.length;
    const add = await cli('machines', 'add', code, '--data-dir', cliDir);
    expect(add.err).toBe('');
    expect(add.code).toBe(0);
    expect(add.out).toMatch(/Added study/);
    expect(server.sharing.status().clients).toHaveLength(pairedBefore + 1);
    const listed = await cli('machines', 'list', '--json', '--data-dir', cliDir);
    expect(listed.code).toBe(0);
    const machines = JSON.parse(listed.out) as MachineInfo[];
    expect(machines).toHaveLength(1);
    expect(machines[0]).toMatchObject({ name: 'study', state: 'online' });
    expect(machines[0]!.models.map((m) => m.name)).toContain(server.library.snapshot().models[0]!.name);
    const text = await cli('machines', 'list', '--data-dir', cliDir);
    expect(text.out).toMatch(/^study {2}Freehold {2}127\.0\.0\.1:\d+ {2}online/m);
    const modelsBefore = server.library.snapshot().models.length;
    const imported = await cli('machines', 'import', 'study', testModelPath(), '--data-dir', cliDir);
    expect(imported.err).toMatch(/of 1\.\d MB/);
    expect(imported.code).toBe(0);
    expect(imported.out).toMatch(/^Imported stories260K\.gguf onto study as /);
    expect(server.library.snapshot().models).toHaveLength(modelsBefore + 1);
    const notThere = await cli('machines', 'import', 'study', path.join(cliDir, 'missing.gguf'), '--data-dir', cliDir);
    expect(notThere.code).toBe(1);
    expect(notThere.err).toMatch(/missing\.gguf: .*no such file/i);
    const removed = await cli('machines', 'remove', 'study', '--data-dir', cliDir);
    expect(removed.out).toMatch(/Removed study; its pairing key was revoked there too/);
    expect(server.sharing.status().clients).toHaveLength(pairedBefore);
    expect(JSON.parse((await cli('machines', 'list', '--json', '--data-dir', cliDir)).out)).toEqual([]);
    const usage = await cli('machines', 'add', '--data-dir', cliDir);
    expect(usage.code).toBe(2);
    const garbage = await cli('machines', 'add', 'not-a-code-at-all', '--data-dir', cliDir);
    expect(garbage.code).toBe(1);
    expect(garbage.err).toMatch(/not a Freehold pairing code/);
    const notHttp = await cli('machines', 'add', '--url', 'ftp://x', '--data-dir', cliDir);
    expect(notHttp.code).toBe(1);
    expect(notHttp.err).toMatch(/must start with http:\/\/ or https:\/\//);
  }, 60_000);

  it('a running host follows what the CLI changes in its list of machines', async () => {
    const appDir = app.services.machines['writer' as never] as unknown as { file: string };
    const dataDir = path.dirname(appDir.file);
    expect((await cli('machines', 'add', server.sharing.status().code!, '--data-dir', dataDir)).code).toBe(0);
    await until('the app lists study, online', () => app.services.machines.list().find((m) => m.name === 'study' && m.state === 'online'));
    expect((await cli('machines', 'remove', 'study', '--data-dir', dataDir)).code).toBe(0);
    await until('the app no longer lists study', () => !app.services.machines.list().some((m) => m.name === 'study'));
  }, 30_000);

  it('a browser UI not on this machine may use machines but not pair, share or see the code', async () => {
    const handlers = remoteBrowserHandlers(app.services.handlers);
    expect(Array.isArray(await handlers['machines.list'](undefined))).toBe(true);
    for (const call of <Array<() => unknown>>[
      () => handlers['machines.add']({ code: 'FH1-xxxxxxxxxxxx' }),
      () => handlers['machines.share']({ enabled: true }),
      () => handlers['machines.newCode'](undefined),
      () => handlers['machines.sharing'](undefined),
      () => handlers['machines.revoke']({ id: 'x' }),
    ]) {
      await expect(Promise.resolve().then(call)).rejects.toMatchObject({
        code: 'forbidden',
        message: expect.stringMatching(/127\.0\.0\.1/),
      });
    }
  });

  it('such a browser cannot move the hub endpoint (where the token would go), though it may change other settings', async () => {
    const handlers = remoteBrowserHandlers(app.services.handlers);
    const before = (await app.services.handlers['settings.get'](undefined)).hub.endpoint;
    await expect(handlers['settings.update']({ hub: { endpoint: 'https://attacker.example' } })).rejects.toMatchObject({
      code: 'forbidden',
      message: expect.stringMatching(/changed only from the machine Freehold runs on/),
    });
    expect((await app.services.handlers['settings.get'](undefined)).hub.endpoint).toBe(before);
    // The same endpoint again, and other settings, pass.
    await handlers['settings.update']({ hub: { endpoint: before }, appearance: { theme: 'dark' } });
    expect((await app.services.handlers['settings.get'](undefined)).appearance.theme).toBe('dark');
  });

  it('such a browser may switch the configured MCP servers but not add a program to run, nor import, nor read their secrets', async () => {
    await app.services.handlers['tools.add']({
      name: 'remote-api',
      config: { transport: 'http', url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer s3cret-token' } },
    });
    const handlers = restrictStdioEdits(remoteBrowserHandlers(app.services.handlers), app.services.mcp);
    const listed = await handlers['tools.list'](undefined);
    expect(listed.canEditStdio).toBe(false);
    expect(JSON.stringify(listed)).not.toContain('s3cret-token');
    expect(listed.servers.find((s) => s.name === 'remote-api')!.config).toMatchObject({ headers: { Authorization: '(hidden)' } });
    for (const call of <Array<() => unknown>>[
      () =>
        handlers['tools.add']({ name: 'x', config: { transport: 'stdio', command: '/bin/sh', args: ['-c', 'id'], env: {}, cwd: null } }),
      () => handlers['tools.import']({ json: '{"mcpServers": {"x": {"command": "/bin/sh"}}}' }),
    ]) {
      await expect(Promise.resolve().then(call)).rejects.toMatchObject({
        code: 'forbidden',
        message: expect.stringMatching(/127\.0\.0\.1/),
      });
    }
    expect(app.services.mcp.snapshot().servers.map((s) => s.name)).not.toContain('x');
    // Switching a configured server is allowed; the desktop (local) list still has the secret for its owner.
    await handlers['tools.setEnabled']({ name: 'remote-api', enabled: false });
    expect((await app.services.handlers['tools.list'](undefined)).servers.find((s) => s.name === 'remote-api')!.config).toMatchObject({
      headers: { Authorization: 'Bearer s3cret-token' },
    });
    await app.services.handlers['tools.remove']({ name: 'remote-api' });
  });
});
