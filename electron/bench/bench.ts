/**
 * `npm run bench`: measured, not asserted. Each figure is a median over rounds
 * run interleaved in one process, against a baseline measured the same way.
 *
 * inference: the same model, prompt, thread count and greedy sampling through
 *   (A) node-llama-cpp called in-process directly,
 *   (B) the app's full path: host → worker process → streamed deltas back, and
 *   (C) the local OpenAI-compatible API: HTTP POST /v1/chat/completions with
 *       stream: true, read as server-sent events by a client in this process.
 * remote: a reply through a paired machine's TLS link against the same host
 *   asked directly (remote-bench.ts).
 * parallel, prefix, speculative: replies at once, follow-up turns, prompt
 *   lookup (parallel-bench.ts); peer: Freehold's API against llama-server on
 *   stories260K and a generated 0.7B model (peer-bench.ts, bench-model.ts).
 * server-engine, engines: Freehold's API on llama.cpp's server against the
 *   same llama-server called directly; both engines side by side
 *   (server-engine-bench.ts).
 * documents (only with --only documents): indexing throughput against the
 *   embedder alone, hybrid search over 10k and 100k chunks, bytes a chunk
 *   (documents-bench.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { getLlama, LlamaChat, LlamaLogLevel, type ChatHistoryItem, type LlamaGpuType } from 'node-llama-cpp';
import type { ChatDelta } from '../../shared/inference';
import { downloadBench, importBench } from './library-bench';
import { libraryUiBench } from './library-ui-bench';
import { chatUiBench } from './chat-ui-bench';
import { remoteBench } from './remote-bench';
import { splitBench } from './split-bench';
import { ensureBenchModel } from './bench-model';
import { llamaServerParallelTps, peerBenches } from './peer-bench';
import { PARALLEL_PROMPTS, parallelBench, prefixBench, speculativeBench } from './parallel-bench';
import { enginesBench, serverEngineBench } from './server-engine-bench';
import { benchServices, median } from './bench-host';
import { hashEmbedder, llamaEmbedder, runDocumentsBench } from './documents-bench';

function findModel(flag: string | undefined): string {
  const candidates = [
    flag,
    process.env.FREEHOLD_BENCH_MODEL,
    process.env.FREEHOLD_TEST_MODEL,
    path.resolve('..', 'shared', 'models', 'stories260K.gguf'),
  ];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return path.resolve(candidate);
  throw new Error('No benchmark model: pass --model <file.gguf> or set FREEHOLD_BENCH_MODEL (stories260K.gguf is the reference).');
}

interface Round {
  ttftMs: number;
  tps: number;
  tokens: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      model: { type: 'string' },
      rounds: { type: 'string', default: '15' },
      tokens: { type: 'string', default: '500' },
      threads: { type: 'string', default: '1' },
      backend: { type: 'string', default: 'auto' },
      only: {
        type: 'string',
        default: 'inference,parallel,prefix,speculative,peer,server-engine,engines,remote,split,download,import,library-ui,chat-ui',
      },
      'download-mb': { type: 'string', default: '512' },
      // bench peer: the 0.7B bench model's rounds and tokens (0 rounds: stories260K only).
      'big-rounds': { type: 'string', default: '7' },
      'big-tokens': { type: 'string', default: '64' },
    },
  });
  const only = new Set(values.only.split(','));
  if (only.has('documents')) {
    await documentsBench(values.model, Number(values.threads)).catch((error: unknown) =>
      console.log(`bench documents: failed: ${(error as Error).stack ?? String(error)}`),
    );
    if (only.size === 1) return;
  }
  const modelPath = findModel(values.model);
  // Not in the default set: the first run builds llama-quantize and writes a 0.7B model (minutes).
  if (only.has('bench-model')) {
    const made = await ensureBenchModel(modelPath);
    console.log(`bench model: ${made.path} (${(made.parameters / 1e9).toFixed(2)}B parameters, ${made.quantization}; ${made.note})`);
  }
  if (only.has('peer')) {
    const bigRounds = Number(values['big-rounds']);
    await peerBenches(
      modelPath,
      { rounds: Math.max(5, Number(values.rounds)), tokens: Number(values.tokens) },
      bigRounds > 0 ? { rounds: bigRounds, tokens: Number(values['big-tokens']) } : null,
    );
  }
  const rounds0 = Math.max(5, Number(values.rounds));
  if (only.has('server-engine'))
    await serverEngineBench(modelPath, rounds0, Number(values.tokens), Number(values.threads)).catch((error: unknown) =>
      console.log(`bench server-engine: failed: ${(error as Error).message}`),
    );
  if (only.has('engines')) {
    const bigRounds = Number(values['big-rounds']);
    await enginesBench(
      modelPath,
      { rounds: Math.min(rounds0, 7), tokens: Number(values.tokens) },
      bigRounds > 0 ? { rounds: Math.min(bigRounds, 3), tokens: Number(values['big-tokens']) } : null,
      Number(values.threads),
    ).catch((error: unknown) => console.log(`bench engines: failed: ${(error as Error).message}`));
  }
  if (only.has('parallel')) {
    // Against llama-server --parallel 4 (the split-model build), where it can be had: the median of 3 runs.
    const theirs = async (streams: number, tokens: number) => {
      const runs: number[] = [];
      for (let i = 0; i < 3; i++)
        runs.push(
          (await llamaServerParallelTps(modelPath, streams, tokens, { threads: Number(values.threads), chats: PARALLEL_PROMPTS }))
            .decodeTps,
        );
      return median(runs);
    };
    await parallelBench(modelPath, Math.min(rounds0, 7), 300, Number(values.threads), theirs).catch((error: unknown) =>
      console.log(`bench parallel: failed: ${(error as Error).message}`),
    );
    // The same with the model on llama.cpp's server (the server engine).
    await parallelBench(modelPath, Math.min(rounds0, 7), 300, Number(values.threads), theirs, 'server').catch((error: unknown) =>
      console.log(`bench parallel: engine server failed: ${(error as Error).message}`),
    );
    const big = Number(values['big-rounds']) > 0 ? await ensureBenchModel(modelPath).catch(() => null) : null;
    if (big)
      await parallelBench(big.path, 3, Number(values['big-tokens']), Number(values.threads)).catch((error: unknown) =>
        console.log(`bench parallel (0.7B): failed: ${(error as Error).message}`),
      );
  }
  if (only.has('prefix')) {
    await prefixBench(modelPath, Math.min(rounds0, 5), Number(values.threads));
    // On the compute-bound model, reading the prompt is most of the first turn's wait.
    const big = Number(values['big-rounds']) > 0 ? await ensureBenchModel(modelPath).catch(() => null) : null;
    if (big) await prefixBench(big.path, 1, Number(values.threads));
  }
  if (only.has('speculative')) await speculativeBench(modelPath, Math.min(rounds0, 7), 300, Number(values.threads));
  if (only.has('remote') && !only.has('inference'))
    await remoteBench(modelPath, Math.max(5, Number(values.rounds)), Number(values.tokens), Number(values.threads));
  if (only.has('split') && !only.has('inference'))
    await splitBench(modelPath, Math.max(5, Number(values.rounds)), 200, Number(values.threads));
  if (!only.has('inference')) return libraryBenches(modelPath, only, Number(values['download-mb']));
  const rounds = Math.max(5, Number(values.rounds));
  const maxTokens = Number(values.tokens);
  const threads = Number(values.threads);
  const system = 'You tell short stories for children.';
  const prompt = 'Once upon a time';
  console.log(
    `model ${path.basename(modelPath)}, ${threads} thread(s), greedy, ${maxTokens} tokens, ${rounds} rounds after 2 warm-up rounds`,
  );

  // (B) the app: host services with a real worker process.
  const { services, close } = await benchServices('app');
  const backend = values.backend as 'auto' | 'cuda' | 'vulkan' | 'metal' | 'cpu';
  await services.settings.update({ inference: { threads, backend } });
  const report = await services.handlers['inference.hardware'](undefined);
  const loaded = await services.handlers['inference.load']({ modelPath });
  console.log(`backend ${report.backend} (${report.reason}); ${loaded.gpuLayers}/${loaded.totalLayers} layers on the GPU`);

  let deltaListener: ((delta: ChatDelta) => void) | undefined;
  services.events.subscribeAll((event, payload) => {
    if (event === 'onChatDelta') deltaListener?.(payload as ChatDelta);
  });
  let counter = 0;
  const runApp = async (): Promise<Round> => {
    const requestId = `bench-${counter++}`;
    let first = 0;
    deltaListener = (delta) => {
      if (first === 0 && delta.requestId === requestId) first = performance.now();
    };
    const start = performance.now();
    const result = await services.handlers['chat.generate']({
      requestId,
      system,
      messages: [{ role: 'user', text: prompt }],
      sampling: { temperature: 0, maxTokens },
    });
    const end = performance.now();
    const tokens = result.stats.generatedTokens;
    return { ttftMs: first - start, tps: (tokens - 1) / ((end - first) / 1000), tokens };
  };

  // (A) node-llama-cpp directly, in this process, same backend, threads and context.
  const gpu: LlamaGpuType = report.backend === 'cpu' ? false : (report.backend as LlamaGpuType);
  const llama = await getLlama({ gpu, build: 'never', maxThreads: threads, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: loaded.gpuLayers });
  const context = await model.createContext({ contextSize: loaded.contextSize, threads });
  const chat = new LlamaChat({ contextSequence: context.getSequence() });
  const history: ChatHistoryItem[] = [
    { type: 'system', text: system },
    { type: 'user', text: prompt },
    { type: 'model', response: [] },
  ];
  const runRaw = async (): Promise<Round> => {
    let first = 0;
    let tokens = 0;
    const start = performance.now();
    await chat.generateResponse(history, {
      temperature: 0,
      maxTokens,
      onToken: (t) => {
        tokens += t.length;
      },
      onResponseChunk: (chunk) => {
        if (first === 0 && chunk.text !== '') first = performance.now();
      },
    });
    const end = performance.now();
    return { ttftMs: first - start, tps: (tokens - 1) / ((end - first) / 1000), tokens };
  };

  // (C) the API over HTTP/SSE, to the same worker.
  const apiStatus = services.api.status();
  if (!apiStatus.url) throw new Error(`The API server did not start: ${apiStatus.error}`);
  const [imported] = await services.handlers['models.import']({ paths: [modelPath], mode: 'reference' });
  if (!imported?.ok) throw new Error(`Could not add the model to the library: ${imported?.error}`);
  const models = (await (await fetch(`${apiStatus.url}/models`, { headers: { Authorization: `Bearer ${apiStatus.key}` } })).json()) as {
    data: Array<{ id: string }>;
  };
  const apiModel = models.data[0]!.id;
  const runApi = async (): Promise<Round> => {
    let first = 0;
    let tokens = 0;
    const start = performance.now();
    const response = await fetch(`${apiStatus.url}/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiStatus.key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        model: apiModel,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: prompt },
        ],
        temperature: 0,
        max_tokens: maxTokens,
        stream: true,
        stream_options: { include_usage: true },
      }),
    });
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(bytes, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
        const data = JSON.parse(event.slice(6)) as {
          choices: Array<{ delta: { content?: string } }>;
          usage?: { completion_tokens: number };
        };
        if (first === 0 && data.choices[0]?.delta.content) first = performance.now();
        if (data.usage) tokens = data.usage.completion_tokens;
      }
    }
    const end = performance.now();
    return { ttftMs: first - start, tps: (tokens - 1) / ((end - first) / 1000), tokens };
  };

  for (let i = 0; i < 2; i += 1) {
    await runRaw();
    await runApp();
    await runApi();
  }
  const raw: Round[] = [];
  const app: Round[] = [];
  const api: Round[] = [];
  const orders = [
    [runRaw, runApp, runApi],
    [runApi, runRaw, runApp],
    [runApp, runApi, runRaw],
  ];
  for (let i = 0; i < rounds; i += 1) {
    // Rotate which goes first so none always follows another.
    for (const run of orders[i % orders.length]!) {
      const round = await run();
      (run === runRaw ? raw : run === runApp ? app : api).push(round);
    }
  }
  const rawTps = median(raw.map((r) => r.tps));
  const appTps = median(app.map((r) => r.tps));
  const ttftOverhead = median(app.map((r) => r.ttftMs)) - median(raw.map((r) => r.ttftMs));
  console.log(`raw: ttft ${median(raw.map((r) => r.ttftMs)).toFixed(2)} ms, ${rawTps.toFixed(0)} tokens/s (${raw[0]?.tokens} tokens)`);
  console.log(`app: ttft ${median(app.map((r) => r.ttftMs)).toFixed(2)} ms, ${appTps.toFixed(0)} tokens/s (${app[0]?.tokens} tokens)`);
  console.log(
    `bench inference: ratio ${(appTps / rawTps).toFixed(3)} ttft_overhead_ms ${ttftOverhead.toFixed(2)} app_tps ${appTps.toFixed(0)} raw_tps ${rawTps.toFixed(0)}`,
  );
  const apiTps = median(api.map((r) => r.tps));
  const apiTtftOverhead = median(api.map((r) => r.ttftMs)) - median(raw.map((r) => r.ttftMs));
  console.log(`api: ttft ${median(api.map((r) => r.ttftMs)).toFixed(2)} ms, ${apiTps.toFixed(0)} tokens/s (${api[0]?.tokens} tokens)`);
  console.log(
    `bench api: ratio ${(apiTps / rawTps).toFixed(3)} ttft_overhead_ms ${apiTtftOverhead.toFixed(2)} api_tps ${apiTps.toFixed(0)} raw_tps ${rawTps.toFixed(0)}`,
  );

  await context.dispose();
  await model.dispose();
  await llama.dispose();
  await close();
  if (only.has('remote')) await remoteBench(modelPath, rounds, maxTokens, threads);
  if (only.has('split')) await splitBench(modelPath, rounds, 200, threads);
  await libraryBenches(modelPath, only, Number(values['download-mb']));
}

/**
 * EMBEDDER HOOK (bench documents): the embedding function that ingest_ratio is
 * measured against. Now: node-llama-cpp's embedding context on the bench model
 * (stories260K: 64 dimensions, a real forward pass a text); without a model,
 * the hash stand-in (its ratio is a floor, and says so). To measure against
 * the app's own embedding model, build `embed` from it here.
 */
async function documentsBench(modelFlag: string | undefined, threads: number): Promise<void> {
  let modelPath: string | null = null;
  try {
    modelPath = findModel(modelFlag);
  } catch {
    console.log('bench documents: no model found; ingest_ratio is measured against the hash stand-in embedder');
  }
  if (!modelPath) {
    await runDocumentsBench({ embed: hashEmbedder(64), dims: 64, embedderName: 'hash stand-in', rounds: 5 });
    return;
  }
  const embedder = await llamaEmbedder(modelPath, Math.max(1, threads));
  try {
    await runDocumentsBench({ ...embedder, embedderName: `${path.basename(modelPath)} (node-llama-cpp embedding context)` });
  } finally {
    await embedder.dispose();
  }
}

async function libraryBenches(modelPath: string, only: Set<string>, downloadMb: number): Promise<void> {
  if (only.has('download')) await downloadBench(modelPath, 5, downloadMb);
  if (only.has('import')) await importBench(modelPath, 7, 8);
  if (only.has('library-ui')) await libraryUiBench(modelPath);
  if (only.has('chat-ui')) await chatUiBench(modelPath);
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
});
