/**
 * Several replies at once on one model (one context, a sequence per reply,
 * batched by llama.cpp), each conversation on its own sequence so a follow-up
 * reads only its new tokens, fewer sequences when memory is short, and
 * speculative decoding by prompt lookup giving the same greedy text.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import { inferenceHost } from '../../helpers/inference-host';
import { scriptedModel } from '../../helpers/scripted-models';
import { testModelPath } from '../../helpers/test-model';

let services: HostServices;
let client: OpenAI;
let dir: string;
const prompts = ['Once upon a time', 'Lily had a cat', 'The sun was hot', 'Tom went to the park'];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-parallel-'));
  ({ services } = await inferenceHost({ dataDir: path.join(dir, 'data'), watchFolders: false, api: { enabled: true, port: 0 } }));
  await services.api.apply();
  const status = services.api.status();
  client = new OpenAI({ baseURL: status.url!, apiKey: status.key, maxRetries: 0, timeout: 60_000 });
  mkdirSync(path.join(dir, 'models'));
  copyFileSync(testModelPath(), path.join(dir, 'models', 'stories260K.gguf'));
  await services.handlers['models.import']({ paths: [path.join(dir, 'models', 'stories260K.gguf')], mode: 'reference' });
});

afterAll(async () => {
  await services?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function streamText(prompt: string, maxTokens: number, signal?: AbortSignal, onChunk?: (n: number) => void): Promise<string> {
  const stream = await client.chat.completions.create(
    { model: 'stories260k', messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0, stream: true },
    { signal },
  );
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    onChunk?.((chunks += 1));
  }
  return text;
}

describe('parallel replies (stories260K, 4 sequences)', () => {
  it('four concurrent streams run at once, each giving the text it gives alone', async () => {
    const alone: string[] = [];
    for (const prompt of prompts) alone.push(await streamText(prompt, 300));
    expect(services.inference.status().model?.parallel).toBe(4);

    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, services.inference.status().queue.active ?? 0)), 2);
    const together = await Promise.all(prompts.map((prompt) => streamText(prompt, 300)));
    clearInterval(watch);
    expect(most).toBe(4);
    // Greedy decoding of the same prompt: batched with others, the same tokens.
    expect(together).toEqual(alone);
  });

  it('a client that hangs up stops its own reply; the others run to the end', async () => {
    const full = await streamText(prompts[1]!, 400);
    const controller = new AbortController();
    const left = streamText(prompts[0]!, 1500, controller.signal, (n) => {
      if (n === 5) controller.abort();
    }).catch((error: unknown) => `aborted: ${(error as Error).name}`);
    const others = Promise.all([streamText(prompts[1]!, 400), streamText(prompts[1]!, 400)]);
    await left;
    expect(await others).toEqual([full, full]);
  });

  it('a follow-up turn reads only its new tokens, even with another conversation in between', async () => {
    const library = await services.handlers['models.list'](undefined);
    const modelId = library.models[0]!.id;
    const a = await services.handlers['chats.create']({ modelId, settings: { temperature: 0, maxTokens: 40 } });
    const b = await services.handlers['chats.create']({ modelId, settings: { temperature: 0, maxTokens: 40 } });
    const first = await services.handlers['chats.send']({
      conversationId: a.id,
      parentId: null,
      text: 'Once upon a time there was a girl',
    });
    await services.handlers['chats.send']({ conversationId: b.id, parentId: null, text: 'A very different story about a dog' });
    const second = await services.handlers['chats.send']({ conversationId: a.id, parentId: first.reply.id, text: 'What happened next?' });
    const stats = second.reply.stats!;
    // Everything up to the end of the first reply was still in conversation A's sequence.
    expect(stats.cachedPromptTokens).toBeGreaterThanOrEqual(first.reply.stats!.promptTokens);
    expect(stats.cachedPromptTokens).toBeLessThan(stats.promptTokens);
  });
});

describe('fewer parallel replies when memory is short', () => {
  it('under a RAM cap, the model loads with fewer sequences and says why', async () => {
    const host = await inferenceHost({ env: { FREEHOLD_WORKER_RAM_CAP_BYTES: String(100 * 1024 * 1024) } });
    try {
      const loaded = await host.services.inference.load({ modelPath: testModelPath(), contextSize: 32768 });
      // As many whole contexts as fit: each reply keeps the 32,768 tokens asked for.
      expect(loaded.parallel).toBe(3);
      expect(loaded.contextSize).toBe(32768);
      expect(loaded.parallelNote).toMatch(
        /^4 replies at once with a 32768-token context each did not fit in the memory free now \(4 contexts of 32768 tokens need [\d.]+ MB of RAM, 100\.0 MB is free\); 3 run at a time, each with the whole context\.$/,
      );
      expect(host.services.inference.status().queue.parallel).toBe(3);
    } finally {
      await host.services.close();
    }
  });
});

describe('speculative decoding (per model: prompt lookup, or a draft model from the library)', () => {
  const prompt = 'Lily had a red ball. Lily had a red ball. Lily had a red ball. Lily had a red ball.';
  const generate = (host: HostServices, requestId: string) =>
    host.handlers['chat.generate']({ requestId, messages: [{ role: 'user', text: prompt }], sampling: { temperature: 0, maxTokens: 200 } });

  /** A reply on the model at `file` (loaded through the inference service, with the speculative decoding set for it). */
  const generateOn = (host: HostServices, file: string, requestId: string) =>
    host.inference.run(
      'ui',
      requestId,
      { path: file },
      { kind: 'generate', input: { messages: [{ role: 'user', text: 'hello' }], sampling: { temperature: 0, maxTokens: 40 } } },
    );

  async function hostWithModels() {
    const host = await inferenceHost();
    const folder = mkdtempSync(path.join(os.tmpdir(), 'freehold-spec-'));
    copyFileSync(testModelPath(), path.join(folder, 'stories260K.gguf'));
    copyFileSync(testModelPath(), path.join(folder, 'draft-stories.gguf'));
    // A copy of the scripted Qwen3 can draft for it (the same vocabulary).
    copyFileSync(await scriptedModel('qwen3', 'think'), path.join(folder, 'qwen3-a.gguf'));
    copyFileSync(await scriptedModel('qwen3', 'think'), path.join(folder, 'qwen3-b.gguf'));
    await host.services.handlers['models.import']({
      paths: ['stories260K.gguf', 'draft-stories.gguf', 'qwen3-a.gguf', 'qwen3-b.gguf'].map((f) => path.join(folder, f)),
      mode: 'reference',
    });
    const models = host.services.library.snapshot().models;
    const id = (name: string) => models.find((m) => m.files[0]!.includes(name))!.id;
    return { host, folder, target: id('stories260K'), draft: id('draft-stories'), qwenA: id('qwen3-a'), qwenB: id('qwen3-b') };
  }

  it('prompt lookup and a draft model give the same greedy text as without, and count predicted and accepted tokens', async () => {
    const plain = await inferenceHost();
    const { host, folder, target, qwenA, qwenB } = await hostWithModels();
    try {
      await plain.services.inference.load({ modelPath: testModelPath() });
      const without = await generate(plain.services, 'p1');
      expect(without.stats.predictedTokens).toBeUndefined();

      await host.services.settings.update({ inference: { speculative: { [target]: { mode: 'prompt-lookup' } } } });
      const lookupModel = await host.services.handlers['models.load']({ id: target });
      expect(lookupModel.speculative).toBe('prompt-lookup');
      const lookup = await generate(host.services, 'l1');
      expect(lookup.text).toBe(without.text);
      expect(lookup.stats.predictedTokens).toBeGreaterThan(0);
      expect(lookup.stats.acceptedPredictions).toBeGreaterThanOrEqual(0);

      // A draft model of the same vocabulary.
      await host.services.handlers['settings.update']({ inference: { speculative: { [qwenA]: { mode: 'draft', draftModelId: qwenB } } } });
      const qwenFile = host.services.library.get(qwenA)!.files[0]!;
      const reference = await generateOn(plain.services, qwenFile, 'q0');
      const drafted = await generateOn(host.services, qwenFile, 'd1');
      expect(host.services.inference.status().model).toMatchObject({ speculative: 'draft', draftModel: 'qwen3-b' });
      expect(drafted.text).toBe(reference.text);
      expect(drafted.reasoning).toBe(reference.reasoning);
      // The draft runs beside the model without holding it up: on one CPU thread it seldom gets ahead, so the
      // counts are reported (0 or more), and the text is the model's own.
      expect(drafted.stats.predictedTokens).toBeGreaterThanOrEqual(0);
      expect(drafted.stats.acceptedPredictions).toBeLessThanOrEqual(drafted.stats.predictedTokens!);
    } finally {
      await plain.services.close();
      await host.services.close();
      rmSync(folder, { recursive: true, force: true });
    }
  }, 120_000);

  it('a draft model with another vocabulary is refused with the reason; the model runs without it', async () => {
    const { host, folder, target, qwenA: foreign } = await hostWithModels();
    try {
      await host.services.settings.update({ inference: { speculative: { [target]: { mode: 'draft', draftModelId: foreign } } } });
      const loaded = await host.services.handlers['models.load']({ id: target });
      expect(loaded.speculative).toBeUndefined();
      expect(loaded.speculativeNote).toMatch(
        /^qwen3-a cannot draft for this model: their tokenizers differ \(spm and bpe\)\. It runs without a draft model\.$/,
      );
      expect((await generate(host.services, 'x')).text.length).toBeGreaterThan(0);
    } finally {
      await host.services.close();
      rmSync(folder, { recursive: true, force: true });
    }
  }, 60_000);
});
