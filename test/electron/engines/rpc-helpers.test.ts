import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { RpcHelperPool } from '../../../electron/engines/rpc-helpers';
import { tempDir } from '../../helpers/temp';
import { until } from '../../helpers/until';

/**
 * The pool of llama.cpp RPC helpers, with a stand-in program that listens
 * where it is told (`-p PORT`), as ggml-rpc-server does: one per key however
 * many starts race, a cap in all, a start stopped half-way leaves nothing,
 * and a helper never outlives its host, however the host ends.
 */
function fakeRpcServer(dir: string): string {
  const file = path.join(dir, 'fake-rpc-server');
  writeFileSync(
    file,
    [
      `#!${process.execPath}`,
      "const net = require('node:net');",
      "const port = Number(process.argv[process.argv.indexOf('-p') + 1]);",
      "net.createServer((s) => s.end()).listen(port, '127.0.0.1');",
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

/** The PIDs of processes started from `binary` that are still running. */
function running(binary: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        // The program itself (started through its #! line: node, then the script), not the shell watching it.
        return readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0')[1] === binary && alive(Number(e));
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('RPC helpers', () => {
  it('concurrent starts for one key make one helper; a cap holds in all; stop ends them', async () => {
    const binary = fakeRpcServer(tempDir());
    const pool = new RpcHelperPool(
      async () => binary,
      () => undefined,
      () => 1,
      2,
    );
    try {
      const ports = await Promise.all(Array.from({ length: 6 }, () => pool.start('peer-a')));
      expect(new Set(ports).size).toBe(1);
      expect(running(binary)).toHaveLength(1);
      await pool.start('peer-b');
      await expect(pool.start('peer-c')).rejects.toMatchObject({ code: 'busy', message: expect.stringMatching(/already runs 2/) });
      expect(running(binary)).toHaveLength(2);
      expect(pool.stop('peer-a')).toBe(true);
      await until('peer-a stopped', () => running(binary).length === 1);
      // Room again.
      await pool.start('peer-c');
      expect(pool.count()).toBe(2);
    } finally {
      pool.close();
    }
    await until('all stopped', () => running(binary).length === 0);
  });

  it('a start stopped half-way (its link closed) leaves no helper behind', async () => {
    const binary = fakeRpcServer(tempDir());
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const pool = new RpcHelperPool(
      async () => {
        await gate;
        return binary;
      },
      () => undefined,
      () => 1,
    );
    const starting = pool.start('peer-a');
    expect(pool.stop('peer-a')).toBe(true);
    release();
    await expect(starting).rejects.toMatchObject({ code: 'aborted' });
    await new Promise((r) => setTimeout(r, 300));
    expect(running(binary)).toEqual([]);
    expect(pool.count()).toBe(0);
    // Stopped while starting, then asked again at once (a link that dropped and came back): a fresh start, not the stopped one.
    const again = pool.start('peer-a');
    expect(pool.stop('peer-a')).toBe(true);
    const fresh = pool.start('peer-a');
    await expect(again).rejects.toMatchObject({ code: 'aborted' });
    expect(await fresh).toBeGreaterThan(0);
    expect(running(binary)).toHaveLength(1);
    pool.close();
    await until('stopped', () => running(binary).length === 0);
  });

  it('a helper dies with its host, even when the host is killed outright', async () => {
    const dir = tempDir();
    const binary = fakeRpcServer(dir);
    // A host of its own: the pool in a separate process that prints its helper's port and waits.
    const harness = path.join(dir, 'host.mjs');
    await build({
      stdin: {
        contents: `import { RpcHelperPool } from ${JSON.stringify(path.resolve('electron/engines/rpc-helpers.ts'))};
          const pool = new RpcHelperPool(async () => ${JSON.stringify(binary)}, () => undefined, () => 1);
          console.log('port ' + (await pool.start('peer')));
          setInterval(() => undefined, 1000);`,
        resolveDir: process.cwd(),
        loader: 'ts',
      },
      outfile: harness,
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'error',
    });
    expect(existsSync(harness)).toBe(true);
    const host = spawn(process.execPath, [harness], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    host.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until('the helper started', () => /port \d+/.test(out), 15_000);
    const [helper] = running(binary);
    expect(helper).toBeGreaterThan(0);
    host.kill('SIGKILL');
    await until('the helper gone with its host', () => !alive(helper!), 10_000);
    expect(running(binary)).toEqual([]);
  });
});
