/**
 * The GPU check's measurements of the two engines (scripts/gpu-check/server.mjs
 * runs it on the GPU machine; `scripts/gpu-check.sh pack` bundles it as
 * dist/electron/gpu-check-engines.mjs beside the CLI and the worker it forks):
 *
 *   fixtures <dir> <stories260K.gguf>   a tiny random vision projector for stories260K, a copy of the model
 *                                       beside it, and a 32×32 PNG (test/helpers/vision-model.ts)
 *   bench-model <stories260K.gguf> <dir>  the 0.7B bench model (electron/bench/bench-model.ts), written as Q8_0
 *                                       directly into <dir> (no llama-quantize: it is not built there)
 *   measure --small F --big F --llama-server BIN [--device CUDA0 --cap-mib N] [--cpu] …
 *       with host services as the app runs them (a forked worker, the local API):
 *       memory:      the server engine's llama-server on the named device as nvidia-smi sees it (the
 *                    process's used_memory, else the GPU's memory.used), with stories260K (the baseline:
 *                    CUDA context and buffers), then the big model under a per-GPU cap and without one;
 *       parallel:    4 streams' aggregate tokens/s over one stream's, on each engine;
 *       peer:        one stream's tokens/s through Freehold's API on each engine against a plain
 *                    llama-server on the same device (same model, context, prompt; rounds alternated);
 *       speculative: prompt lookup on the worker, a draft model (the model itself) on llama.cpp's server:
 *                    tokens predicted and accepted.
 *
 * Tokens/s are end to end (request sent to stream ended), the same for both
 * sides of a ratio. Prints its progress on stderr and one JSON object on
 * stdout's last line. It measures; server.mjs judges.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { EngineName, GenerateResult, LoadedModel } from '../../shared/inference';
import type { Placement } from '../../shared/placement';
import type { SpeculativeSetting } from '../../shared/settings';
import { benchServices, median } from '../../electron/bench/bench-host';
import { ensureBenchModel } from '../../electron/bench/bench-model';
import { startLlamaServer, streamOnce, type StreamRound } from '../../electron/bench/peer-bench';
import type { HostServices } from '../../electron/services/host-services';
import { pngImage, tinyProjectorGguf } from '../../test/helpers/vision-model';
import { peakWhile } from './nvidia-smi';

const MiB = 1024 * 1024;
const PROMPTS = ['Once upon a time', 'Lily had a cat', 'The sun was hot', 'Tom went to the park'];
/** An edit-style prompt: the reply repeats the input, so prompt lookup (and any draft) predicts well. */
const STORY =
  'Lily had a red ball. She played with the ball in the park. The ball was big and red. Her friend Tom saw the ball. ' +
  'Tom said, "Can I play with your ball?" Lily said, "Yes, we can play together." They played with the ball all day.';
const COPY_PROMPT = `Copy this story, changing nothing:\n${STORY}\nStory:\n${STORY}`;

const log = (line: string) => process.stderr.write(`${line}\n`);
const round = (value: number, digits = 0) => Number(value.toFixed(digits));

// ---------------------------------------------------------------- fixtures, bench model

function fixtures(dir: string, model: string): void {
  mkdirSync(dir, { recursive: true });
  const copy = path.join(dir, 'stories260K-vision.gguf');
  copyFileSync(model, copy);
  const mmproj = path.join(dir, 'mmproj-tiny.gguf');
  writeFileSync(mmproj, tinyProjectorGguf());
  const image = path.join(dir, 'tiny.png');
  // A gradient with a square in it: something for the projector's patches to differ on.
  writeFileSync(
    image,
    pngImage(32, 32, (x, y) => (x >= 8 && x < 24 && y >= 8 && y < 24 ? [220, 40, 40] : [x * 8, y * 8, 128])),
  );
  console.log(JSON.stringify({ model: copy, mmproj, image }));
}

async function benchModel(tokenizerFrom: string, dir: string): Promise<void> {
  process.env.FREEHOLD_BENCH_CACHE = dir;
  process.env.FREEHOLD_BENCH_NO_QUANTIZE = '1';
  const started = performance.now();
  const made = await ensureBenchModel(tokenizerFrom, log);
  console.log(
    JSON.stringify({
      path: made.path,
      quantization: made.quantization,
      parameters: made.parameters,
      note: made.note,
      seconds: round((performance.now() - started) / 1000, 1),
    }),
  );
}

/** This process's children that are llama-server (the server engine's), by /proc. */
function llamaServerChildren(): number[] {
  if (process.platform !== 'linux') return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (Number(/PPid:\s+(\d+)/.exec(status)?.[1]) !== process.pid) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (path.basename(command) === 'llama-server') pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

// ---------------------------------------------------------------- hosts and streams

interface Host {
  services: HostServices;
  base: string;
  key: string;
  close(): Promise<void>;
}

async function startHost(engine: EngineName, threads: number, gpu: boolean): Promise<Host> {
  const { services, close } = await benchServices(`gpu-check-${engine}`, { ...process.env });
  try {
    await services.handlers['settings.update']({ inference: { threads, parallel: 4, backend: gpu ? 'auto' : 'cpu' } });
    const api = services.api.status();
    if (!api.url) throw new Error(`The API server did not start: ${api.error}`);
    return { services, base: api.url.replace(/\/v1\/?$/, ''), key: api.key, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function importModel(host: Host, file: string): Promise<string> {
  const [imported] = await host.services.handlers['models.import']({ paths: [file], mode: 'reference' });
  if (!imported?.ok || !imported.model) throw new Error(`Could not add ${path.basename(file)} to the library: ${imported?.error}`);
  return imported.model.id;
}

function layersOf(model: LoadedModel): string {
  return `${model.gpuLayers}/${model.totalLayers}`;
}

async function generate(host: Host, text: string, maxTokens: number): Promise<GenerateResult> {
  return host.services.handlers['chat.generate']({
    requestId: `gpu-check-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    messages: [{ role: 'user', text }],
    sampling: { temperature: 0, maxTokens },
  });
}

const ours = (host: Host, model: string, maxTokens: number, prompt = PROMPTS[0]) =>
  streamOnce(host.base, 'chat', { apiKey: host.key, model, maxTokens, prompt });

/**
 * Tokens/s of streams run at once, end to end: their tokens over the time from sending the first request to
 * the last stream's end. (Not from the first token: both engines batch a reply's tokens into fewer events than
 * llama-server sends, so the time between the first and last event is no measure of decoding.)
 */
function tokensPerSecond(...streams: StreamRound[]): number {
  const start = Math.min(...streams.map((s) => s.startedAt));
  const end = Math.max(...streams.map((s) => s.endedAt));
  return streams.reduce((sum, s) => sum + s.tokens, 0) / ((end - start) / 1000);
}

interface EngineFigures {
  layers: string;
  contextSize: number;
  parallel: number | null;
  parallelNote: string | null;
  oneTps: number;
  fourTps: number;
  parallelRatio: number;
  oursTps: number;
  llamaServerTps: number;
  peerRatio: number;
  oursTtftMs: number;
  llamaServerTtftMs: number;
}

/** One stream against four at once through the API, then one stream against the plain llama-server, rounds alternated. */
async function engineFigures(
  host: Host,
  model: string,
  loaded: LoadedModel,
  peer: { url: string },
  options: { rounds: number; tokens: number },
): Promise<EngineFigures> {
  await ours(host, model, 8);
  const one: number[] = [];
  const four: number[] = [];
  for (let i = 0; i < options.rounds; i++) {
    one.push(tokensPerSecond(await ours(host, model, options.tokens, PROMPTS[i % PROMPTS.length])));
    four.push(tokensPerSecond(...(await Promise.all(PROMPTS.map((prompt) => ours(host, model, options.tokens, prompt))))));
  }
  const theirs = () => streamOnce(peer.url, 'chat', { maxTokens: options.tokens });
  await theirs();
  const a: StreamRound[] = [];
  const b: StreamRound[] = [];
  for (let i = 0; i < options.rounds; i++) {
    if (i % 2 === 0) {
      a.push(await ours(host, model, options.tokens));
      b.push(await theirs());
    } else {
      b.push(await theirs());
      a.push(await ours(host, model, options.tokens));
    }
  }
  const oursTps = median(a.map((r) => tokensPerSecond(r)));
  const theirTps = median(b.map((r) => tokensPerSecond(r)));
  return {
    layers: layersOf(loaded),
    contextSize: loaded.contextSize,
    parallel: loaded.parallel ?? null,
    parallelNote: loaded.parallelNote ?? null,
    oneTps: round(median(one), 1),
    fourTps: round(median(four), 1),
    parallelRatio: round(median(four) / median(one), 3),
    oursTps: round(oursTps, 1),
    llamaServerTps: round(theirTps, 1),
    peerRatio: round(oursTps / theirTps, 3),
    oursTtftMs: round(median(a.map((r) => r.ttftMs)), 1),
    llamaServerTtftMs: round(median(b.map((r) => r.ttftMs)), 1),
  };
}

interface SpeculativeFigures {
  mode: SpeculativeSetting['mode'];
  /** What the load says is in use ("prompt-lookup", "draft"), or null with the note why not. */
  inUse: string | null;
  note: string | null;
  layers: string;
  generated: number;
  predicted: number;
  accepted: number;
  tokensPerSecond: number;
}

async function speculative(host: Host, id: string, setting: SpeculativeSetting, tokens: number): Promise<SpeculativeFigures> {
  await host.services.handlers['settings.update']({ inference: { speculative: { [id]: setting } } });
  const loaded = await host.services.handlers['models.load']({ id });
  const result = await generate(host, COPY_PROMPT, tokens);
  return {
    mode: setting.mode,
    inUse: loaded.speculative ?? null,
    note: loaded.speculativeNote ?? null,
    layers: layersOf(loaded),
    generated: result.stats.generatedTokens,
    predicted: result.stats.predictedTokens ?? 0,
    accepted: result.stats.acceptedPredictions ?? 0,
    tokensPerSecond: round(result.stats.tokensPerSecond, 1),
  };
}

// ---------------------------------------------------------------- measure

interface MeasureOptions {
  small: string;
  big: string;
  llamaServer: string;
  gpu: boolean;
  device: string;
  capMiB: number;
  threads: number;
  rounds: number;
  tokens: number;
}

async function measure(options: MeasureOptions): Promise<void> {
  const { gpu, device } = options;
  const index = Number(/(\d+)$/.exec(device)?.[1] ?? 0);
  const out: Record<string, unknown> = {
    gpu,
    device: gpu ? device : 'CPU',
    threads: options.threads,
    rounds: options.rounds,
    tokens: options.tokens,
    models: { small: path.basename(options.small), big: path.basename(options.big) },
  };
  const placed = (cap?: number): Placement =>
    gpu ? { devices: [device], ...(cap ? { maxMemory: { [device]: cap * MiB } } : {}) } : { devices: 'cpu' };
  const figures = { rounds: options.rounds, tokens: options.tokens };
  let peer: Awaited<ReturnType<typeof startLlamaServer>> | undefined;
  const engines: Record<string, EngineFigures> = {};
  const spec: Record<string, SpeculativeFigures> = {};
  out.engines = engines;
  out.speculative = spec;

  try {
    // llama.cpp's server engine: memory on the device, then its figures with the big model on it whole.
    log('measure: server engine');
    const server = await startHost('server', options.threads, gpu);
    try {
      const small = await importModel(server, options.small);
      const big = options.big === options.small ? small : await importModel(server, options.big);
      const set = (placements: Record<string, Placement>) =>
        server.services.handlers['settings.update']({
          inference: { engines: { [small]: 'server', [big]: 'server' }, placements },
        });
      const longPrompt = `${STORY} ${STORY} Tell me what happened next.`;
      let loaded: LoadedModel;
      if (gpu) {
        const measured = async (id: string) => {
          const loaded = await server.services.handlers['models.load']({ id });
          const { peak } = await peakWhile(index, llamaServerChildren, () => generate(server, longPrompt, 32));
          return { loaded, peak };
        };
        await set({ [small]: placed() });
        const base = await measured(small);
        await set({ [small]: placed(), [big]: placed(options.capMiB) });
        const capped = await measured(big);
        await set({ [small]: placed(), [big]: placed() });
        const full = await measured(big);
        // The process's own figure where nvidia-smi names it (not inside some containers), else the GPU's.
        const method = [base, capped, full].every((m) => m.peak.processMiB !== null) ? 'process' : 'gpu';
        const mib = (m: typeof base) => (method === 'process' ? m.peak.processMiB : m.peak.gpuMiB) ?? NaN;
        const check = capped.loaded.placement?.check?.devices.find((d) => d.id.toLowerCase() === device.toLowerCase());
        out.memory = {
          method,
          capMiB: options.capMiB,
          baseMiB: mib(base),
          cappedMiB: mib(capped),
          fullMiB: mib(full),
          cappedOverBaseMiB: mib(capped) - mib(base),
          fullOverBaseMiB: mib(full) - mib(base),
          baseLayers: layersOf(base.loaded),
          cappedLayers: layersOf(capped.loaded),
          fullLayers: layersOf(full.loaded),
          cappedReportedMiB: check ? round(check.totalBytes / MiB, 1) : null,
          cappedPlannedMiB: check?.plannedBytes !== undefined ? round(check.plannedBytes / MiB, 1) : null,
        };
        log(`measure: memory ${JSON.stringify(out.memory)}`);
        loaded = full.loaded;
      } else {
        await set({ [small]: placed(), [big]: placed() });
        loaded = await server.services.handlers['models.load']({ id: big });
      }
      // The plain llama-server the engines are compared with: the same model, context and device, its defaults otherwise.
      peer = await startLlamaServer(options.llamaServer, [
        '-m',
        options.big,
        '-c',
        String(loaded.contextSize),
        '-np',
        '1',
        '-t',
        String(options.threads),
        '-tb',
        String(options.threads),
        ...(gpu ? ['-ngl', '999', '--device', device] : ['-ngl', '0']),
      ]);
      out.llamaServer = { contextSize: loaded.contextSize, device: gpu ? device : 'CPU' };
      engines.server = await engineFigures(server, big, loaded, peer, figures);
      log(`measure: server ${JSON.stringify(engines.server)}`);
      spec.server = await speculative(server, small, { mode: 'draft', draftModelId: small }, options.tokens);
      log(`measure: server speculative ${JSON.stringify(spec.server)}`);
    } finally {
      await server.close();
    }

    // node-llama-cpp's worker: the same figures, against the same plain llama-server.
    log('measure: worker engine');
    const worker = await startHost('worker', options.threads, gpu);
    try {
      const small = await importModel(worker, options.small);
      const big = options.big === options.small ? small : await importModel(worker, options.big);
      await worker.services.handlers['settings.update']({ inference: { engines: { [small]: 'worker', [big]: 'worker' } } });
      const loaded = await worker.services.handlers['models.load']({
        id: big,
        contextSize: (out.llamaServer as { contextSize: number }).contextSize,
      });
      engines.worker = await engineFigures(worker, big, loaded, peer, figures);
      log(`measure: worker ${JSON.stringify(engines.worker)}`);
      spec.worker = await speculative(worker, small, { mode: 'prompt-lookup' }, options.tokens);
      log(`measure: worker speculative ${JSON.stringify(spec.worker)}`);
    } finally {
      await worker.close();
    }
  } finally {
    if (peer) {
      peer.child.kill('SIGTERM');
      await new Promise((resolve) => (peer!.child.exitCode !== null ? resolve(null) : peer!.child.once('exit', resolve)));
    }
  }
  console.log(JSON.stringify(out));
}

// ---------------------------------------------------------------- command line

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'fixtures' && rest.length === 2) return fixtures(path.resolve(rest[0]!), path.resolve(rest[1]!));
  if (mode === 'bench-model' && rest.length === 2) return benchModel(path.resolve(rest[0]!), path.resolve(rest[1]!));
  if (mode === 'measure') {
    const { values } = parseArgs({
      args: rest,
      options: {
        small: { type: 'string' },
        big: { type: 'string' },
        'llama-server': { type: 'string' },
        cpu: { type: 'boolean', default: false },
        device: { type: 'string', default: 'CUDA0' },
        'cap-mib': { type: 'string', default: '256' },
        threads: { type: 'string' },
        rounds: { type: 'string' },
        tokens: { type: 'string' },
      },
      strict: true,
    });
    const gpu = !values.cpu;
    for (const name of ['small', 'big', 'llama-server'] as const)
      if (!values[name] || !existsSync(values[name])) throw new Error(`measure needs --${name} <an existing file>`);
    return measure({
      small: path.resolve(values.small!),
      big: path.resolve(values.big!),
      llamaServer: path.resolve(values['llama-server']!),
      gpu,
      device: values.device,
      capMiB: Number(values['cap-mib']),
      threads: Number(values.threads ?? (gpu ? Math.max(1, Math.min(8, Math.floor(os.availableParallelism() / 2))) : 1)),
      rounds: Number(values.rounds ?? (gpu ? 5 : 2)),
      tokens: Number(values.tokens ?? (gpu ? 128 : 24)),
    });
  }
  throw new Error(
    'usage: gpu-check-engines.mjs fixtures <dir> <stories260K.gguf> | bench-model <stories260K.gguf> <dir> | measure --small F --big F --llama-server BIN [--cpu] [--device CUDA0] [--cap-mib N] [--threads N] [--rounds N] [--tokens N]',
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
