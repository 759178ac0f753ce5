import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../electron/cli/cli';
import { tempDir } from '../../helpers/temp';
import pkg from '../../../package.json' with { type: 'json' };
import { testModelPath } from '../../helpers/test-model';
import { backendLabels, type HardwareReport } from '../../../shared/inference';

async function cliAs(program: string | undefined, args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) }, program);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const cli = (...args: string[]) => cliAs(undefined, args);

describe('CLI', () => {
  it('prints help listing its commands', async () => {
    const result = await cli('--help');
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/Usage: npm run cli -- <command>/);
    expect(result.out).toMatch(/version/);
  });

  it('prints the version for people and for scripts', async () => {
    expect((await cli('version')).out).toBe(`Freehold ${pkg.version} (Node.js ${process.versions.node})`);
    const json = JSON.parse((await cli('version', '--json')).out);
    expect(json).toEqual({ freehold: pkg.version, node: process.versions.node });
  });

  it('fails clearly on an unknown command or option', async () => {
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command "frobnicate"/);
    expect(unknown.err).toMatch(/^Usage: npm run cli -- <command> \[options\]$/m);
    const badOption = await cli('version', '--colour');
    expect(badOption.code).toBe(2);
    expect(badOption.err).toMatch(/Unknown option '--colour'/);
    expect(badOption.err).toMatch(/^Usage: npm run cli -- version \[--json\]$/m);
  });

  it('prints the version for --version and -v, and exits 0 for help', async () => {
    for (const flag of ['--version', '-v'])
      expect(await cli(flag)).toEqual({ code: 0, out: `Freehold ${pkg.version} (Node.js ${process.versions.node})`, err: '' });
    expect(JSON.parse((await cli('--version', '--json')).out)).toEqual({ freehold: pkg.version, node: process.versions.node });
    for (const args of [['--help'], ['-h'], ['help'], ['models', '--help']]) expect((await cli(...args)).code).toBe(0);
  });

  it('sets the engine a model runs on, and lists which engine runs each model and why', async () => {
    const dir = tempDir();
    const imported = JSON.parse((await cli('models', 'import', testModelPath(), '--json', '--data-dir', dir)).out) as Array<{
      model: { id: string };
    }>;
    const id = imported[0]!.model.id;
    const listed = async () =>
      (JSON.parse((await cli('models', 'list', '--json', '--data-dir', dir)).out) as { engines: Record<string, unknown> }).engines[id];
    expect(await listed()).toEqual({ engine: 'worker', why: 'Auto: a text-only model runs on node-llama-cpp' });
    const set = await cli('models', 'set', id, 'engine=server', '--data-dir', dir);
    expect(set).toMatchObject({
      code: 0,
      out: 'stories260K runs on llama.cpp’s server (Chosen for this model in its options: llama.cpp’s server).',
    });
    expect(await listed()).toEqual({ engine: 'server', why: 'Chosen for this model in its options: llama.cpp’s server' });
    expect((await cli('models', 'list', '--data-dir', dir)).out).toMatch(
      /engine: llama\.cpp’s server \(Chosen for this model in its options/,
    );
    expect((await cli('models', 'set', id, 'engine=auto', '--data-dir', dir)).code).toBe(0);
    expect(((await listed()) as { engine: string }).engine).toBe('worker');
    const bad = await cli('models', 'set', id, 'engine=gpu', '--data-dir', dir);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/engine must be auto, worker \(node-llama-cpp\) or server/);
    expect((await cli('models', 'set', 'nope', 'engine=server', '--data-dir', dir)).err).toMatch(/There is no model "nope"/);
  });

  it('exits 2 for a usage error, 1 for a failure, and names the program it was run as', async () => {
    const dir = tempDir();
    const none = await cliAs('freehold', []);
    expect(none.code).toBe(2);
    expect(none.out).toBe('');
    expect(none.err).toMatch(/^Usage: freehold <command> \[options\]$/m);
    const noAction = await cliAs('freehold', ['models', '--data-dir', dir]);
    expect(noAction.code).toBe(2);
    expect(noAction.err).toMatch(/^Usage: freehold models list\|search/m);
    const noId = await cliAs('freehold', ['models', 'remove', '--data-dir', dir]);
    expect(noId.code).toBe(2);
    expect(noId.err).toMatch(/models remove needs a model id/);
    const noValue = await cliAs('freehold', ['chat', '--model']);
    expect(noValue.code).toBe(2);
    expect(noValue.err).toMatch(/^Usage: freehold chat --model <path>/m);
    const badValue = await cliAs('freehold', ['chats', 'export', 'x', '--format', 'pdf', '--data-dir', dir]);
    expect(badValue.code).toBe(2);
    expect(badValue.err).toMatch(/--format must be md or json/);
    const missing = await cliAs('freehold', ['models', 'remove', 'no-such-model', '--json', '--data-dir', dir]);
    expect(missing).toMatchObject({ code: 1, out: '', err: 'freehold models: No such model in the library.' });
    expect((await cliAs('freehold', ['models', 'list', '--data-dir', dir])).out).toMatch(/Try: freehold models search qwen/);
  });

  it('uses --data-dir and reports a corrupt settings file without failing', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'settings.json'), 'not json');
    const result = await cli('info', '--json', '--data-dir', dir);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ dataDir: dir, settings: { inference: { backend: 'auto' } } });
    expect(result.err).toMatch(/warning: Settings file was unreadable/);
  });

  it('runs as a real process through the built bundle', () => {
    const dir = tempDir();
    const out = execFileSync(process.execPath, ['dist/electron/cli.mjs', 'info', '--json'], {
      env: { ...process.env, FREEHOLD_DATA_DIR: dir },
      encoding: 'utf8',
    });
    expect(JSON.parse(out).dataDir).toBe(dir);
    const failed = spawnSync(process.execPath, ['dist/electron/cli.mjs', 'nope'], { encoding: 'utf8' });
    expect(failed.status).toBe(2);
  });
});

describe('CLI inference commands', () => {
  const model = testModelPath();

  it('prints the hardware and the backend chosen, for people and as JSON', () => {
    const dir = tempDir();
    const env = { ...process.env, FREEHOLD_DATA_DIR: dir };
    const json = JSON.parse(
      execFileSync(process.execPath, ['dist/electron/cli.mjs', 'hardware', '--json'], { env, encoding: 'utf8' }),
    ) as HardwareReport;
    // Whichever backend this machine loads first (CUDA on a GPU box, the CPU here), in the order the README gives.
    expect(json.requested).toBe('auto');
    expect(json.attempts.map((a) => a.backend)).toEqual(['cuda', 'vulkan', 'metal', 'cpu']);
    expect(json.attempts.filter((a) => a.outcome === 'chosen').map((a) => a.backend)).toEqual([json.backend]);
    const human = execFileSync(process.execPath, ['dist/electron/cli.mjs', 'hardware'], { env, encoding: 'utf8' });
    // Spelled as everywhere else: "Vulkan", "CUDA", "Metal", "CPU".
    const name = backendLabels[json.backend];
    expect(human).toMatch(new RegExp(`^Backend: +${name} \\(automatic\\)`, 'm'));
    // A GPU backend that loaded without a GPU to run on (Vulkan with only lavapipe) is not chosen, and the reason starts with it.
    const deviceless = json.attempts.find((a) => a.reason.startsWith('loaded but found no GPU'));
    expect(human).toMatch(
      deviceless
        ? new RegExp(`^Why: +${backendLabels[deviceless.backend]} loaded but found no GPU.*: running on`, 'm')
        : new RegExp(`^Why: +${name} is the first that loaded`, 'm'),
    );
    for (const attempt of json.attempts)
      expect(human).toContain(`${backendLabels[attempt.backend].padEnd(7)} ${attempt.outcome}: ${attempt.reason}`);
    expect(human).toMatch(/^Threads: +\d+ \(/m);
  });

  it('streams a reply and ends with its stats; --json gives one object', async () => {
    const dir = tempDir();
    const env = { ...process.env, FREEHOLD_DATA_DIR: dir };
    // The CPU backend, so that the load line is the same on any machine: no layer on a GPU.
    expect((await cli('settings', 'set', 'backend=cpu', '--data-dir', dir)).code).toBe(0);
    const args = [
      'dist/electron/cli.mjs',
      'chat',
      '--model',
      model,
      '--temperature',
      '0',
      '--max-tokens',
      '40',
      '--seed',
      '1',
      'Once upon a time',
    ];
    const human = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/\[40 tokens, [\d.]+ tokens\/s, first token after \d+ ms, prompt \d+ tokens, stopped: max-tokens\]\n$/);
    expect(human.stderr).toMatch(/0\/6 layers on the GPU, 2048-token context/);
    const json = spawnSync(process.execPath, [...args, '--json'], { env, encoding: 'utf8' });
    const parsed = JSON.parse(json.stdout);
    expect(parsed.stats).toMatchObject({ generatedTokens: 40, stopReason: 'max-tokens' });
    expect(human.stdout.startsWith(parsed.text)).toBe(true);
  });

  it('fails clearly on a bad model path or bad options', () => {
    const env = { ...process.env, FREEHOLD_DATA_DIR: tempDir() };
    const missing = spawnSync(process.execPath, ['dist/electron/cli.mjs', 'chat', '--model', '/nope/x.gguf', 'hi'], {
      env,
      encoding: 'utf8',
    });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/Model file not found: \/nope\/x\.gguf/);
    const badNumber = spawnSync(process.execPath, ['dist/electron/cli.mjs', 'chat', '--model', model, '--max-tokens', 'lots', 'hi'], {
      env,
      encoding: 'utf8',
    });
    expect(badNumber.status).toBe(2);
    expect(badNumber.stderr).toMatch(/--max-tokens must be a whole number/);
    const noPrompt = spawnSync(process.execPath, ['dist/electron/cli.mjs', 'chat', '--model', model], { env, encoding: 'utf8' });
    expect(noPrompt.status).toBe(2);
  });
});

describe('CLI settings', () => {
  it('configures the local API server for the desktop app, refusing "*" as a CORS origin', async () => {
    const dir = tempDir();
    const set = await cli(
      'settings',
      'set',
      'api=on',
      'api-port=5001',
      'api-cors=http://localhost:3000',
      'api-idle-minutes=3',
      '--data-dir',
      dir,
    );
    expect(set.code).toBe(0);
    expect(set.out).toMatch(/api +on \(desktop app\), 127\.0\.0\.1:5001, key required, cors http:\/\/localhost:3000, idle unload 3 min/);
    const star = await cli('settings', 'set', 'api-cors=*', '--data-dir', dir);
    expect(star.code).toBe(2);
    expect(star.err).toMatch(/api\.corsOrigins/);
    const maybe = await cli('settings', 'set', 'api=maybe', '--data-dir', dir);
    expect(maybe.code).toBe(2);
    expect(maybe.err).toMatch(/api must be on or off, not "maybe"/);
    expect(JSON.parse((await cli('settings', '--json', '--data-dir', dir)).out).api).toMatchObject({
      enabled: true,
      port: 5001,
      corsOrigins: ['http://localhost:3000'],
    });
  });

  it('shows and changes settings, refusing bad values without changing anything', async () => {
    const dir = tempDir();
    const set = await cli('settings', 'set', 'backend=vulkan', 'threads=3', 'max-vram-per-gpu=4096', '--data-dir', dir);
    expect(set.code).toBe(0);
    expect(set.out).toMatch(/backend +vulkan/);
    const saved = JSON.parse((await cli('settings', '--json', '--data-dir', dir)).out);
    expect(saved.inference).toEqual({ backend: 'vulkan', threads: 3, maxVramPerGpuMiB: 4096, parallel: 4 });
    const bad = await cli('settings', 'set', 'backend=rocm', 'threads=1', '--data-dir', dir);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/inference\.backend/);
    const unknown = await cli('settings', 'set', 'colour=red', '--data-dir', dir);
    expect(unknown.code).toBe(2);
    const back = await cli('settings', 'set', 'threads=auto', 'max-vram-per-gpu=none', '--data-dir', dir);
    expect(back.out).toMatch(/threads +auto/);
    expect(JSON.parse((await cli('settings', '--json', '--data-dir', dir)).out).inference).toEqual({
      backend: 'vulkan',
      threads: 0,
      maxVramPerGpuMiB: null,
      parallel: 4,
    });
    // Replies at once: a number from 1 to 16.
    expect((await cli('settings', 'set', 'parallel=2', '--data-dir', dir)).code).toBe(0);
    expect(JSON.parse((await cli('settings', '--json', '--data-dir', dir)).out).inference.parallel).toBe(2);
    expect((await cli('settings', 'set', 'parallel=0', '--data-dir', dir)).code).toBe(2);
  });
});

describe('CLI models commands (fake hub on 127.0.0.1)', () => {
  it('searches, downloads with progress, lists, imports and removes', async () => {
    const { startFakeHub } = await import('../../helpers/fake-hub');
    const { readFileSync } = await import('node:fs');
    const data = readFileSync(testModelPath());
    const hub = await startFakeHub([
      {
        id: 'ggml-org/tiny-llamas',
        author: 'ggml-org',
        downloads: 5,
        likes: 1,
        lastModified: '2026-01-01T00:00:00.000Z',
        sha: 'abc123',
        files: [{ path: 'stories-Q8_0.gguf', data }],
      },
    ]);
    try {
      const env = { ...process.env, FREEHOLD_DATA_DIR: tempDir(), HF_ENDPOINT: hub.url };
      // Asynchronous: the fake hub runs in this process and must keep answering.
      const { execFile } = await import('node:child_process');
      const run = (...args: string[]) =>
        new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
          execFile(process.execPath, ['dist/electron/cli.mjs', 'models', ...args], { env, encoding: 'utf8' }, (error, stdout, stderr) =>
            resolve({ status: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
      const search = await run('search', 'tiny');
      expect(search.stdout).toMatch(/ggml-org\/tiny-llamas +5 downloads/);
      const download = await run('download', 'ggml-org/tiny-llamas', '--quant', 'Q8_0');
      expect(download.status).toBe(0);
      expect(download.stderr).toMatch(/Downloading ggml-org\/tiny-llamas Q8_0/);
      expect(download.stdout).toMatch(/^Done: \w+ \(verified sha256\)/);
      const list = JSON.parse((await run('list', '--json')).stdout);
      expect(list.models).toHaveLength(1);
      expect(list.models[0]).toMatchObject({ origin: 'downloaded', source: { repo: 'ggml-org/tiny-llamas' } });
      const imported = await run('import', testModelPath());
      expect(imported.stdout).toMatch(/^imported \w+ +stories260K +\(referenced\)/);
      const bad = await run('import', 'package.json');
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(/refused .*package\.json: Only \.gguf files can be imported/);
      const removed = await run('remove', list.models[0].id);
      expect(removed.stdout).toMatch(/deleted 1 file/);
      expect(JSON.parse((await run('list', '--json')).stdout).models).toHaveLength(1);
    } finally {
      await hub.close();
    }
  }, 60_000);
});

describe('CLI: tools', () => {
  it("options before -- are Freehold's, after it the program's; the file written is named", async () => {
    const dir = tempDir();
    const added = await cli('tools', 'add', 'files', '--data-dir', dir, '--', 'node', 'server.js', '--data-dir', '/srv/x');
    expect(added.code).toBe(0);
    expect(added.out).toContain(`Added files to ${path.join(dir, 'mcp.json')}`);
    // The program's own --data-dir went to the program; a note says Freehold did not take it.
    const config = JSON.parse(readFileSync(path.join(dir, 'mcp.json'), 'utf8')) as {
      mcpServers: Record<string, { command: string; args: string[] }>;
    };
    expect(config.mcpServers.files).toMatchObject({ command: 'node', args: ['server.js', '--data-dir', '/srv/x'] });
    expect(added.err).toMatch(/--data-dir came after -- and was passed to the program; Freehold's own options go before --/);
  });

  it('a malformed mcp.json is reported as such (exit 1), never as "no servers"; unusable entries are named', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'mcp.json'), '{ "mcpServers": { "a": ');
    const broken = await cli('tools', 'list', '--data-dir', dir);
    expect(broken.code).toBe(1);
    expect(broken.err).toMatch(/mcp\.json.*not valid JSON/);
    expect(broken.out).not.toMatch(/No MCP servers yet/);
    writeFileSync(path.join(dir, 'mcp.json'), JSON.stringify({ mcpServers: { a: { command: 5 } } }));
    const skipped = await cli('tools', 'list', '--data-dir', dir);
    expect(skipped.code).toBe(0);
    expect(skipped.err).toMatch(/^a {2}left out: /m);
    expect(skipped.out).not.toMatch(/No MCP servers yet/);
  });
});
