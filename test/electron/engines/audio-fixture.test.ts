/**
 * The tiny audio model (test/helpers/audio-model.ts) on the real llama-server:
 * stories260K with a random Ultravox-style projector (`--mmproj`), one
 * thread. It proves the fixture is something the audio tests can stand on:
 * llama.cpp loads the projector as an audio encoder, a WAV sent as an OpenAI
 * `input_audio` content part reaches the model (its 50 tokens are in the
 * prompt, its samples change the greedy reply), and the same clip gives the
 * same reply.
 */
import { describe, expect, it } from 'vitest';
import { TINY_AUDIO, TINY_AUDIO_CLIP_TOKENS, tinyAudioModel } from '../../helpers/audio-model';
import { wavBytes } from '../../helpers/media-bytes';
import { ask as askServer, distance, mmprojServer, modalities, type Reply } from '../../helpers/mmproj-server';
import { prng } from '../../helpers/prng';

const tiny = mmprojServer('tiny-audio', tinyAudioModel);

/** 1 s at 16 kHz: a sine (media-bytes' wavBytes) and seeded white noise of the same length and level. */
const sine = wavBytes(16_000, 16_000);
const noise = (() => {
  const wav = Buffer.from(sine);
  const random = prng(7);
  for (let at = 44; at < wav.length; at += 2) wav.writeInt16LE(Math.round((random() * 2 - 1) * 8000), at);
  return wav;
})();

function ask(clips: Buffer[]): Promise<Reply> {
  return askServer(
    tiny.server(),
    'Listen to this:',
    clips.map((clip) => ({ type: 'input_audio', input_audio: { data: clip.toString('base64'), format: 'wav' } })),
  );
}

describe('the tiny audio model (stories260K + a random ultravox projector) on llama-server', () => {
  it('loads the projector as a whisper-style audio encoder whose output fits the text model', async () => {
    const log = tiny.startLog();
    expect(log).toMatch(/clip_model_loader: has audio encoder/);
    expect(log).toMatch(/load_hparams: projector:\s+ultravox/);
    expect(log).toMatch(new RegExp(`load_hparams: n_mel_bins:\\s+${TINY_AUDIO.melBins}`));
    expect(log).toMatch(new RegExp(`load_hparams: proj_stack_factor:\\s+${TINY_AUDIO.stackFactor}`));
    expect(log).toMatch(/loaded multimodal model/);
    expect(await modalities(tiny.server())).toMatchObject({ vision: false, audio: true });
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
