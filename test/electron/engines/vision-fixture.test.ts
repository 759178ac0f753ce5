/**
 * The tiny vision model (test/helpers/vision-model.ts) on the real
 * llama-server: stories260K with a random llava-style projector (`--mmproj`),
 * one thread. It proves the fixture is something the image tests can stand
 * on: llama.cpp loads the projector as a vision encoder, an image sent as an
 * OpenAI `image_url` data URL reaches the model (its 16 tokens are in the
 * prompt, its pixels change the greedy reply), and the same image gives the
 * same reply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaServerProcess } from '../../../electron/engines/llama-server-process';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { TINY_VISION, TINY_VISION_IMAGE_TOKENS, pngDataUrl, pngImage, tinyVisionModel } from '../../helpers/vision-model';

let server: LlamaServerProcess | undefined;
let startLog: string[] = [];

beforeAll(async () => {
  const [{ llamaServer, env }, { model, mmproj }] = await Promise.all([ensureTestEngines(), tinyVisionModel()]);
  server = await LlamaServerProcess.start({
    binary: llamaServer,
    // -lv 4: llama.cpp logs the projector's hyperparameters as it loads them
    args: ['-m', model, '--mmproj', mmproj, '-c', '512', '-t', '1', '-np', '1', '--jinja', '-lv', '4'],
    alias: 'tiny-vision',
    env,
    readyWithinMs: 60_000,
  });
  startLog = server.lines();
}, 30 * 60_000);

afterAll(async () => {
  await server?.stop();
});

const black = pngImage(TINY_VISION.imageSize, TINY_VISION.imageSize, () => [0, 0, 0]);
const gradient = pngImage(TINY_VISION.imageSize, TINY_VISION.imageSize, (x, y) => [x * 8, y * 8, 128]);

interface Reply {
  text: string;
  promptTokens: number;
  /** The first generated token's top candidates: token → logprob. */
  first: Record<string, number>;
}

type Part = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

async function ask(images: Buffer[]): Promise<Reply> {
  const content: Part[] = [{ type: 'text', text: 'Look at this picture:' }];
  for (const image of images) content.push({ type: 'image_url', image_url: { url: pngDataUrl(image) } });
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
      // every request encodes its image afresh: no reuse of an earlier prompt's cache
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

describe('the tiny vision model (stories260K + a random mlp projector) on llama-server', () => {
  it('loads the projector as a llava-style vision encoder whose output fits the text model', async () => {
    const log = startLog.join('\n');
    expect(log).toMatch(/clip_model_loader: has vision encoder/);
    expect(log).toMatch(/load_hparams: projector:\s+mlp/);
    expect(log).toMatch(new RegExp(`load_hparams: image_size:\\s+${TINY_VISION.imageSize}`));
    expect(log).toMatch(/loaded multimodal model/);
    const props = (await (await fetch(`${server!.url}/props`, { headers: { authorization: `Bearer ${server!.apiKey}` } })).json()) as {
      modalities: { vision: boolean; audio: boolean };
    };
    expect(props.modalities).toMatchObject({ vision: true, audio: false });
  });

  it('counts the image’s tokens in the prompt: 16 per 32×32 image, whatever its pixels', async () => {
    const without = await ask([]);
    const one = await ask([black]);
    const other = await ask([gradient]);
    const two = await ask([black, gradient]);
    // The text around the image is tokenized in two pieces, which may cost one token more than in one piece.
    expect(one.promptTokens - without.promptTokens).toBeGreaterThanOrEqual(TINY_VISION_IMAGE_TOKENS);
    expect(one.promptTokens - without.promptTokens).toBeLessThanOrEqual(TINY_VISION_IMAGE_TOKENS + 1);
    expect(other.promptTokens).toBe(one.promptTokens);
    expect(two.promptTokens - one.promptTokens).toBe(TINY_VISION_IMAGE_TOKENS);
  });

  it('greedy replies: the same image gives the same reply; other pixels, or no image, give another', async () => {
    const first = await ask([black]);
    const again = await ask([black]);
    expect(first.text.length).toBeGreaterThan(0);
    expect(again.text).toBe(first.text);
    expect(distance(again.first, first.first)).toBeLessThan(1e-4);

    const other = await ask([gradient]);
    const none = await ask([]);
    expect(other.text).not.toBe(first.text);
    expect(none.text).not.toBe(first.text);
    expect(none.text).not.toBe(other.text);
    // The pixels reach the logits, not only the sampled text.
    expect(distance(other.first, first.first)).toBeGreaterThan(0.01);
  });
});
