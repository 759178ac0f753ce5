/**
 * The tiny audio model (test/helpers/audio-model.ts) on the real llama-server:
 * stories260K with a random Ultravox-style projector (`--mmproj`), one
 * thread. It proves the fixture is something the audio tests can stand on:
 * llama.cpp loads the projector as an audio encoder, a WAV sent as an OpenAI
 * `input_audio` content part reaches the model (its 50 tokens are in the
 * prompt, its samples change the greedy reply), and the same clip gives the
 * same reply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaServerProcess } from '../../../electron/engines/llama-server-process';
import { TINY_AUDIO, TINY_AUDIO_CLIP_TOKENS, tinyAudioModel } from '../../helpers/audio-model';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { wavBytes } from '../../helpers/media-bytes';
import { prng } from '../../helpers/prng';

let server: LlamaServerProcess | undefined;
let startLog: string[] = [];

beforeAll(async () => {
  const [{ llamaServer, env }, { model, mmproj }] = await Promise.all([ensureTestEngines(), tinyAudioModel()]);
  server = await LlamaServerProcess.start({
    binary: llamaServer,
    // -lv 4: llama.cpp logs the projector's hyperparameters as it loads them
    args: ['-m', model, '--mmproj', mmproj, '-c', '512', '-t', '1', '-np', '1', '--jinja', '-lv', '4'],
    alias: 'tiny-audio',
    env,
    readyWithinMs: 60_000,
  });
  startLog = server.lines();
}, 30 * 60_000);

afterAll(async () => {
  await server?.stop();
});

/** 1 s at 16 kHz: a sine (media-bytes' wavBytes) and seeded white noise of the same length and level. */
const sine = wavBytes(16_000, 16_000);
const noise = (() => {
  const wav = Buffer.from(sine);
  const random = prng(7);
  for (let at = 44; at < wav.length; at += 2) wav.writeInt16LE(Math.round((random() * 2 - 1) * 8000), at);
  return wav;
})();

interface Reply {
  text: string;
  promptTokens: number;
  /** The first generated token's top candidates: token → logprob. */
  first: Record<string, number>;
}

type Part = { type: 'text'; text: string } | { type: 'input_audio'; input_audio: { data: string; format: 'wav' } };

async function ask(clips: Buffer[]): Promise<Reply> {
  const content: Part[] = [{ type: 'text', text: 'Listen to this:' }];
  for (const clip of clips) content.push({ type: 'input_audio', input_audio: { data: clip.toString('base64'), format: 'wav' } });
  const response = await fetch(`${server!.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server!.apiKey}` },
    body: JSON.stringify({
      messages: [{ role: 'user', content }],
      temperature: 0,
      seed: 42,
      max_tokens: 24,
      logprobs: true,
      top_logprobs: 5,
      // every request encodes its clip afresh: no reuse of an earlier prompt's cache
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
function distance(a: Record<string, number>, b: Record<string, number>): number {
  let most = 0;
  for (const token of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const [x, y] = [a[token], b[token]];
    most = Math.max(most, x === undefined || y === undefined ? Infinity : Math.abs(x - y));
  }
  return most;
}

describe('the tiny audio model (stories260K + a random ultravox projector) on llama-server', () => {
  it('loads the projector as a whisper-style audio encoder whose output fits the text model', async () => {
    const log = startLog.join('\n');
    expect(log).toMatch(/clip_model_loader: has audio encoder/);
    expect(log).toMatch(/load_hparams: projector:\s+ultravox/);
    expect(log).toMatch(new RegExp(`load_hparams: n_mel_bins:\\s+${TINY_AUDIO.melBins}`));
    expect(log).toMatch(new RegExp(`load_hparams: proj_stack_factor:\\s+${TINY_AUDIO.stackFactor}`));
    expect(log).toMatch(/loaded multimodal model/);
    const props = (await (await fetch(`${server!.url}/props`, { headers: { authorization: `Bearer ${server!.apiKey}` } })).json()) as {
      modalities: { vision: boolean; audio: boolean };
    };
    expect(props.modalities).toMatchObject({ vision: false, audio: true });
  });

  it('counts the clip’s tokens in the prompt: 50 per clip of up to 30 s, whatever its samples', async () => {
    const without = await ask([]);
    const one = await ask([sine]);
    const other = await ask([noise]);
    const two = await ask([sine, noise]);
    // The text around the clip is tokenized in two pieces, which may cost one token more than in one piece.
    expect(one.promptTokens - without.promptTokens).toBeGreaterThanOrEqual(TINY_AUDIO_CLIP_TOKENS);
    expect(one.promptTokens - without.promptTokens).toBeLessThanOrEqual(TINY_AUDIO_CLIP_TOKENS + 1);
    expect(other.promptTokens).toBe(one.promptTokens);
    expect(two.promptTokens - one.promptTokens).toBe(TINY_AUDIO_CLIP_TOKENS);
  });

  it('greedy replies: the same clip gives the same reply; other samples, or no clip, give another', async () => {
    const first = await ask([sine]);
    const again = await ask([sine]);
    expect(first.text.length).toBeGreaterThan(0);
    expect(again.text).toBe(first.text);
    expect(distance(again.first, first.first)).toBeLessThan(1e-4);

    const other = await ask([noise]);
    const none = await ask([]);
    expect(other.text).not.toBe(first.text);
    expect(none.text).not.toBe(first.text);
    expect(none.text).not.toBe(other.text);
    // The samples reach the logits, not only the sampled text.
    expect(distance(other.first, first.first)).toBeGreaterThan(0.01);
  });
});
