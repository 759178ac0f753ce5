/**
 * llama.cpp's llama-server as a second engine: a real server (built from
 * node-llama-cpp's bundled source, cached) on stories260K, one thread.
 * Replies stream into the worker's deltas and stats, stop per request, reuse
 * a conversation's slot, report speculative decoding; a load that cannot fit
 * is refused before anything starts; a prompt too long for a slot is the
 * worker's typed error; a server killed mid-reply fails the reply with
 * llama.cpp's reason while the next load works. And images, on the tiny
 * vision model (stories260K with a random projector): the pixels reach the
 * model and their tokens are counted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcError } from '../../../shared/errors';
import type { ChatDelta, ContextOverflow, GenerateInput } from '../../../shared/inference';
import type { MediaPart } from '../../../shared/media';
import { ServerEngine } from '../../../electron/engines/server-engine';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { GET_WEATHER, SCRIPT, scriptedModel } from '../../helpers/scripted-models';
import { testModelPath } from '../../helpers/test-model';
import { TINY_VISION, TINY_VISION_IMAGE_TOKENS, pngImage, tinyVisionModel } from '../../helpers/vision-model';
import { TINY_AUDIO_CLIP_TOKENS, tinyAudioModel } from '../../helpers/audio-model';
import { wavBytes } from '../../helpers/media-bytes';

let engine: ServerEngine;
let llamaServer: string;
const logs: string[] = [];

beforeAll(async () => {
  ({ llamaServer } = await ensureTestEngines());
  engine = new ServerEngine({ binary: async () => llamaServer, threads: () => 1, log: (line) => logs.push(line) });
}, 30 * 60_000);

afterAll(async () => {
  await engine?.unload();
});

const ask = (requestId: string, maxTokens: number): GenerateInput => ({
  requestId,
  messages: [{ role: 'user', text: 'Once upon a time' }],
  sampling: { temperature: 0, maxTokens },
});

function collect() {
  const deltas: ChatDelta[] = [];
  const text = () =>
    deltas
      .flatMap((d) => d.parts)
      .map((p) => (p.kind === 'text' ? p.text : ''))
      .join('');
  return { deltas, text, onDelta: (d: ChatDelta) => deltas.push(d) };
}

describe('the server engine (llama-server, stories260K)', () => {
  it('loads a model and says what it runs', async () => {
    const loaded = await engine.load({ modelPath: testModelPath(), contextSize: 512 });
    expect(loaded).toMatchObject({ architecture: 'llama', contextSize: 512, parallel: 1, gpuLayers: 0 });
    expect(loaded.totalLayers).toBeGreaterThan(0);
    expect(engine.model).toEqual(loaded);
  });

  it('streams a greedy reply into deltas and stats; the same request gives the same text', async () => {
    const first = collect();
    const result = await engine.generate(ask('r1', 24), first.onDelta);
    expect(result.text.length).toBeGreaterThan(0);
    expect(first.text()).toBe(result.text);
    expect(first.deltas.every((d) => d.requestId === 'r1')).toBe(true);
    expect(result.stats).toMatchObject({ generatedTokens: 24, stopReason: 'max-tokens' });
    expect(result.stats.promptTokens).toBeGreaterThan(3);
    expect(result.stats.tokensPerSecond).toBeGreaterThan(0);
    const second = collect();
    expect((await engine.generate(ask('r2', 24), second.onDelta)).text).toBe(result.text);
  });

  it('stops one reply on request: what was written is kept, the reason is "abort"', async () => {
    const run = collect();
    const reply = engine.generate(ask('long', 400), (d) => {
      run.onDelta(d);
      if (run.deltas.length === 3) expect(engine.abort('long')).toBe(true);
    });
    const result = await reply;
    expect(result.stats.stopReason).toBe('abort');
    expect(result.text).toBe(run.text());
    expect(result.text.length).toBeGreaterThan(0);
    expect(engine.abort('long')).toBe(false);
    // The server goes on serving.
    expect((await engine.generate(ask('after', 8), () => undefined)).stats.generatedTokens).toBe(8);
  });

  it('a tool call comes back as the worker’s: call deltas, the call whole, stop reason "tool-calls" (scripted Qwen3, its own template)', async () => {
    const qwen = await scriptedModel('qwen3', 'tool');
    await engine.load({ modelPath: qwen, contextSize: 2048 });
    const run = { parts: [] as Array<{ name: string; text: string }> };
    const result = await engine.generate(
      {
        requestId: 'tool',
        messages: [{ role: 'user', text: 'What is the weather in Paris?' }],
        sampling: { temperature: 0, maxTokens: 100 },
        tools: [{ name: SCRIPT.tool.name, description: GET_WEATHER.description, parameters: GET_WEATHER.params as never }],
      },
      (d) => d.parts.forEach((p) => p.kind === 'call' && run.parts.push({ name: p.name, text: p.text })),
    );
    expect(result.stats.stopReason).toBe('tool-calls');
    expect(result.toolCalls).toHaveLength(1);
    const call = result.toolCalls![0]!;
    expect(call.name).toBe(SCRIPT.tool.name);
    expect(JSON.parse(call.arguments)).toEqual(SCRIPT.tool.params);
    expect(run.parts.map((p) => p.text).join('')).toBe(call.arguments);
    // The result goes back in the history, where the call was made: the model answers from it.
    const answer = await engine.generate(
      {
        requestId: 'tool-answer',
        messages: [
          { role: 'user', text: 'What is the weather in Paris?' },
          { role: 'assistant', text: '', calls: [{ name: call.name, arguments: call.arguments, result: SCRIPT.tool.result, at: 0 }] },
        ],
        sampling: { temperature: 0, maxTokens: 100 },
        tools: [{ name: SCRIPT.tool.name, description: GET_WEATHER.description, parameters: GET_WEATHER.params as never }],
      },
      () => undefined,
    );
    expect(answer.text).toBe(SCRIPT.tool.answer);
    await engine.load({ modelPath: testModelPath(), contextSize: 512 });
  });

  it('a reply with nothing to parse (no tools, format or reasoning) is the same as through llama-server’s chat path', async () => {
    // A thinking budget takes the chat path; without one, the prompt is rendered and completed.
    const fast = await engine.generate(ask('fast', 40), () => undefined);
    const chat = await engine.generate({ ...ask('chat', 40), thinking: { enabled: true, budget: 1000 } }, () => undefined);
    expect(fast.text).toBe(chat.text);
    expect(fast.stats.promptTokens).toBe(chat.stats.promptTokens);
    expect(fast.stats.stopReason).toBe('max-tokens');
    // A template that calls tools (scripted Llama 3), offered none: its scripted answer, and the end of turn ends it.
    const llama3 = await scriptedModel('llama3', 'tool');
    await engine.load({ modelPath: llama3, contextSize: 2048 });
    const question = {
      messages: [{ role: 'user' as const, text: 'What is the weather in Paris?' }],
      sampling: { temperature: 0, maxTokens: 60 },
    };
    const plain = await engine.generate({ requestId: 'llama3-fast', ...question }, () => undefined);
    const parsed = await engine.generate(
      { requestId: 'llama3-chat', ...question, thinking: { enabled: true, budget: 1000 } },
      () => undefined,
    );
    expect(plain.text).toBe(SCRIPT.tool.noFunctionsAnswer);
    expect(plain.stats.stopReason).toBe('eos');
    expect(parsed.text).toBe(plain.text);
    expect(parsed.stats.promptTokens).toBe(plain.stats.promptTokens);
    await engine.load({ modelPath: testModelPath(), contextSize: 512 });
  });

  it('holds the output to a JSON schema', async () => {
    const result = await engine.generate(
      {
        requestId: 'json',
        messages: [{ role: 'user', text: 'A name, please.' }],
        sampling: { temperature: 0, maxTokens: 60 },
        format: {
          type: 'json_schema',
          schema: {
            type: 'object',
            properties: { name: { type: 'string', maxLength: 12 } },
            required: ['name'],
            additionalProperties: false,
          },
        },
      },
      () => undefined,
    );
    const value = JSON.parse(result.text) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['name']);
    expect(typeof value.name === 'string' && value.name.length <= 12).toBe(true);
  });

  it('a conversation’s next turn runs on its slot: its earlier tokens are reused, and the reply is the same as read afresh', async () => {
    await engine.load({ modelPath: testModelPath(), contextSize: 512, parallel: 2 });
    const turn1: GenerateInput = {
      requestId: 'turn1',
      messages: [{ role: 'user', text: 'Lily had a red ball. She played with it in the park every day.' }],
      sampling: { temperature: 0, maxTokens: 24 },
      slotKey: 'conversation',
    };
    const first = await engine.generate(turn1, () => undefined);
    const turn2 = (requestId: string, slotKey?: string): GenerateInput => ({
      requestId,
      messages: [...turn1.messages, { role: 'assistant', text: first.text }, { role: 'user', text: 'What happened next?' }],
      sampling: { temperature: 0, maxTokens: 24 },
      ...(slotKey ? { slotKey } : {}),
    });
    // Another conversation in between takes the other slot, not this one's.
    await engine.generate({ ...ask('other', 8), slotKey: 'other' }, () => undefined);
    const second = await engine.generate(turn2('turn2', 'conversation'), () => undefined);
    expect(second.stats.cachedPromptTokens).toBeGreaterThan(first.stats.promptTokens / 2);
    expect(second.stats.cachedPromptTokens).toBeLessThan(second.stats.promptTokens);
    // The same turn on a fresh server reads everything and writes the same.
    await engine.load({ modelPath: testModelPath(), contextSize: 512, parallel: 2 });
    const fresh = await engine.generate(turn2('fresh'), () => undefined);
    expect(fresh.stats.cachedPromptTokens ?? 0).toBe(0);
    expect(fresh.stats.promptTokens).toBe(second.stats.promptTokens);
    expect(second.text).toBe(fresh.text);
  });

  it('a prompt too long for a slot is refused with the numbers, as on the worker; the server goes on', async () => {
    const long = 'Lily went to the park with her mom. '.repeat(80);
    const failure = await engine
      .generate(
        { requestId: 'long', messages: [{ role: 'user', text: long }], sampling: { temperature: 0, maxTokens: 8 } },
        () => undefined,
      )
      .catch((error: unknown) => error as RpcError);
    expect(failure).toBeInstanceOf(RpcError);
    expect((failure as RpcError).code).toBe('context_length_exceeded');
    const details = (failure as RpcError).details as ContextOverflow;
    expect(details.contextSize).toBe(512);
    expect(details.promptTokens).toBeGreaterThan(512);
    // stories260K was trained for 2,048 tokens: a larger context holds it, and the memory is there.
    expect(details.trainContextSize).toBe(2048);
    expect(details.largerContextSize).toBe(1024);
    expect(details.largerContextLimit).toBeNull();
    expect((failure as RpcError).message).toMatch(
      new RegExp(`^This model's maximum context length is 512 tokens\\. However, your messages resulted in ${details.promptTokens} tokens`),
    );
    expect((await engine.generate(ask('after-long', 8), () => undefined)).stats.generatedTokens).toBe(8);
  });

  it('a load that does not fit the memory free is refused with the numbers before llama-server is started', async () => {
    let started = 0;
    const tight = new ServerEngine({
      binary: async () => {
        started += 1;
        return llamaServer;
      },
      threads: () => 1,
      log: () => undefined,
      freeMemory: () => ({ ramFreeBytes: 200 * 1024 ** 2, vramFreeBytes: 0 }),
      // No GPU (as --list-devices of this CPU build says), so binary() counts only starts.
      devices: async () => [],
    });
    const failure = await tight
      .load({ modelPath: testModelPath(), contextSize: 512, parallel: 4 })
      .catch((error: unknown) => error as RpcError);
    expect(failure).toBeInstanceOf(RpcError);
    expect((failure as RpcError).code).toBe('out_of_memory');
    expect((failure as RpcError).message).toMatch(
      /^Not enough memory to load stories260K\.gguf on llama\.cpp’s server \(CPU only; 512-token context\): RAM is 10\d\.\d MB short: the part on the CPU needs [\d.]+ MB and 300\.0 MB is kept spare, and 200\.0 MB is free\. Try /,
    );
    expect(started).toBe(0);
    expect(tight.model).toBeUndefined();
    // With the memory there, the same load starts.
    const roomy = new ServerEngine({
      binary: async () => llamaServer,
      threads: () => 1,
      log: () => undefined,
      freeMemory: () => ({ ramFreeBytes: 2 * 1024 ** 3, vramFreeBytes: 0 }),
    });
    expect((await roomy.load({ modelPath: testModelPath(), contextSize: 512, parallel: 4 })).parallel).toBe(4);
    await roomy.unload();
  });

  it('speculative decoding with a draft model: the same greedy reply, the drafted and accepted tokens in the stats', async () => {
    await engine.load({ modelPath: testModelPath(), contextSize: 512 });
    const plain = await engine.generate(ask('plain', 64), () => undefined);
    const loaded = await engine.load({
      modelPath: testModelPath(),
      contextSize: 512,
      speculative: { kind: 'draft', modelPath: testModelPath() },
    });
    expect(loaded).toMatchObject({ speculative: 'draft', draftModel: 'stories260K' });
    expect(loaded.speculativeNote).toBeUndefined();
    const drafted = await engine.generate(ask('drafted', 64), () => undefined);
    expect(drafted.text).toBe(plain.text);
    expect(drafted.stats.predictedTokens).toBeGreaterThan(0);
    // The draft is the model itself: it guesses right.
    expect(drafted.stats.acceptedPredictions).toBeGreaterThan(drafted.stats.predictedTokens! / 2);
  });

  it('prompt lookup as llama.cpp’s n-gram drafting: the same greedy reply; a draft model llama.cpp cannot use is said, not fatal', async () => {
    const plain = await engine.generate(copyPrompt('plain-copy'), () => undefined);
    const loaded = await engine.load({ modelPath: testModelPath(), contextSize: 512, speculative: { kind: 'prompt-lookup' } });
    expect(loaded.speculative).toBe('prompt-lookup');
    const looked = await engine.generate(copyPrompt('lookup'), () => undefined);
    expect(looked.text).toBe(plain.text);
    expect(looked.stats.predictedTokens).toBeGreaterThan(0);
    // A draft of another vocabulary (the scripted Qwen3): the model runs without it, and says why.
    const qwen = await scriptedModel('qwen3', 'tool');
    const refused = await engine.load({ modelPath: testModelPath(), contextSize: 512, speculative: { kind: 'draft', modelPath: qwen } });
    expect(refused.speculative).toBeUndefined();
    expect(refused.speculativeNote).toMatch(
      /^The draft model .* could not be used on llama\.cpp’s server \(.+\)\. It runs without speculative decoding\.$/,
    );
    expect((await engine.generate(ask('no-draft', 8), () => undefined)).stats.generatedTokens).toBe(8);
    expect((await engine.generate(ask('no-draft-2', 8), () => undefined)).stats.predictedTokens).toBeUndefined();
    await engine.load({ modelPath: testModelPath(), contextSize: 512 });
  });

  it('a server killed mid-reply fails that reply with llama.cpp’s reason; the partial text was streamed; the next load works', async () => {
    const run = collect();
    const pid = engine.pid!;
    const reply = engine.generate(ask('doomed', 400), (d) => {
      run.onDelta(d);
      if (run.deltas.length === 2) process.kill(pid, 'SIGKILL');
    });
    await expect(reply).rejects.toThrow(
      /llama\.cpp's server stopped mid-reply, so the reply was cut short: llama-server stopped \(SIGKILL\)/,
    );
    expect(run.text().length).toBeGreaterThan(0);
    expect(engine.model).toBeUndefined();
    expect(logs.some((line) => line.startsWith('server engine: llama-server stopped (SIGKILL)'))).toBe(true);
    await expect(engine.generate(ask('none', 4), () => undefined)).rejects.toThrow(/No model is loaded: llama-server stopped/);
    await engine.load({ modelPath: testModelPath(), contextSize: 512 });
    expect((await engine.generate(ask('again', 8), () => undefined)).stats.generatedTokens).toBe(8);
  });

  it('unloading ends the server process; a reply under way ends as stopped, not as a crash', async () => {
    const pid = engine.pid!;
    let unloading: Promise<void> | null = null;
    const reply = engine.generate(ask('cut', 400), () => {
      unloading ??= engine.unload();
    });
    expect((await reply).stats.stopReason).toBe('abort');
    await unloading;
    expect(engine.model).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

/** A prompt whose reply repeats the input (prompt lookup finds its next tokens there). */
function copyPrompt(requestId: string): GenerateInput {
  const story = 'Lily had a red ball. She played with the ball in the park. The ball was big and red. Her friend Tom saw the ball.';
  return {
    requestId,
    messages: [{ role: 'user', text: `${story} ${story} ${story}` }],
    sampling: { temperature: 0, maxTokens: 64 },
  };
}

const png = (image: Buffer): MediaPart => ({ kind: 'image', mime: 'image/png', data: image.toString('base64') });
const black = png(pngImage(TINY_VISION.imageSize, TINY_VISION.imageSize, () => [0, 0, 0]));
const gradient = png(pngImage(TINY_VISION.imageSize, TINY_VISION.imageSize, (x, y) => [x * 8, y * 8, 128]));

describe('images on the server engine (stories260K with a random mlp projector)', () => {
  let vision: ServerEngine;
  let model: string;
  let mmproj: string;

  beforeAll(async () => {
    ({ model, mmproj } = await tinyVisionModel());
    vision = new ServerEngine({ binary: async () => llamaServer, threads: () => 1, log: () => undefined });
  }, 5 * 60_000);

  afterAll(async () => {
    await vision?.unload();
  });

  const look = (requestId: string, media: MediaPart[]): GenerateInput => ({
    requestId,
    messages: [{ role: 'user', text: 'Look at this picture:', media }],
    sampling: { temperature: 0, maxTokens: 24 },
  });

  it('loads the projector and says what the model takes', async () => {
    const loaded = await vision.load({ modelPath: model, projectorPath: mmproj, contextSize: 512 });
    expect(loaded).toMatchObject({ vision: true, audio: false, projector: mmproj.split('/').pop() });
  });

  it('the same image twice gives the same reply; another image another; its tokens are in the prompt and in mediaTokens', async () => {
    const none = await vision.generate(look('none', []), () => undefined);
    const first = await vision.generate(look('black', [black]), () => undefined);
    const again = await vision.generate(look('black-again', [black]), () => undefined);
    const other = await vision.generate(look('gradient', [gradient]), () => undefined);
    const two = await vision.generate(look('two', [black, gradient]), () => undefined);
    expect(first.text.length).toBeGreaterThan(0);
    expect(again.text).toBe(first.text);
    expect(other.text).not.toBe(first.text);
    expect(none.stats.mediaTokens).toBeUndefined();
    expect(first.stats.mediaTokens).toBe(TINY_VISION_IMAGE_TOKENS);
    expect(other.stats.mediaTokens).toBe(TINY_VISION_IMAGE_TOKENS);
    expect(two.stats.mediaTokens).toBe(2 * TINY_VISION_IMAGE_TOKENS);
    // The text around an image is tokenized in two pieces, which may cost one token more than in one.
    expect(first.stats.promptTokens - none.stats.promptTokens - TINY_VISION_IMAGE_TOKENS).toBeGreaterThanOrEqual(0);
    expect(first.stats.promptTokens - none.stats.promptTokens - TINY_VISION_IMAGE_TOKENS).toBeLessThanOrEqual(1);
    expect(two.stats.promptTokens - first.stats.promptTokens).toBe(TINY_VISION_IMAGE_TOKENS);
    // An earlier turn's image stays in the history and in the count.
    const followUp = await vision.generate(
      {
        requestId: 'follow-up',
        messages: [...look('', [black]).messages, { role: 'assistant', text: first.text }, { role: 'user', text: 'And then?' }],
        sampling: { temperature: 0, maxTokens: 8 },
      },
      () => undefined,
    );
    expect(followUp.stats.mediaTokens).toBe(TINY_VISION_IMAGE_TOKENS);
  });

  it('audio to a model whose projector only sees is refused before anything is sent', async () => {
    const clip: MediaPart = { kind: 'audio', mime: 'audio/wav', data: 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=' };
    await expect(vision.generate(look('audio', [clip]), () => undefined)).rejects.toThrow(
      /cannot hear audio: its projector \(.+\) takes images only; nothing was sent\./,
    );
  });

  it('an image llama.cpp cannot read (WebP: its decoder has none) is refused in its words; the server goes on', async () => {
    const webp: MediaPart = { kind: 'image', mime: 'image/webp', data: 'UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA' };
    const failure = await vision.generate(look('webp', [webp]), () => undefined).catch((error: unknown) => error as RpcError);
    expect(failure).toBeInstanceOf(RpcError);
    expect((failure as RpcError).code).toBe('invalid_input');
    expect((failure as RpcError).message).toBe('llama.cpp’s server refused the request: Failed to load image or audio file');
    expect((await vision.generate(look('after-webp', [black]), () => undefined)).stats.mediaTokens).toBe(TINY_VISION_IMAGE_TOKENS);
  });

  it('an image to a model loaded without a projector is refused with a clear message; the server goes on answering', async () => {
    const loaded = await vision.load({ modelPath: testModelPath(), contextSize: 512 });
    expect(loaded.vision).toBeUndefined();
    const failure = await vision.generate(look('no-projector', [black]), () => undefined).catch((error: unknown) => error as RpcError);
    expect(failure).toBeInstanceOf(RpcError);
    expect((failure as RpcError).code).toBe('invalid_input');
    expect((failure as RpcError).message).toBe(
      `${loaded.name} cannot see images: it runs without a projector (an mmproj file); nothing was sent.`,
    );
    expect((await vision.generate(ask('text-after', 8), () => undefined)).stats.generatedTokens).toBe(8);
  });
});

describe('audio on the server engine (stories260K with a random ultravox projector)', () => {
  let hearing: ServerEngine;
  let mmproj: string;

  beforeAll(async () => {
    const audio = await tinyAudioModel();
    mmproj = audio.mmproj;
    hearing = new ServerEngine({ binary: async () => llamaServer, threads: () => 1, log: () => undefined });
    const loaded = await hearing.load({ modelPath: audio.model, projectorPath: mmproj, contextSize: 512 });
    expect(loaded).toMatchObject({ vision: false, audio: true, projector: mmproj.split('/').pop() });
  }, 5 * 60_000);

  afterAll(async () => {
    await hearing?.unload();
  });

  const clip: MediaPart = { kind: 'audio', mime: 'audio/wav', data: wavBytes(16_000, 16_000).toString('base64') };
  const listen = (requestId: string, media: MediaPart[]): GenerateInput => ({
    requestId,
    messages: [{ role: 'user', text: 'Listen to this:', media }],
    sampling: { temperature: 0, maxTokens: 24 },
  });

  it('a WAV goes as input_audio: the same clip gives the same reply, and its tokens are counted', async () => {
    const none = await hearing.generate(listen('silence', []), () => undefined);
    const first = await hearing.generate(listen('clip', [clip]), () => undefined);
    const again = await hearing.generate(listen('clip-again', [clip]), () => undefined);
    expect(again.text).toBe(first.text);
    expect(first.text).not.toBe(none.text);
    expect(first.stats.mediaTokens).toBe(TINY_AUDIO_CLIP_TOKENS);
  });

  it('an image to a model that only hears is refused before anything is sent', async () => {
    await expect(hearing.generate(listen('image', [black]), () => undefined)).rejects.toThrow(
      /cannot see images: its projector \(.+\) takes audio only; nothing was sent\./,
    );
  });
});
