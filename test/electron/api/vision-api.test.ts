/**
 * Images (and audio) through the OpenAI API, with the official `openai`
 * client, against a host whose library holds the tiny vision model (stories260K
 * with its random projector, imported together) beside stories260K alone: a
 * data-URL image reaches the model on llama.cpp's server (its 16 tokens in
 * `usage`, its pixels in the greedy reply), WebP is converted, /v1/models says
 * which models see, and each refusal is a 400 (413 for size) naming the place.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import type { ChatCompletionContentPart } from 'openai/resources/chat/completions';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiHostWithModel, type ApiHost } from '../../helpers/inference-host';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { wavBytes } from '../../helpers/media-bytes';
import { TINY_VISION, TINY_VISION_IMAGE_TOKENS, pngDataUrl, pngImage, tinyVisionModel } from '../../helpers/vision-model';

let host: ApiHost;
let client: OpenAI;
let visionId: string;

beforeAll(async () => {
  const [{ env }, vision] = await Promise.all([ensureTestEngines(), tinyVisionModel()]);
  host = await apiHostWithModel('vision-api', { hostEnv: env, watchFolders: false });
  const dir = path.join(host.models, 'vision');
  mkdirSync(dir);
  const model = path.join(dir, 'tiny-vision.gguf');
  const mmproj = path.join(dir, 'mmproj-tiny-vision-F32.gguf');
  copyFileSync(vision.model, model);
  copyFileSync(vision.mmproj, mmproj);
  const imported = await host.services.handlers['models.import']({ paths: [model, mmproj], mode: 'reference' });
  expect(imported.map((r) => r.ok)).toEqual([true, true]);
  visionId = imported[0]!.model!.id;
  client = new OpenAI({ baseURL: host.baseUrl, apiKey: host.key, maxRetries: 0 });
}, 30 * 60_000);

afterAll(async () => {
  await host?.close();
});

const side = TINY_VISION.imageSize;
const black = pngImage(side, side, () => [0, 0, 0]);
const gradient = pngImage(side, side, (x, y) => [x * 8, y * 8, 128]);

const image = (url: string): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url } });

function ask(parts: ChatCompletionContentPart[], model = 'tiny-vision') {
  return client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Look at this picture:' }, ...parts] }],
    max_tokens: 24,
    temperature: 0,
  });
}

/** The refusal the client raised: its status and OpenAI's error fields. */
async function refusal(request: Promise<unknown>) {
  const error = await request.then(
    () => {
      throw new Error('the request was answered, not refused');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenAI.APIError);
  const { status, param, code, error: body } = error as InstanceType<typeof OpenAI.APIError> & { error?: { message?: string } };
  return { status, message: body?.message ?? '', param, code };
}

describe('images through /v1/chat/completions', () => {
  it('/v1/models says which models see images (and hear audio), keeping OpenAI’s fields', async () => {
    const models = (await client.models.list()).data as Array<OpenAI.Models.Model & { capabilities?: unknown }>;
    const byId = Object.fromEntries(models.map((m) => [m.id, m]));
    expect(byId['tiny-vision']).toMatchObject({
      object: 'model',
      owned_by: expect.any(String),
      capabilities: { vision: true, audio: false },
    });
    expect(byId['stories260k']).toMatchObject({ object: 'model', capabilities: { vision: false, audio: false } });
    expect(await client.models.retrieve('tiny-vision')).toMatchObject({ id: 'tiny-vision', capabilities: { vision: true, audio: false } });
  });

  it('a data-URL image gets a reply; the same image the same greedy reply, another image another; 16 prompt tokens each', async () => {
    const none = await ask([]);
    const first = await ask([image(pngDataUrl(black))]);
    const again = await ask([image(pngDataUrl(black))]);
    const other = await ask([image(pngDataUrl(gradient))]);
    const two = await ask([image(pngDataUrl(black)), image(pngDataUrl(gradient))]);
    expect(host.services.inference.status().model).toMatchObject({ engine: 'server', vision: true });
    const text = (answer: OpenAI.Chat.ChatCompletion) => answer.choices[0]!.message.content!;
    expect(text(first).length).toBeGreaterThan(0);
    expect(text(again)).toBe(text(first));
    expect(text(other)).not.toBe(text(first));
    expect(text(none)).not.toBe(text(first));
    // The text around an image is tokenized in two pieces, which may cost one token more than in one piece.
    const added = first.usage!.prompt_tokens - none.usage!.prompt_tokens;
    expect(added).toBeGreaterThanOrEqual(TINY_VISION_IMAGE_TOKENS);
    expect(added).toBeLessThanOrEqual(TINY_VISION_IMAGE_TOKENS + 1);
    expect(other.usage!.prompt_tokens).toBe(first.usage!.prompt_tokens);
    expect(two.usage!.prompt_tokens - first.usage!.prompt_tokens).toBe(TINY_VISION_IMAGE_TOKENS);

    // Streamed, the same reply; a declared type the bytes disagree with is fine (the bytes say PNG).
    const stream = await client.chat.completions.create({
      model: 'tiny-vision',
      messages: [
        {
          role: 'user',
          content: [{ type: 'text', text: 'Look at this picture:' }, image(`data:image/jpeg;base64,${black.toString('base64')}`)],
        },
      ],
      max_tokens: 24,
      temperature: 0,
      stream: true,
    });
    let streamed = '';
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
    expect(streamed).toBe(text(first));

    // WebP is converted to PNG on the way: lossless, the same pixels, the same reply.
    const webp = await sharp(gradient).webp({ lossless: true }).toBuffer();
    expect(text(await ask([image(`data:image/webp;base64,${webp.toString('base64')}`)]))).toBe(text(other));
  });

  it('refuses a remote URL, saying the server does not fetch on a client’s behalf', async () => {
    const answer = await refusal(ask([image('https://example.com/cat.png')]));
    expect(answer).toMatchObject({ status: 400, param: 'messages[0].content[1].image_url.url', code: 'remote_url_not_supported' });
    expect(answer.message).toMatch(/does not fetch URLs on a client's behalf.*data URL/);
  });

  it('refuses an image for a text-only model, naming the library model that sees', async () => {
    const answer = await refusal(ask([image(pngDataUrl(black))], 'stories260k'));
    expect(answer).toMatchObject({ status: 400, param: 'messages[0].content[1]', code: 'unsupported_content' });
    expect(answer.message).toBe('stories260k cannot see images; nothing was sent. Models in your library that can: tiny-vision.');
  });

  it('refuses malformed, damaged, unsupported and too many files, and oversize ones with 413', async () => {
    expect(await refusal(ask([image('data:image/png;base64,@@@@')]))).toMatchObject({
      status: 400,
      param: 'messages[0].content[1].image_url.url',
      code: 'invalid_base64',
    });
    expect(await refusal(ask([image('data:image/png,plain')]))).toMatchObject({ status: 400, code: 'invalid_data_url' });

    const corrupt = await refusal(ask([image(pngDataUrl(gradient.subarray(0, 60)))]));
    expect(corrupt).toMatchObject({ status: 400, param: 'messages[0].content[1]', code: 'media_corrupt' });
    expect(corrupt.message).toMatch(/^messages\[0\]\.content\[1\] is a damaged PNG image and cannot be read/);

    const text = await refusal(ask([image(`data:image/png;base64,${Buffer.from('just some text, not a picture').toString('base64')}`)]));
    expect(text).toMatchObject({ status: 400, code: 'unsupported_media_type' });
    expect(text.message).toMatch(/is not an image or audio file Freehold can send to a model: use PNG, JPEG/);

    const nine = await refusal(ask(Array.from({ length: 9 }, () => image(pngDataUrl(black)))));
    expect(nine).toMatchObject({ status: 400, param: 'messages[0].content[9]', code: 'media_too_many' });
    expect(nine.message).toMatch(/9 files in one message; the most is 8/);

    // 11 MiB that begin as a PNG: over the 10 MiB per image (its base64, 15 MiB, is over the API's usual 8 MiB body).
    const big = Buffer.alloc(11 * 1024 * 1024);
    black.copy(big);
    const oversize = await refusal(ask([image(pngDataUrl(big))]));
    expect(oversize).toMatchObject({ status: 413, param: 'messages[0].content[1]', code: 'media_too_large' });
    expect(oversize.message).toMatch(/is 11\.0 MiB; the most Freehold sends is 10\.0 MiB per image/);

    // The body: 8 MiB without media (as every route), 33 MiB with it.
    const post = async (content: unknown) => {
      const response = await fetch(`${host.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${host.key}` },
        body: JSON.stringify({ model: 'tiny-vision', messages: [{ role: 'user', content }], max_tokens: 1 }),
      });
      return { status: response.status, body: (await response.json()) as { error: { message: string } } };
    };
    expect(await post('x'.repeat(9 * 1024 * 1024))).toMatchObject({
      status: 413,
      body: { error: { message: 'The request body is larger than 8 MiB (33 MiB with images or audio).' } },
    });
    expect(await post([image(pngDataUrl(Buffer.alloc(26 * 1024 * 1024)))])).toMatchObject({
      status: 413,
      body: { error: { message: 'The request body is larger than 33 MiB.' } },
    });
  });

  it('refuses media outside user messages, and audio for a model that does not hear', async () => {
    const assistant = await refusal(
      client.chat.completions.create({
        model: 'tiny-vision',
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: [{ type: 'text', text: 'Look' }, image(pngDataUrl(black))] as never },
          { role: 'user', content: 'What was it?' },
        ],
        max_tokens: 4,
      }),
    );
    expect(assistant).toMatchObject({ status: 400, param: 'messages[1].content[1]' });
    expect(assistant.message).toMatch(/images and audio are taken in user messages only, not in assistant messages/);

    const audio = await refusal(ask([{ type: 'input_audio', input_audio: { data: wavBytes().toString('base64'), format: 'wav' } }]));
    expect(audio).toMatchObject({ status: 400, param: 'messages[0].content[1]', code: 'unsupported_content' });
    expect(audio.message).toMatch(/^tiny-vision cannot hear audio; nothing was sent\. No model in your library can/);
  });

  it('a model with a projector pinned to node-llama-cpp takes text only, and says how to change that', async () => {
    await host.services.handlers['settings.update']({ inference: { engines: { [visionId]: 'worker' } } });
    try {
      expect(await client.models.retrieve('tiny-vision')).toMatchObject({ capabilities: { vision: false, audio: false } });
      const answer = await refusal(ask([image(pngDataUrl(black))]));
      expect(answer).toMatchObject({ status: 400, param: 'messages[0].content[1]' });
      expect(answer.message).toBe(
        `tiny-vision cannot see images while it runs on node-llama-cpp (chosen in its options), which takes text only; nothing was sent. Set its engine to Auto or llama.cpp’s server: Models → Options → Engine, or freehold models set ${visionId} engine=auto.`,
      );
    } finally {
      await host.services.handlers['settings.update']({ inference: { engines: {} } });
    }
  });
});
