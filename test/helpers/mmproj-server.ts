/**
 * What the tiny projector fixture tests (vision-fixture, audio-fixture) share:
 * the real llama-server on stories260K with a projector (`--mmproj`), one
 * thread, started before the file's tests and stopped after them; a greedy
 * chat request with media parts; and a measure of how far two replies' first
 * tokens differ.
 */
import { afterAll, beforeAll } from 'vitest';
import { LlamaServerProcess } from '../../electron/engines/llama-server-process';
import { ensureTestEngines } from './llama-engines';
import type { ProjectorFiles } from './projector-gguf';

export interface MmprojServer {
  /** The running server (only once beforeAll has run). */
  server(): LlamaServerProcess;
  /** The server's log as it was once ready, one string. */
  startLog(): string;
}

/** Starts llama-server on `tinyModel()`'s model and projector in beforeAll (as `alias`), stops it in afterAll. */
export function mmprojServer(alias: string, tinyModel: () => Promise<ProjectorFiles>): MmprojServer {
  let server: LlamaServerProcess | undefined;
  let startLog: string[] = [];

  beforeAll(async () => {
    const [{ llamaServer, env }, { model, mmproj }] = await Promise.all([ensureTestEngines(), tinyModel()]);
    server = await LlamaServerProcess.start({
      binary: llamaServer,
      // -lv 4: llama.cpp logs the projector's hyperparameters as it loads them
      args: ['-m', model, '--mmproj', mmproj, '-c', '512', '-t', '1', '-np', '1', '--jinja', '-lv', '4'],
      alias,
      env,
      readyWithinMs: 60_000,
    });
    startLog = server.lines();
  }, 30 * 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  return {
    server: () => {
      if (!server) throw new Error('llama-server is not started');
      return server;
    },
    startLog: () => startLog.join('\n'),
  };
}

/** The modalities llama-server says its model takes (`/props`). */
export async function modalities(server: LlamaServerProcess): Promise<{ vision: boolean; audio: boolean }> {
  const response = await fetch(`${server.url}/props`, { headers: { authorization: `Bearer ${server.apiKey}` } });
  const props = (await response.json()) as { modalities: { vision: boolean; audio: boolean } };
  return props.modalities;
}

export interface Reply {
  text: string;
  promptTokens: number;
  /** The first generated token's top candidates: token → logprob. */
  first: Record<string, number>;
}

/** One user message, `text` then `media` (OpenAI content parts), answered greedily (24 tokens at most). */
export async function ask(server: LlamaServerProcess, text: string, media: object[]): Promise<Reply> {
  const content = [{ type: 'text', text }, ...media];
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.apiKey}` },
    body: JSON.stringify({
      messages: [{ role: 'user', content }],
      temperature: 0,
      seed: 42,
      max_tokens: 24,
      logprobs: true,
      top_logprobs: 5,
      // every request encodes its media afresh: no reuse of an earlier prompt's cache
      cache_prompt: false,
    }),
  });
  const body = (await response.json()) as {
    error?: { message: string };
    usage: { prompt_tokens: number };
    choices: Array<{
      message: { content: string };
      logprobs: { content: Array<{ top_logprobs: Array<{ token: string; logprob: number }> }> };
    }>;
  };
  if (!response.ok) throw new Error(`llama-server answered ${response.status}: ${body.error?.message ?? JSON.stringify(body)}`);
  const choice = body.choices[0]!;
  return {
    text: choice.message.content,
    promptTokens: body.usage.prompt_tokens,
    first: Object.fromEntries(choice.logprobs.content[0]!.top_logprobs.map((c) => [c.token, c.logprob])),
  };
}

/** The largest difference between two first-token candidate lists (a token missing from one counts as a full difference). */
export function distance(a: Record<string, number>, b: Record<string, number>): number {
  let most = 0;
  for (const token of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const [x, y] = [a[token], b[token]];
    most = Math.max(most, x === undefined || y === undefined ? Infinity : Math.abs(x - y));
  }
  return most;
}
