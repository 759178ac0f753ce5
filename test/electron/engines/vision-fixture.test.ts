/**
 * The tiny vision model (test/helpers/vision-model.ts) on the real
 * llama-server: stories260K with a random llava-style projector (`--mmproj`),
 * one thread. It proves the fixture is something the image tests can stand
 * on: llama.cpp loads the projector as a vision encoder, an image sent as an
 * OpenAI `image_url` data URL reaches the model (its 16 tokens are in the
 * prompt, its pixels change the greedy reply), and the same image gives the
 * same reply.
 */
import { describe, expect, it } from 'vitest';
import { ask as askServer, distance, mmprojServer, modalities, type Reply } from '../../helpers/mmproj-server';
import { TINY_VISION, TINY_VISION_IMAGE_TOKENS, pngDataUrl, pngImage, tinyVisionModel } from '../../helpers/vision-model';

const tiny = mmprojServer('tiny-vision', tinyVisionModel);

const black = pngImage(TINY_VISION.imageSize, TINY_VISION.imageSize, () => [0, 0, 0]);
const gradient = pngImage(TINY_VISION.imageSize, TINY_VISION.imageSize, (x, y) => [x * 8, y * 8, 128]);

function ask(images: Buffer[]): Promise<Reply> {
  return askServer(
    tiny.server(),
    'Look at this picture:',
    images.map((image) => ({ type: 'image_url', image_url: { url: pngDataUrl(image) } })),
  );
}

describe('the tiny vision model (stories260K + a random mlp projector) on llama-server', () => {
  it('loads the projector as a llava-style vision encoder whose output fits the text model', async () => {
    const log = tiny.startLog();
    expect(log).toMatch(/clip_model_loader: has vision encoder/);
    expect(log).toMatch(/load_hparams: projector:\s+mlp/);
    expect(log).toMatch(new RegExp(`load_hparams: image_size:\\s+${TINY_VISION.imageSize}`));
    expect(log).toMatch(/loaded multimodal model/);
    expect(await modalities(tiny.server())).toMatchObject({ vision: true, audio: false });
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
