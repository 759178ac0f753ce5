/**
 * bench peer: Freehold's OpenAI-compatible API against llama.cpp's own
 * llama-server, on the same model file, thread count (1 on this 2-core
 * machine: more threads busy-wait), context size, prompt, greedy sampling
 * and max_tokens. Both endpoints, /v1/completions and /v1/chat/completions,
 * streamed as server-sent events and read by a client in this process; rounds
 * alternate which server goes first. Per request: time to the first token
 * with text, and decode tokens/s, (tokens - 1) / (end of stream - first token).
 *
 * Also `llamaServerParallelTps`: llama-server's aggregate throughput with
 * several concurrent streams, the peer figure for `bench parallel`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { findEngines } from '../engines/llama-engines';
import { freePort, waitForHealth } from '../engines/rpc-helpers';
import { ensureBenchModel } from './bench-model';
import { benchServices, median } from './bench-host';

export type PeerEndpoint = 'completions' | 'chat';

export interface StreamRound {
  /** From sending the request to the first event with text. */
  ttftMs: number;
  /** (tokens - 1) / (end of stream - first token). */
  tps: number;
  tokens: number;
  /** From sending the request to the end of the stream. */
  totalMs: number;
  startedAt: number;
  firstAt: number;
  endedAt: number;
  finishReason: string | null;
}

export const PEER_SYSTEM = 'You tell short stories for children.';
export const PEER_PROMPT = 'Once upon a time';

/**
 * One streamed greedy request, read as server-sent events. Tokens are the
 * server's own count (usage.completion_tokens, or llama-server's
 * timings.predicted_n), else the events with text (one per token in
 * llama-server's stream).
 */
export async function streamOnce(
  baseUrl: string,
  endpoint: PeerEndpoint,
  options: { apiKey?: string | null; model?: string; maxTokens: number; prompt?: string; extra?: Record<string, unknown> },
): Promise<StreamRound> {
  const prompt = options.prompt ?? PEER_PROMPT;
  const body: Record<string, unknown> = {
    ...(options.model ? { model: options.model } : {}),
    temperature: 0,
    max_tokens: options.maxTokens,
    stream: true,
    stream_options: { include_usage: true },
    ...(endpoint === 'chat'
      ? {
          messages: [
            { role: 'system', content: PEER_SYSTEM },
            { role: 'user', content: prompt },
          ],
        }
      : { prompt }),
    ...options.extra,
  };
  const startedAt = performance.now();
  const response = await fetch(`${baseUrl}/v1/${endpoint === 'chat' ? 'chat/completions' : 'completions'}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(options.apiKey ? { Authorization: `Bearer ${options.apiKey}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!response.ok || !response.body) throw new Error(`${baseUrl} answered ${response.status}: ${await response.text()}`);
  let firstAt = 0;
  let counted = 0;
  let reported = 0;
  let finishReason: string | null = null;
  let buffer = '';
  const decoder = new TextDecoder();
  for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const data = JSON.parse(event.slice(6)) as {
        choices?: Array<{ delta?: { content?: string | null }; text?: string; finish_reason?: string | null }>;
        usage?: { completion_tokens: number };
        timings?: { predicted_n?: number };
        error?: { message: string };
      };
      if (data.error) throw new Error(`${baseUrl}: ${data.error.message}`);
      const choice = data.choices?.[0];
      const text = choice?.delta?.content ?? choice?.text ?? '';
      if (text) {
        if (firstAt === 0) firstAt = performance.now();
        counted += 1;
      }
      if (choice?.finish_reason) finishReason = choice.finish_reason;
      if (data.usage) reported = data.usage.completion_tokens;
      else if (data.timings?.predicted_n) reported = data.timings.predicted_n;
    }
  }
  const endedAt = performance.now();
  const tokens = reported || counted;
  return {
    ttftMs: firstAt - startedAt,
    tps: firstAt && tokens > 1 ? (tokens - 1) / ((endedAt - firstAt) / 1000) : 0,
    tokens,
    totalMs: endedAt - startedAt,
    startedAt,
    firstAt,
    endedAt,
    finishReason,
  };
}

async function llamaServerBinary(): Promise<{ path: string } | { path: null; why: string }> {
  const env = {
    ...process.env,
    FREEHOLD_ENGINES_DIR: process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines'),
  };
  const engines = await findEngines({ dataDir: os.tmpdir(), env });
  if (!engines.found)
    return { path: null, why: `llama.cpp's programs are not built: run \`freehold engines --build\`; ${engines.canBuild.reason}` };
  return { path: engines.found.llamaServer };
}

/** llama-server on a free port of 127.0.0.1, ready (GET /health answers). */
export async function startLlamaServer(binary: string, args: string[]): Promise<{ url: string; child: ChildProcess; log: string[] }> {
  const port = await freePort();
  const log: string[] = [];
  const child = spawn(binary, [...args, '--host', '127.0.0.1', '--port', String(port), '--no-webui'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer) => {
    log.push(...chunk.toString().split('\n'));
    if (log.length > 300) log.splice(0, log.length - 300);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  try {
    await waitForHealth(port, 180_000, () => (child.exitCode !== null ? `llama-server exited: ${log.slice(-10).join('\n')}` : null));
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, child, log };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

export interface PeerOptions {
  threads?: number;
  /** Printed in the bench line; the file's name by default. */
  name?: string;
  endpoints?: PeerEndpoint[];
  /** Warm-up requests per server and endpoint before the measured rounds. */
  warmup?: number;
  /** Passed in both request bodies (e.g. a prompt that runs long). */
  prompt?: string;
}

export interface PeerResult {
  endpoint: PeerEndpoint;
  ratio: number;
  ours: { ttftMs: number; tps: number; tokens: number };
  theirs: { ttftMs: number; tps: number; tokens: number };
}

/**
 * Freehold (host services, a forked worker, the API on a free port) and
 * llama-server --parallel 1, both loaded side by side with the same context
 * size, measured in alternating rounds.
 */
export async function peerBench(modelPath: string, rounds: number, tokens: number, options: PeerOptions = {}): Promise<PeerResult[]> {
  const threads = options.threads ?? 1;
  const name = options.name ?? path.basename(modelPath);
  const endpoints = options.endpoints ?? ['completions', 'chat'];
  const binary = await llamaServerBinary();
  if ('why' in binary) {
    console.log(`bench peer: skipped (${binary.why})`);
    return [];
  }
  const { services, close } = await benchServices('peer');
  let server: Awaited<ReturnType<typeof startLlamaServer>> | undefined;
  try {
    await services.settings.update({ inference: { threads, backend: 'cpu' } });
    const loaded = await services.handlers['inference.load']({ modelPath });
    const [imported] = await services.handlers['models.import']({ paths: [modelPath], mode: 'reference' });
    if (!imported?.ok) throw new Error(`Could not add the model to the library: ${imported?.error}`);
    const api = services.api.status();
    if (!api.url) throw new Error(`The API server did not start: ${api.error}`);
    const ourBase = api.url.replace(/\/v1\/?$/, '');
    const models = (await (await fetch(`${ourBase}/v1/models`, { headers: { Authorization: `Bearer ${api.key}` } })).json()) as {
      data: Array<{ id: string }>;
    };
    const model = models.data[0]!.id;
    server = await startLlamaServer(binary.path, [
      '-m',
      modelPath,
      '-t',
      String(threads),
      '-tb',
      String(threads),
      '-c',
      String(loaded.contextSize),
      '--parallel',
      '1',
    ]);
    const theirBase = server.url;
    console.log(
      `peer: ${name}, context ${loaded.contextSize}, ${threads} thread(s), greedy, max_tokens ${tokens}, ${rounds} rounds (alternating) after ${options.warmup ?? 1} warm-up; llama-server with its defaults otherwise (flash attention auto, as node-llama-cpp's)`,
    );
    const ours = (endpoint: PeerEndpoint) =>
      streamOnce(ourBase, endpoint, { apiKey: api.key, model, maxTokens: tokens, prompt: options.prompt });
    const theirs = (endpoint: PeerEndpoint) => streamOnce(theirBase, endpoint, { maxTokens: tokens, prompt: options.prompt });
    const results: PeerResult[] = [];
    for (const endpoint of endpoints) {
      for (let i = 0; i < (options.warmup ?? 1); i++) {
        await ours(endpoint);
        await theirs(endpoint);
      }
      const a: StreamRound[] = [];
      const b: StreamRound[] = [];
      for (let i = 0; i < rounds; i++) {
        if (i % 2 === 0) {
          a.push(await ours(endpoint));
          b.push(await theirs(endpoint));
        } else {
          b.push(await theirs(endpoint));
          a.push(await ours(endpoint));
        }
      }
      const summary = (rounds: StreamRound[]) => ({
        ttftMs: median(rounds.map((r) => r.ttftMs)),
        tps: median(rounds.map((r) => r.tps)),
        tokens: median(rounds.map((r) => r.tokens)),
      });
      const result: PeerResult = { endpoint, ours: summary(a), theirs: summary(b), ratio: 0 };
      result.ratio = result.ours.tps / result.theirs.tps;
      results.push(result);
      console.log(
        `bench peer: model ${name} endpoint ${endpoint} ratio ${result.ratio.toFixed(3)} ttft_ms ${result.ours.ttftMs.toFixed(1)} vs ${result.theirs.ttftMs.toFixed(1)} ours_tps ${result.ours.tps.toFixed(result.ours.tps < 100 ? 2 : 0)} theirs_tps ${result.theirs.tps.toFixed(result.theirs.tps < 100 ? 2 : 0)} tokens ${result.ours.tokens} vs ${result.theirs.tokens}`,
      );
    }
    return results;
  } finally {
    if (server) await stop(server.child);
    await close();
  }
}

export interface ParallelPeerResult {
  streams: number;
  /** All streams' tokens over the wall time from sending the requests to the last stream's end. */
  aggregateTps: number;
  /** All streams' tokens less one each, from the first token of any stream to the last stream's end (decode only). */
  decodeTps: number;
  perStream: Array<{ tokens: number; tps: number; ttftMs: number }>;
  wallMs: number;
}

/**
 * llama-server with `streams` slots (context streams × contextSize, continuous
 * batching) and `streams` concurrent streamed greedy requests: /v1/completions
 * of the same prompt, or, given `chats`, /v1/chat/completions of those user
 * messages (stream i asks chats[i % n], as a client of Freehold's API would);
 * after one warm-up request.
 */
export async function llamaServerParallelTps(
  modelPath: string,
  streams: number,
  tokens: number,
  options: { contextSize?: number; threads?: number; prompt?: string; chats?: string[] } = {},
): Promise<ParallelPeerResult> {
  const chats = options.chats;
  const request = (i: number) =>
    chats
      ? streamOnce(server.url, 'chat', { maxTokens: tokens, extra: { messages: [{ role: 'user', content: chats[i % chats.length] }] } })
      : streamOnce(server.url, 'completions', { maxTokens: tokens, prompt: options.prompt });
  const binary = await llamaServerBinary();
  if ('why' in binary) throw new Error(binary.why);
  const threads = options.threads ?? 1;
  const contextSize = options.contextSize ?? 2048;
  const server = await startLlamaServer(binary.path, [
    '-m',
    modelPath,
    '-t',
    String(threads),
    '-tb',
    String(threads),
    '-c',
    String(streams * contextSize),
    '-np',
    String(streams),
    '--cont-batching',
  ]);
  try {
    await request(0);
    const start = performance.now();
    const rounds = await Promise.all(Array.from({ length: streams }, (_, i) => request(i)));
    const end = Math.max(...rounds.map((r) => r.endedAt));
    const firstToken = Math.min(...rounds.filter((r) => r.firstAt > 0).map((r) => r.firstAt));
    const total = rounds.reduce((sum, r) => sum + r.tokens, 0);
    return {
      streams,
      aggregateTps: total / ((end - start) / 1000),
      decodeTps: (total - streams) / ((end - firstToken) / 1000),
      perStream: rounds.map((r) => ({ tokens: r.tokens, tps: r.tps, ttftMs: r.ttftMs })),
      wallMs: end - start,
    };
  } finally {
    await stop(server.child);
  }
}

/**
 * `--only peer`: stories260K (or the bench's model) at the bench's rounds and
 * tokens, then the 0.7B bench model (made on first use, bench-model.ts) at
 * fewer of both, since one thread makes a few tokens/s of it.
 */
export async function peerBenches(
  modelPath: string,
  small: { rounds: number; tokens: number },
  big: { rounds: number; tokens: number } | null,
): Promise<void> {
  await peerBench(modelPath, small.rounds, small.tokens);
  if (!big) return;
  const model = await ensureBenchModel(modelPath);
  console.log(
    `bench model: ${path.basename(model.path)}, ${(model.parameters / 1e9).toFixed(2)}B parameters, ${model.quantization}, random weights; ${model.note}`,
  );
  await peerBench(model.path, big.rounds, big.tokens, { name: `bench-0.7b-${model.quantization}` });
}
