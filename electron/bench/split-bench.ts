/**
 * bench split: the same split (this machine + a paired one, half the layers
 * each) through Freehold's links (each RPC connection tunnelled over the
 * paired TLS link) against llama.cpp's own direct loopback RPC connections,
 * both loaded side by side and measured in alternating rounds; plus the model
 * on one machine, for scale. Greedy, same prompt, threads and context.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findEngines } from '../engines/llama-engines';
import { freePort, waitForHealth, waitForPort } from '../engines/rpc-helpers';
import { forkLauncher } from '../inference/launcher';
import { createHostServices, type HostServices } from '../services/host-services';
import { median } from './bench-host';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Decode tokens/s of one streamed greedy reply (from the first token to the last). */
async function decodeTps(url: string, apiKey: string | null, maxTokens: number): Promise<number> {
  const start = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({
      messages: [{ role: 'user', content: 'Once upon a time' }],
      temperature: 0,
      max_tokens: maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  let first = 0;
  let tokens = 0;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const data = JSON.parse(event.slice(6)) as { choices: Array<{ delta: { content?: string } }>; usage?: { completion_tokens: number } };
      if (first === 0 && data.choices[0]?.delta.content) first = performance.now();
      if (data.usage) tokens = data.usage.completion_tokens;
    }
  }
  const finish = performance.now();
  return (tokens - 1) / ((finish - (first || start)) / 1000);
}

async function startServer(binary: string, args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(binary, [...args, '--host', '127.0.0.1', '--port', String(port), '--no-webui'], { stdio: 'ignore' });
  await waitForHealth(port, 60_000, () => (child.exitCode !== null ? 'llama-server exited' : null));
  return { url: `http://127.0.0.1:${port}`, child };
}

export async function splitBench(modelPath: string, rounds: number, maxTokens: number, threads: number): Promise<void> {
  const env = {
    ...process.env,
    FREEHOLD_ENGINES_DIR: process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines'),
  };
  const engines = await findEngines({ dataDir: os.tmpdir(), env });
  if (!engines.found) {
    console.log(`bench split: skipped (llama.cpp's programs are not built: run \`freehold engines --build\`; ${engines.canBuild.reason})`);
    return;
  }
  const { llamaServer, rpcServer } = engines.found;
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const host = async (name: string, share: boolean): Promise<HostServices> => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), `freehold-bench-${name}-`));
    dirs.push(dataDir);
    const services = await createHostServices({
      dataDir,
      host: 'web',
      env,
      workerLauncher: forkLauncher(path.join(here, 'worker.mjs'), () => undefined),
      log: () => undefined,
      api: { enabled: false },
      share: share ? { enabled: true, host: '127.0.0.1', port: 0, name } : { name },
    });
    await services.settings.update({ inference: { threads } });
    return services;
  };
  // The other machine is its own process, as it would be: its end of the tunnels runs beside, not in, this one's event loop.
  const towerDir = mkdtempSync(path.join(os.tmpdir(), 'freehold-bench-tower-'));
  dirs.push(towerDir);
  // Its settings first: the same thread count as everything else here.
  const prepare = await createHostServices({ dataDir: towerDir, host: 'cli', env, log: () => undefined });
  await prepare.settings.update({ inference: { threads } });
  await prepare.close();
  const towerProcess = spawn(
    process.execPath,
    [
      path.join(here, 'serve.mjs'),
      '--port',
      '0',
      '--no-api',
      '--data-dir',
      towerDir,
      '--share',
      '--share-host',
      '127.0.0.1',
      '--share-port',
      '0',
      '--name',
      'tower',
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(towerProcess);
  const code = await new Promise<string>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Pairing code: (FH1-\S+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    towerProcess.stdout!.on('data', onData);
    towerProcess.stderr!.on('data', onData);
    towerProcess.once('exit', () => reject(new Error(`the tower process exited: ${output}`)));
  });
  const laptop = await host('laptop', false);
  try {
    const [imported] = await laptop.handlers['models.import']({ paths: [modelPath], mode: 'reference' });
    const modelId = imported!.model!.id;
    const towerId = (await laptop.handlers['machines.add']({ code })).id;
    for (let i = 0; i < 200 && laptop.machines.list()[0]?.state !== 'online'; i++) await new Promise((r) => setTimeout(r, 50));
    const plan = await laptop.handlers['split.plan']({ modelId, machineIds: ['this', towerId] });
    const layers = [Math.ceil(plan.totalLayers / 2), Math.floor(plan.totalLayers / 2)];
    await laptop.handlers['split.load']({ modelId, machineIds: ['this', towerId], layers });
    const split = laptop.machines.list().find((m) => m.id === 'split')!;
    const splitKey = (laptop.machines as unknown as { ephemeral: Array<{ apiKey: string }> }).ephemeral[0]!.apiKey;

    // The same split over llama.cpp's own loopback RPC: two more helpers, connected directly.
    const helperPorts: number[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const child = spawn(rpcServer, ['-H', '127.0.0.1', '-p', String(port), '-t', String(threads)], { stdio: 'ignore' });
      children.push(child);
      await waitForPort(port, 15_000, () => (child.exitCode !== null ? 'rpc-server exited' : null));
      helperPorts.push(port);
    }
    const common = ['-m', modelPath, '-c', String(plan.contextSize), '-t', String(threads)];
    const direct = await startServer(llamaServer, [
      ...common,
      '--rpc',
      helperPorts.map((p) => `127.0.0.1:${p}`).join(','),
      '-ngl',
      '999',
      '--tensor-split',
      layers.join(','),
    ]);
    children.push(direct.child);
    const single = await startServer(llamaServer, common);
    children.push(single.child);

    const linked: number[] = [];
    const loopback: number[] = [];
    const alone: number[] = [];
    for (let i = 0; i < 2; i++) {
      await decodeTps(split.address, splitKey, maxTokens);
      await decodeTps(direct.url, null, maxTokens);
    }
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? ['linked', 'loopback'] : ['loopback', 'linked'];
      for (const which of order) {
        if (which === 'linked') linked.push(await decodeTps(split.address, splitKey, maxTokens));
        else loopback.push(await decodeTps(direct.url, null, maxTokens));
      }
      alone.push(await decodeTps(single.url, null, maxTokens));
    }
    const splitTps = median(linked);
    const directTps = median(loopback);
    console.log(`split across this machine + tower (${layers.join(' + ')} layers), ${maxTokens} tokens, ${rounds} rounds`);
    console.log(
      `bench split: ratio ${(splitTps / directTps).toFixed(3)} single_machine_tps ${median(alone).toFixed(0)} split_tps ${splitTps.toFixed(0)} direct_rpc_tps ${directTps.toFixed(0)}`,
    );
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await laptop.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
