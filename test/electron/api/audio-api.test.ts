/**
 * Audio through the OpenAI API: a model whose projector hears (the tiny
 * ultravox-style fixture beside stories260K, imported together) takes
 * `input_audio` parts (WAV and MP3) on llama.cpp's server, says so in
 * /v1/models, and refuses images; the clip's tokens are in `usage`.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import type { ChatCompletionContentPart } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TINY_AUDIO_CLIP_TOKENS, tinyAudioModel } from '../../helpers/audio-model';
import { apiHostWithModel, type ApiHost } from '../../helpers/inference-host';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { mp3Bytes, wavBytes } from '../../helpers/media-bytes';
import { pngDataUrl, pngImage } from '../../helpers/vision-model';

let host: ApiHost;
let client: OpenAI;

beforeAll(async () => {
  const [{ env }, audio] = await Promise.all([ensureTestEngines(), tinyAudioModel()]);
  host = await apiHostWithModel('audio-api', { hostEnv: env, watchFolders: false });
  const dir = path.join(host.models, 'audio');
  mkdirSync(dir);
  const model = path.join(dir, 'tiny-ears.gguf');
  const mmproj = path.join(dir, 'mmproj-tiny-ears.gguf');
  copyFileSync(audio.model, model);
  copyFileSync(audio.mmproj, mmproj);
  const imported = await host.services.handlers['models.import']({ paths: [model, mmproj], mode: 'reference' });
  expect(imported.map((r) => r.error ?? r.ok)).toEqual([true, true]);
  expect(imported[1]!.model!.projector).toMatchObject({ projectorType: 'ultravox', vision: false, audio: true });
  client = new OpenAI({ baseURL: host.baseUrl, apiKey: host.key, maxRetries: 0 });
}, 30 * 60_000);

afterAll(async () => {
  await host?.close();
});

const clip = (bytes: Buffer, format: 'wav' | 'mp3'): ChatCompletionContentPart => ({
  type: 'input_audio',
  input_audio: { data: bytes.toString('base64'), format },
});

function ask(parts: ChatCompletionContentPart[]) {
  return client.chat.completions.create({
    model: 'tiny-ears',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Listen:' }, ...parts] }],
    max_tokens: 16,
    temperature: 0,
  });
}

describe('audio in the API', () => {
  it('/v1/models says the model hears and does not see', async () => {
    const listed = await client.models.list();
    const ears = listed.data.find((m) => m.id === 'tiny-ears') as unknown as { capabilities: unknown };
    expect(ears.capabilities).toEqual({ vision: false, audio: true });
  });

  it('a WAV clip reaches the model: its tokens are counted and it changes the reply', async () => {
    const none = await ask([]);
    const sine = await ask([clip(wavBytes(16_000, 16_000), 'wav')]);
    const added = sine.usage!.prompt_tokens - none.usage!.prompt_tokens;
    expect(added === TINY_AUDIO_CLIP_TOKENS || added === TINY_AUDIO_CLIP_TOKENS + 1, `added ${added}`).toBe(true);
    expect(sine.choices[0]!.message.content).not.toBe(none.choices[0]!.message.content);
    expect((await ask([clip(wavBytes(16_000, 16_000), 'wav')])).choices[0]!.message.content).toBe(sine.choices[0]!.message.content);
  });

  it('an MP3 clip is taken too', async () => {
    const answer = await ask([clip(mp3Bytes(40), 'mp3')]);
    expect(answer.choices[0]!.message.content!.length).toBeGreaterThan(0);
  });

  it('an image to a model that only hears is refused, naming none that can see', async () => {
    const error = await ask([{ type: 'image_url', image_url: { url: pngDataUrl(pngImage(8, 8, () => [1, 2, 3])) } }]).then(
      () => null,
      (e: unknown) => e as { status: number; message: string },
    );
    expect(error?.status).toBe(400);
    expect(error?.message).toMatch(/cannot see images; nothing was sent/);
  });
});
