/**
 * The context on llama.cpp's server, as on the worker (issue 25): a reply's
 * stats carry the context gauge's numbers; a conversation longer than the
 * slot's context loses its oldest messages whole (their images too), by the
 * worker's rule and with room for the reply, and says how many; only a last
 * message that cannot fit is refused, with the numbers. A real llama-server on
 * stories260K (and the tiny vision model), one thread, greedy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcError } from '../../../shared/errors';
import type { ChatMessage, ContextOverflow, GenerateInput } from '../../../shared/inference';
import type { MediaPart } from '../../../shared/media';
import { ServerEngine } from '../../../electron/engines/server-engine';
import { maxPromptTokens } from '../../../electron/worker/context-fit';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { testModelPath } from '../../helpers/test-model';
import { TINY_VISION, TINY_VISION_IMAGE_TOKENS, pngImage, tinyVisionModel } from '../../helpers/vision-model';

const CONTEXT = 512;
let llamaServer: string;
let engine: ServerEngine;
const logs: string[] = [];

beforeAll(async () => {
  ({ llamaServer } = await ensureTestEngines());
  engine = new ServerEngine({ binary: async () => llamaServer, threads: () => 1, log: (line) => logs.push(line) });
  await engine.load({ modelPath: testModelPath(), contextSize: CONTEXT });
}, 30 * 60_000);

afterAll(async () => {
  await engine?.unload();
});

const SENTENCES = [
  'Lily went to the park with her mom and saw a big red ball under a tree.',
  'Tom had a little dog named Max who liked to run and jump in the green grass.',
  'One day the sun was hot, so the children went to the lake to swim and play.',
  'The old cat sat by the window and watched the birds fly over the tall house.',
];

/** A conversation of `turns` user messages, each answered, ending with a short question. */
function conversation(turns: number, last = 'What happened next?'): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (let i = 0; i < turns; i++) {
    messages.push({ role: 'user', text: `${SENTENCES[i % 4]} ${SENTENCES[(i + 1) % 4]}` });
    messages.push({ role: 'assistant', text: `${SENTENCES[(i + 2) % 4]} ${SENTENCES[(i + 3) % 4]}` });
  }
  messages.push({ role: 'user', text: last });
  return messages;
}

const chat = (requestId: string, messages: ChatMessage[], maxTokens = 16): GenerateInput => ({
  requestId,
  system: 'You tell short stories.',
  messages,
  sampling: { temperature: 0, maxTokens },
});

describe('the context on the server engine (llama-server, stories260K, a 512-token slot)', () => {
  it('a reply’s stats carry the slot’s context and the tokens in it after the reply (prompt + generated)', async () => {
    const result = await engine.generate(chat('gauge', [{ role: 'user', text: 'Once upon a time' }], 24), () => undefined);
    expect(result.stats).toMatchObject({ contextSize: CONTEXT, generatedTokens: 24, droppedMessages: 0 });
    expect(result.stats.contextTokens).toBe(result.stats.promptTokens + result.stats.generatedTokens);
  });

  it('a conversation longer than the context loses its oldest messages whole; the rest is what a reply to it alone would read', async () => {
    const messages = conversation(12);
    const result = await engine.generate(chat('long', messages), () => undefined);
    const dropped = result.stats.droppedMessages!;
    expect(dropped).toBeGreaterThan(0);
    // Whole turns: the kept part starts at a user message.
    expect(messages[dropped]!.role).toBe('user');
    expect(result.stats.promptTokens).toBeLessThanOrEqual(maxPromptTokens(CONTEXT, 16));
    expect(result.stats.generatedTokens).toBeGreaterThan(0);
    expect(result.stats.stopReason).not.toBe('abort');
    expect(result.stats.contextTokens).toBe(result.stats.promptTokens + result.stats.generatedTokens);
    // The same reply as to the kept messages alone (the system prompt and the last message among them).
    const alone = await engine.generate(chat('kept', messages.slice(dropped)), () => undefined);
    expect(alone.stats.droppedMessages).toBe(0);
    expect(alone.stats.promptTokens).toBe(result.stats.promptTokens);
    expect(alone.text).toBe(result.text);
  });

  it('a last message too long for the context is refused with the numbers; the server goes on', async () => {
    const long = `${SENTENCES.join(' ')} `.repeat(8);
    const failure = await engine.generate(chat('too-long', conversation(2, long), 8), () => undefined).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(RpcError);
    expect((failure as RpcError).code).toBe('context_length_exceeded');
    const details = (failure as RpcError).details as ContextOverflow;
    expect(details).toMatchObject({
      contextSize: CONTEXT,
      replyTokens: 8,
      maxPromptTokens: maxPromptTokens(CONTEXT, 8),
      trainContextSize: 2048,
    });
    expect(details.requiredTokens).toBeGreaterThan(details.maxPromptTokens);
    expect(details.promptTokens).toBeGreaterThan(details.requiredTokens);
    expect((failure as RpcError).message).toMatch(
      new RegExp(
        `^This model's maximum context length is ${CONTEXT} tokens\\. However, your messages resulted in ${details.promptTokens} tokens, and the last message with the system prompt alone is ${details.requiredTokens}`,
      ),
    );
    expect((await engine.generate(chat('after', [{ role: 'user', text: 'The dog' }], 4), () => undefined)).stats.generatedTokens).toBe(4);
  });
});

const png = (image: Buffer): MediaPart => ({ kind: 'image', mime: 'image/png', data: image.toString('base64') });
const black = png(pngImage(TINY_VISION.imageSize, TINY_VISION.imageSize, () => [0, 0, 0]));
const gradient = png(pngImage(TINY_VISION.imageSize, TINY_VISION.imageSize, (x, y) => [x * 8, y * 8, 128]));

describe('images in a conversation longer than the context (the tiny vision model, a 256-token slot)', () => {
  let vision: ServerEngine;

  beforeAll(async () => {
    const { model, mmproj } = await tinyVisionModel();
    vision = new ServerEngine({ binary: async () => llamaServer, threads: () => 1, log: (line) => logs.push(line) });
    await vision.load({ modelPath: model, projectorPath: mmproj, contextSize: 256 });
  }, 5 * 60_000);

  afterAll(async () => {
    await vision?.unload();
  });

  it('the oldest messages go with their images (llama-server’s refusal counted, the request sent again); the last one’s stay', async () => {
    const messages: ChatMessage[] = [];
    for (let i = 0; i < 6; i++)
      messages.push({ role: 'user', text: 'Look:', media: [black, gradient] }, { role: 'assistant', text: 'A cat.' });
    messages.push({ role: 'user', text: 'And this one?', media: [gradient] });
    const before = logs.length;
    const result = await vision.generate({ requestId: 'pictures', messages, sampling: { temperature: 0, maxTokens: 8 } }, () => undefined);
    expect(result.stats.droppedMessages).toBeGreaterThan(0);
    expect(result.stats.generatedTokens).toBeGreaterThan(0);
    expect(result.stats.promptTokens).toBeLessThanOrEqual(maxPromptTokens(256, 8));
    const keptImages = messages
      .slice(result.stats.droppedMessages)
      .reduce((n, m) => n + (m.role === 'user' ? (m.media?.length ?? 0) : 0), 0);
    expect(result.stats.mediaTokens).toBe(keptImages * TINY_VISION_IMAGE_TOKENS);
    expect(logs.slice(before).some((line) => /does not fit the slot; counting it/.test(line))).toBe(true);
    // The same reply as to the kept messages alone.
    const alone = await vision.generate(
      { requestId: 'pictures-kept', messages: messages.slice(result.stats.droppedMessages), sampling: { temperature: 0, maxTokens: 8 } },
      () => undefined,
    );
    expect(alone.stats.droppedMessages).toBe(0);
    expect(alone.text).toBe(result.text);
  });
});
