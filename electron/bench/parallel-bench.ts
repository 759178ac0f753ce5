/**
 * bench parallel: aggregate tokens/s of 4 concurrent streamed API requests
 *   against one stream, on one host (the model's 4 sequences, batched by
 *   llama.cpp), and against llama.cpp's own llama-server --parallel 4 with the
 *   same model, threads and chat requests (peer-bench.ts); on node-llama-cpp's
 *   engine, and again with the model on llama.cpp's server (`engine server`),
 *   which also measures that llama-server called directly with the very
 *   prompts the engine sends it (its chat template's rendering: a prompt's
 *   text changes llama-server's own speed by a quarter with stories260K, and
 *   its chat endpoint parses every token, which the engine's plain replies
 *   avoid).
 * bench prefix: time to first token of the 10th turn of a conversation of
 *   about 1,500 tokens against the 1st (the conversation's sequence still holds
 *   the earlier turns, so a follow-up reads only its new tokens).
 * bench speculative: decode tokens/s with prompt lookup against without, on an
 *   edit-style prompt (the reply repeats much of the input).
 * Medians of rounds; the runs compared are interleaved.
 */
import path from 'node:path';
import type { EngineName } from '../../shared/inference';
import type { HostServices } from '../services/host-services';
import { benchEnginesEnv, engineServer, sameServerTps } from './server-engine-bench';
import { benchServices, median } from './bench-host';

interface Host {
  services: HostServices;
  url: string;
  key: string;
  model: string;
  close(): Promise<void>;
}

async function startHost(modelPath: string, threads: number, parallel: number, contextSize?: number, engine?: EngineName): Promise<Host> {
  const { services, close } = await benchServices('parallel', engine === 'server' ? benchEnginesEnv() : undefined);
  await services.settings.update({ inference: { threads, parallel } });
  const [imported] = await services.handlers['models.import']({ paths: [modelPath], mode: 'reference' });
  if (!imported?.ok) throw new Error(`Could not add the model: ${imported?.error}`);
  if (engine) await services.handlers['settings.update']({ inference: { engines: { [imported.model!.id]: engine } } });
  await services.handlers['models.load']({ id: imported.model!.id, ...(contextSize ? { contextSize } : {}) });
  const status = services.api.status();
  if (!status.url) throw new Error(`The API server did not start: ${status.error}`);
  const models = (await (await fetch(`${status.url}/models`, { headers: { Authorization: `Bearer ${status.key}` } })).json()) as {
    data: Array<{ id: string }>;
  };
  return {
    services,
    url: status.url,
    key: status.key,
    model: models.data[0]!.id,
    close,
  };
}

interface Stream {
  startedAt: number;
  firstAt: number;
  endAt: number;
  tokens: number;
  text: string;
}

/** One streamed chat completion, timed: its start, first content, end, and tokens (from usage). */
async function stream(host: Host, messages: Array<{ role: string; content: string }>, maxTokens: number): Promise<Stream> {
  const startedAt = performance.now();
  const response = await fetch(`${host.url}/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${host.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      model: host.model,
      messages,
      temperature: 0,
      max_tokens: maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const decoder = new TextDecoder();
  let buffer = '';
  let firstAt = 0;
  let tokens = 0;
  let text = '';
  for await (const bytes of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const data = JSON.parse(event.slice(6)) as { choices: Array<{ delta: { content?: string } }>; usage?: { completion_tokens: number } };
      const piece = data.choices[0]?.delta.content;
      if (piece) {
        if (firstAt === 0) firstAt = performance.now();
        text += piece;
      }
      if (data.usage) tokens = data.usage.completion_tokens;
    }
  }
  return { startedAt, firstAt, endAt: performance.now(), tokens, text };
}

/** The four requests' user messages; llama-server's own --parallel 4 (the peer) is sent the same chat requests. */
export const PARALLEL_PROMPTS = ['Once upon a time', 'Lily had a cat', 'The sun was hot', 'Tom went to the park'];
const prompts = PARALLEL_PROMPTS;

/**
 * `theirs` measures llama-server --parallel 4 with the same model, threads,
 * tokens and prompts (aggregate tokens/s); without it, peer_ratio is not
 * reported. `engine` pins the model to an engine (the line then names it).
 */
export async function parallelBench(
  modelPath: string,
  rounds: number,
  maxTokens: number,
  threads: number,
  theirs?: (streams: number, tokens: number) => Promise<number>,
  engine?: EngineName,
): Promise<void> {
  const host = await startHost(modelPath, threads, 4, undefined, engine);
  try {
    const one: number[] = [];
    const four: number[] = [];
    // On llama.cpp's server, also its own --parallel 4 on the very prompts the engine sends it (rounds alternated).
    const direct = engine === 'server' ? engineServer(modelPath) : null;
    const same: number[] = [];
    for (let i = 0; i < rounds + 1; i += 1) {
      const single = await stream(host, [{ role: 'user', content: prompts[i % 4]! }], maxTokens);
      const all = await Promise.all(prompts.map((p) => stream(host, [{ role: 'user', content: p }], maxTokens)));
      const alone = direct ? await sameServerTps(direct, prompts, maxTokens) : 0;
      if (i === 0) continue; // warm-up
      one.push((single.tokens - 1) / ((single.endAt - single.firstAt) / 1000));
      const first = Math.min(...all.map((s) => s.firstAt));
      const end = Math.max(...all.map((s) => s.endAt));
      four.push(all.reduce((sum, s) => sum + s.tokens, 0) / ((end - first) / 1000));
      if (direct) same.push(alone);
    }
    const ours = median(four);
    const ratio = ours / median(one);
    let peer = '';
    if (theirs) {
      const theirTps = await theirs(4, maxTokens);
      peer = ` peer_ratio ${(ours / theirTps).toFixed(3)} ours_tps ${ours.toFixed(0)} llama_server_tps ${theirTps.toFixed(0)}`;
    }
    const sameServer = same.length
      ? ` same_prompts_ratio ${(ours / median(same)).toFixed(3)} same_prompts_llama_server_tps ${median(same).toFixed(0)}`
      : '';
    console.log(
      `bench parallel: ${engine ? `engine ${engine} ` : ''}streams 4 aggregate_ratio ${ratio.toFixed(3)} one_stream_tps ${median(one).toFixed(0)}${peer || ` aggregate_tps ${ours.toFixed(0)}`}${sameServer}`,
    );
  } finally {
    await host.close();
  }
}

/** A conversation of about `tokens` tokens (stories260K's tokenizer: about 3.5 characters a token). */
function longHistory(): Array<{ role: string; content: string }> {
  const turn = 'Lily went to the park with her mom. She saw a big red ball and a little dog. They played all day in the sun. ';
  const messages: Array<{ role: string; content: string }> = [{ role: 'system', content: 'You tell short stories for children.' }];
  for (let i = 0; i < 12; i += 1) {
    messages.push({ role: 'user', content: `${turn}${turn}` });
    messages.push({ role: 'assistant', content: turn });
  }
  return messages;
}

export async function prefixBench(modelPath: string, rounds: number, threads: number): Promise<void> {
  const host = await startHost(modelPath, threads, 4, 4096);
  try {
    const ratios: number[] = [];
    const firsts: number[] = [];
    const lasts: number[] = [];
    let promptTokens = 0;
    for (let r = 0; r < rounds; r += 1) {
      // A fresh conversation each round (a new first message), then nine follow-ups on it.
      const messages = [...longHistory(), { role: 'user', content: `Round ${r}: tell me more.` }];
      const first = await stream(host, messages, 8);
      let last = first;
      for (let turn = 2; turn <= 10; turn += 1) {
        messages.push({ role: 'assistant', content: last.text }, { role: 'user', content: `And then? (${turn})` });
        last = await stream(host, messages, 8);
      }
      ratios.push((last.firstAt - last.startedAt) / (first.firstAt - first.startedAt));
      firsts.push(first.firstAt - first.startedAt);
      lasts.push(last.firstAt - last.startedAt);
      promptTokens = Math.round(messages.reduce((n, m) => n + m.content.length, 0) / 3.5);
    }
    console.log(
      `bench prefix: model ${path.basename(modelPath)} follow_up_ttft_ratio ${median(ratios).toFixed(3)} first_ttft_ms ${median(firsts).toFixed(1)} tenth_ttft_ms ${median(lasts).toFixed(1)} conversation_tokens ~${promptTokens}`,
    );
  } finally {
    await host.close();
  }
}

export async function speculativeBench(modelPath: string, rounds: number, maxTokens: number, threads: number): Promise<void> {
  const plain = await startHost(modelPath, threads, 1);
  const lookup = await startHost(modelPath, threads, 1);
  try {
    const id = lookup.services.library.snapshot().models[0]!.id;
    await lookup.services.handlers['settings.update']({ inference: { speculative: { [id]: { mode: 'prompt-lookup' } } } });
    await lookup.services.handlers['models.load']({ id });
    const text =
      'Lily had a red ball. She played with the ball in the park. The ball was big and red. Her friend Tom saw the ball. ' +
      'Tom said, "Can I play with your ball?" Lily said, "Yes, we can play together." They played with the ball all day.';
    const messages = [{ role: 'user', content: `Copy this story, changing nothing:\n${text}\nStory:\n${text}` }];
    const without: number[] = [];
    const withLookup: number[] = [];
    let accepted = '';
    for (let i = 0; i < rounds + 1; i += 1) {
      const order = i % 2 ? [plain, lookup] : [lookup, plain];
      for (const host of order) {
        const s = await stream(host, messages, maxTokens);
        if (i === 0) continue;
        (host === plain ? without : withLookup).push((s.tokens - 1) / ((s.endAt - s.firstAt) / 1000));
      }
    }
    const result = await lookup.services.handlers['chat.generate']({
      requestId: 'bench-spec',
      messages: [{ role: 'user', text: messages[0]!.content }],
      sampling: { temperature: 0, maxTokens },
    });
    accepted = ` predicted ${result.stats.predictedTokens ?? 0} accepted ${result.stats.acceptedPredictions ?? 0} of ${result.stats.generatedTokens} tokens`;
    console.log(
      `bench speculative: ratio ${(median(withLookup) / median(without)).toFixed(3)} lookup_tps ${median(withLookup).toFixed(0)} plain_tps ${median(without).toFixed(0)}${accepted}`,
    );
  } finally {
    await plain.close();
    await lookup.close();
  }
}
