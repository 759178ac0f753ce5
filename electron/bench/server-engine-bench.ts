/**
 * bench server-engine: Freehold's API with the model on llama.cpp's server
 *   (the server engine) against the same llama-server called directly: the
 *   very process the engine runs (found by its parent, this process, in
 *   /proc; its key in its environment), else, off Linux, a second one started
 *   with the same command line (server-args.ts). Same model, threads,
 *   context, prompt and greedy max_tokens, streamed chat completions read by a
 *   client in this process, rounds alternated. The ratio is of decode
 *   tokens/s; the overhead is the difference of the median times to the first
 *   token. One process for both matters on a busy machine: two llama-servers'
 *   decode speeds wander apart by more than the difference measured.
 * bench engines: both engines side by side through Freehold's API, on
 *   stories260K and on the 0.7B bench model when it has been made
 *   (`--only bench-model`): decode tokens/s and time to first token of each.
 *
 * Both need llama.cpp's programs (found or built as for the tests: the cache
 * in FREEHOLD_ENGINES_DIR, ~/.cache/freehold-test/engines by default).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EngineName } from '../../shared/inference';
import { findEngines } from '../engines/llama-engines';
import { LlamaServerProcess } from '../engines/llama-server-process';
import { serverArgs } from '../engines/server-args';
import type { HostServices } from '../services/host-services';
import { benchCacheDir } from './bench-model';
import { streamOnce, type StreamRound } from './peer-bench';
import { benchServices, median } from './bench-host';

/** The environment that finds llama.cpp's programs where the tests build them. */
export function benchEnginesEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    FREEHOLD_ENGINES_DIR: process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines'),
  };
}

export interface EngineHost {
  services: HostServices;
  /** The API's base, without /v1. */
  base: string;
  key: string;
  model: string;
  contextSize: number;
  close(): Promise<void>;
}

/**
 * Host services (a forked worker, the API on a free port) with `modelPath`
 * imported and loaded on `engine`, `parallel` replies at once.
 */
export async function engineHost(
  modelPath: string,
  engine: EngineName,
  options: { threads: number; parallel: number; contextSize?: number },
): Promise<EngineHost> {
  const { services, close } = await benchServices(engine, benchEnginesEnv());
  try {
    await services.settings.update({ inference: { threads: options.threads, parallel: options.parallel, backend: 'cpu' } });
    const [imported] = await services.handlers['models.import']({ paths: [modelPath], mode: 'reference' });
    if (!imported?.ok) throw new Error(`Could not add the model: ${imported?.error}`);
    const id = imported.model!.id;
    await services.handlers['settings.update']({ inference: { engines: { [id]: engine } } });
    const loaded = await services.handlers['models.load']({ id, ...(options.contextSize ? { contextSize: options.contextSize } : {}) });
    if (loaded.engine !== engine) throw new Error(`The model loaded on ${loaded.engine}, not ${engine}.`);
    const api = services.api.status();
    if (!api.url) throw new Error(`The API server did not start: ${api.error}`);
    const base = api.url.replace(/\/v1\/?$/, '');
    const models = (await (await fetch(`${base}/v1/models`, { headers: { Authorization: `Bearer ${api.key}` } })).json()) as {
      data: Array<{ id: string }>;
    };
    return { services, base, key: api.key, model: models.data[0]!.id, contextSize: loaded.contextSize, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The server engine's llama-server, a child of this process (Linux: /proc), to call directly: its URL and key. */
export function engineServer(modelPath: string): { url: string; apiKey: string } | null {
  if (process.platform !== 'linux') return null;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = /PPid:\s+(\d+)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (Number(parent) !== process.pid) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!command[0]?.endsWith('llama-server') || !command.includes(modelPath)) continue;
      const port = command[command.indexOf('--port') + 1];
      const environment = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      const key =
        environment.find((line) => line.startsWith('LLAMA_API_KEY='))?.slice('LLAMA_API_KEY='.length) ??
        command[command.indexOf('--api-key') + 1];
      if (port && key) return { url: `http://127.0.0.1:${port}`, apiKey: key };
    } catch {
      // gone, or not ours to read
    }
  }
  return null;
}

/** A streamed request, tried again once where llama-server closed a kept-alive connection under fetch (it does after a stream). */
export async function streamAgain(...args: Parameters<typeof streamOnce>): Promise<StreamRound> {
  try {
    return await streamOnce(...args);
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return streamOnce(...args);
  }
}

/**
 * llama-server's own aggregate decode tokens/s for one chat message per
 * prompt at once, asked directly as completions of the prompts its template
 * renders (what the server engine sends it).
 */
export async function sameServerTps(server: { url: string; apiKey: string }, prompts: string[], maxTokens: number): Promise<number> {
  const rendered = await Promise.all(
    prompts.map(async (content) => {
      const response = await fetch(`${server.url}/apply-template`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${server.apiKey}` },
        body: JSON.stringify({ messages: [{ role: 'user', content }] }),
      });
      return ((await response.json()) as { prompt: string }).prompt;
    }),
  );
  const rounds = await Promise.all(
    rendered.map((prompt) => streamAgain(server.url, 'completions', { apiKey: server.apiKey, maxTokens, prompt })),
  );
  const first = Math.min(...rounds.map((r) => r.firstAt));
  const end = Math.max(...rounds.map((r) => r.endedAt));
  return rounds.reduce((sum, r) => sum + r.tokens, 0) / ((end - first) / 1000);
}

function summary(rounds: StreamRound[]) {
  return {
    ttftMs: median(rounds.map((r) => r.ttftMs)),
    tps: median(rounds.map((r) => r.tps)),
    tokens: median(rounds.map((r) => r.tokens)),
  };
}

export async function serverEngineBench(modelPath: string, rounds: number, tokens: number, threads: number): Promise<void> {
  const env = benchEnginesEnv();
  const engines = await findEngines({ dataDir: os.tmpdir(), env });
  if (!engines.found) {
    console.log(`bench server-engine: skipped (llama.cpp's programs are not built: run \`freehold engines --build\`)`);
    return;
  }
  const host = await engineHost(modelPath, 'server', { threads, parallel: 1 });
  let second: LlamaServerProcess | undefined;
  try {
    let direct = engineServer(modelPath);
    const which = direct ? 'the engine’s own llama-server' : 'a second llama-server, same command line';
    if (!direct) {
      second = await LlamaServerProcess.start({
        binary: engines.found.llamaServer,
        args: serverArgs({ modelPath, contextSize: host.contextSize, parallel: 1, gpuLayers: 0 }, threads),
        alias: 'direct',
      });
      direct = { url: second.url, apiKey: second.apiKey };
    }
    const theirs = () => streamAgain(direct.url, 'chat', { apiKey: direct.apiKey, maxTokens: tokens });
    const ours = () => streamAgain(host.base, 'chat', { apiKey: host.key, model: host.model, maxTokens: tokens });
    for (let i = 0; i < 2; i++) {
      await ours();
      await theirs();
    }
    const a: StreamRound[] = [];
    const b: StreamRound[] = [];
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) {
        a.push(await ours());
        b.push(await theirs());
      } else {
        b.push(await theirs());
        a.push(await ours());
      }
    }
    const us = summary(a);
    const them = summary(b);
    console.log(
      `bench server-engine: ratio ${(us.tps / them.tps).toFixed(3)} ttft_overhead_ms ${(us.ttftMs - them.ttftMs).toFixed(2)} ours_tps ${us.tps.toFixed(0)} llama_server_tps ${them.tps.toFixed(0)} ttft_ms ${us.ttftMs.toFixed(2)} vs ${them.ttftMs.toFixed(2)} tokens ${us.tokens} vs ${them.tokens} (model ${path.basename(modelPath)}, ${threads} thread(s), context ${host.contextSize}, ${rounds} rounds alternated; directly: ${which})`,
    );
  } finally {
    await second?.stop();
    await host.close();
  }
}

/** The 0.7B bench model if it has been made (bench-model.ts), else null: it is not made here. */
export function madeBenchModel(): string | null {
  const dir = benchCacheDir();
  if (!existsSync(dir)) return null;
  const files = readdirSync(dir).filter((f) => /^freehold-bench-0\.7b-g\d+-(Q4_K_M|Q8_0)\.gguf$/.test(f));
  const best = files.find((f) => f.includes('Q4_K_M')) ?? files[0];
  return best ? path.join(dir, best) : null;
}

/** Decode tokens/s and time to first token of one engine through the API. */
async function engineFigures(modelPath: string, engine: EngineName, rounds: number, tokens: number, threads: number) {
  const host = await engineHost(modelPath, engine, { threads, parallel: 1 });
  try {
    await streamOnce(host.base, 'chat', { apiKey: host.key, model: host.model, maxTokens: tokens });
    const measured: StreamRound[] = [];
    for (let i = 0; i < rounds; i++)
      measured.push(await streamOnce(host.base, 'chat', { apiKey: host.key, model: host.model, maxTokens: tokens }));
    return summary(measured);
  } finally {
    await host.close();
  }
}

export async function enginesBench(
  modelPath: string,
  small: { rounds: number; tokens: number },
  big: { rounds: number; tokens: number } | null,
  threads: number,
): Promise<void> {
  const models: Array<{ path: string; name: string; rounds: number; tokens: number }> = [
    { path: modelPath, name: path.basename(modelPath, '.gguf'), ...small },
  ];
  const made = big ? madeBenchModel() : null;
  if (big && made) models.push({ path: made, name: path.basename(made, '.gguf'), ...big });
  else if (big)
    console.log('bench engines: the 0.7B bench model is not made yet (`npm run bench -- --only bench-model` makes it); stories260K only');
  for (const model of models) {
    // One engine at a time on the machine: the first, then the other.
    const worker = await engineFigures(model.path, 'worker', model.rounds, model.tokens, threads);
    const server = await engineFigures(model.path, 'server', model.rounds, model.tokens, threads);
    const digits = (tps: number) => (tps < 100 ? 2 : 0);
    console.log(
      `bench engines: model ${model.name} worker_tps ${worker.tps.toFixed(digits(worker.tps))} server_tps ${server.tps.toFixed(digits(server.tps))} worker_ttft_ms ${worker.ttftMs.toFixed(1)} server_ttft_ms ${server.ttftMs.toFixed(1)} tokens ${model.tokens} rounds ${model.rounds} threads ${threads}`,
    );
  }
}
