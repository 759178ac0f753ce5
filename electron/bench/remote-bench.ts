/**
 * bench remote: a reply through a paired link (laptop → TLS WebSocket → tower
 * → its worker, deltas back the same way) against the same reply asked of the
 * tower itself, on loopback: same model, threads, prompt and greedy sampling,
 * rounds interleaved, medians.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { forkLauncher } from '../inference/launcher';
import { createHostServices, type HostServices } from '../services/host-services';
import { remoteModelRef } from '../../shared/machines';
import type { ChatDelta } from '../../shared/inference';
import { median } from './bench-host';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Round {
  ttftMs: number;
  tps: number;
  tokens: number;
}

export async function remoteBench(modelPath: string, rounds: number, maxTokens: number, threads: number): Promise<void> {
  const dirs: string[] = [];
  const host = async (name: string, share: boolean): Promise<HostServices> => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), `freehold-bench-${name}-`));
    dirs.push(dataDir);
    const services = await createHostServices({
      dataDir,
      host: 'web',
      workerLauncher: forkLauncher(path.join(here, 'worker.mjs'), () => undefined),
      log: () => undefined,
      api: { enabled: false },
      share: share ? { enabled: true, host: '127.0.0.1', port: 0, name } : { name },
    });
    await services.settings.update({ inference: { threads } });
    return services;
  };
  const tower = await host('tower', true);
  const laptop = await host('laptop', false);
  try {
    const [imported] = await tower.handlers['models.import']({ paths: [modelPath], mode: 'reference' });
    if (!imported?.ok) throw new Error(`Could not add the model: ${imported?.error}`);
    const modelId = imported.model!.id;
    const machine = await laptop.handlers['machines.add']({ code: tower.sharing.status().code! });
    for (let i = 0; i < 200 && laptop.machines.list()[0]?.state !== 'online'; i++) await new Promise((r) => setTimeout(r, 50));
    const placement = laptop.machines.place(remoteModelRef(machine.id, modelId), () => null);
    if (placement.kind !== 'remote') throw new Error('The tower is not online.');

    const input = {
      system: 'You tell short stories for children.',
      messages: [{ role: 'user' as const, text: 'Once upon a time' }],
      sampling: { temperature: 0, maxTokens },
    };
    let firstLocal = 0;
    let localId = '';
    tower.events.subscribeAll((event, payload) => {
      if (event === 'onChatDelta' && firstLocal === 0 && (payload as ChatDelta).requestId === localId) firstLocal = performance.now();
    });
    let counter = 0;
    const runLocal = async (): Promise<Round> => {
      localId = `local-${counter++}`;
      firstLocal = 0;
      const start = performance.now();
      const result = await tower.handlers['models.generate']({ modelId, requestId: localId, ...input });
      const end = performance.now();
      const tokens = result.stats.generatedTokens;
      return { ttftMs: firstLocal - start, tps: (tokens - 1) / ((end - firstLocal) / 1000), tokens };
    };
    const runRemote = async (): Promise<Round> => {
      let first = 0;
      const start = performance.now();
      const result = await laptop.machines.generate(
        placement,
        `remote-${counter++}`,
        input,
        () => {
          if (first === 0) first = performance.now();
        },
        new AbortController().signal,
      );
      const end = performance.now();
      const tokens = result.stats.generatedTokens;
      return { ttftMs: first - start, tps: (tokens - 1) / ((end - first) / 1000), tokens };
    };
    for (let i = 0; i < 2; i++) {
      await runLocal();
      await runRemote();
    }
    const local: Round[] = [];
    const remote: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        local.push(await runLocal());
        remote.push(await runRemote());
      } else {
        remote.push(await runRemote());
        local.push(await runLocal());
      }
    }
    const localTps = median(local.map((r) => r.tps));
    const remoteTps = median(remote.map((r) => r.tps));
    const overhead = median(remote.map((r) => r.ttftMs)) - median(local.map((r) => r.ttftMs));
    console.log(
      `tower itself: ttft ${median(local.map((r) => r.ttftMs)).toFixed(2)} ms, ${localTps.toFixed(0)} tokens/s (${local[0]?.tokens} tokens)`,
    );
    console.log(
      `through the link: ttft ${median(remote.map((r) => r.ttftMs)).toFixed(2)} ms, ${remoteTps.toFixed(0)} tokens/s (${remote[0]?.tokens} tokens)`,
    );
    console.log(
      `bench remote: ratio ${(remoteTps / localTps).toFixed(3)} ttft_overhead_ms ${overhead.toFixed(2)} remote_tps ${remoteTps.toFixed(0)} local_tps ${localTps.toFixed(0)}`,
    );
  } finally {
    await laptop.close();
    await tower.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}
