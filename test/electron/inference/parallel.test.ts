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
      expect(loaded.parallel).toBe(2);
      expect(loaded.parallelNote).toMatch(
        /^4 replies at once did not fit in the memory free now \(4 contexts of 32768 tokens need [\d.]+ MB of RAM, 100\.0 MB is free\); 2 run at a time\.$/,
      );
      expect(host.services.inference.status().queue.parallel).toBe(2);
    } finally {
      await host.services.close();
    }
  });
});

describe('speculative decoding by prompt lookup', () => {
  it('gives the same greedy text as without it, and counts the predicted tokens', async () => {
    const prompt = 'Lily had a red ball. Lily had a red ball. Lily had a red ball. Lily had a red ball.';
    const generate = (host: HostServices, requestId: string) =>
      host.handlers['chat.generate']({
        requestId,
        messages: [{ role: 'user', text: prompt }],
        sampling: { temperature: 0, maxTokens: 200 },
      });
    const plain = await inferenceHost();
    const lookup = await inferenceHost();
    try {
      await lookup.services.settings.update({ inference: { promptLookup: true } });
      await plain.services.inference.load({ modelPath: testModelPath() });
      const loaded = await lookup.services.inference.load({ modelPath: testModelPath() });
      expect(loaded.speculative).toBe('prompt-lookup');
      const without = await generate(plain.services, 'p1');
      const withLookup = await generate(lookup.services, 'l1');
      expect(withLookup.text).toBe(without.text);
      expect(withLookup.stats.predictedTokens).toBeGreaterThan(0);
      expect(withLookup.stats.acceptedPredictions).toBeGreaterThanOrEqual(0);
      expect(without.stats.predictedTokens).toBeUndefined();
    } finally {
      await plain.services.close();
      await lookup.services.close();
    }
  });
});
