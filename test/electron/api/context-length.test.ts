/**
 * Prompts longer than the loaded context, through the local API (real server,
 * real worker, stories260K with its 2,048-token context): refused with 400
 * context_length_exceeded and the numbers, never answered from a prompt the
 * model did not read; a long history is shifted (oldest messages left out).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateResult } from '../../../shared/inference';
import { apiHostWithModel, recordResults, type ApiHost } from '../../helpers/inference-host';

let host: ApiHost | undefined;
let baseUrl: string;
let key: string;
const finished: GenerateResult[] = [];
const CONTEXT = 2048;

beforeAll(async () => {
  host = await apiHostWithModel('ctx', { engine: recordResults(finished) });
  ({ baseUrl, key } = host);
});

afterAll(async () => {
  await host?.close();
});

async function post(endpoint: string, body: Record<string, unknown>) {
  const response = await fetch(`${baseUrl}${endpoint}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'stories260k', temperature: 0, ...body }),
  });
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text };
}

/** The OpenAI error of a prompt too long, with its numbers read back from the message. */
function expectContextError(answer: { status: number; text: string }, param: 'messages' | 'prompt') {
  expect(answer.status, answer.text.slice(0, 300)).toBe(400);
  const { error } = JSON.parse(answer.text) as { error: { message: string; type: string; param: string; code: string } };
  expect(error).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param });
  expect(error.message).toMatch(new RegExp(`maximum context length is ${CONTEXT} tokens`));
  const tokens = Number(/resulted in (\d+) tokens|your prompt is (\d+) tokens/.exec(error.message)?.slice(1).find(Boolean));
  expect(tokens).toBeGreaterThan(0);
  expect(error.message).not.toMatch(/No tokens to evaluate|compress/);
  return { message: error.message, tokens };
}

describe('prompts longer than the context (API, real worker, stories260K)', () => {
  it('refuses a single message longer than the context with 400 context_length_exceeded and the numbers, streaming or not', async () => {
    for (const content of ['Lily went to the park '.repeat(2000), 'Tom ate an apple. '.repeat(3000)]) {
      finished.length = 0;
      const plain = expectContextError(await post('/chat/completions', { messages: [{ role: 'user', content }] }), 'messages');
      expect(plain.tokens).toBeGreaterThan(CONTEXT);
      // Each repetition is at least 9 tokens long in this tokenizer: the whole message was counted.
      expect(plain.tokens).toBeGreaterThan(content.split(' ').length);
      const streamed = await post('/chat/completions', { messages: [{ role: 'user', content }], stream: true });
      expect(streamed.contentType).toMatch(/application\/json/);
      expect(expectContextError(streamed, 'messages').tokens).toBe(plain.tokens);
      // Nothing was generated from a prompt the model did not read.
      expect(finished).toEqual([]);
    }
  });

  it('shifts a history of 10,000 short messages: the oldest are left out, the last one is read and answered', async () => {
    const messages = [
      { role: 'system', content: 'You tell stories.' },
      ...Array.from({ length: 9_998 }, (_, i) => ({
        role: i % 2 ? 'assistant' : 'user',
        content: i % 2 ? 'Yes.' : `Tell me about day ${i}.`,
      })),
      { role: 'user', content: 'Once upon a time there was a dog' },
    ];
    finished.length = 0;
    const answer = await post('/chat/completions', { messages, max_tokens: 30 });
    expect(answer.status, answer.text.slice(0, 300)).toBe(200);
    const completion = JSON.parse(answer.text) as {
      choices: Array<{ message: { content: string } }>;
      usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };
    };
    expect(completion.usage.prompt_tokens).toBeGreaterThan(CONTEXT / 2);
    expect(completion.usage.prompt_tokens).toBeLessThanOrEqual(CONTEXT);
    expect(completion.choices[0]!.message.content.length).toBeGreaterThan(10);
    const dropped = finished[0]!.stats.droppedMessages!;
    expect(dropped).toBeGreaterThan(9_000);
    expect(dropped).toBeLessThan(9_998);
    // droppedMessages is exact: the kept messages alone (with the system prompt) give the same prompt and reply.
    const kept = [messages[0]!, ...messages.slice(1 + dropped)];
    expect(kept[1]!.role).toBe('user');
    const again = await post('/chat/completions', { messages: kept, max_tokens: 30 });
    const keptCompletion = JSON.parse(again.text) as typeof completion;
    expect(keptCompletion.usage.prompt_tokens).toBe(completion.usage.prompt_tokens);
    // The same prompt again is reused from the cache, not read again.
    expect(completion.usage.prompt_tokens_details.cached_tokens).toBeLessThan(completion.usage.prompt_tokens / 2);
    expect(keptCompletion.usage.prompt_tokens_details.cached_tokens).toBeGreaterThanOrEqual(completion.usage.prompt_tokens - 1);
    expect(keptCompletion.choices[0]!.message.content).toBe(completion.choices[0]!.message.content);
    expect(finished[1]!.stats.droppedMessages).toBe(0);
  });

  it('refuses a long last message after a history (it cannot be left out), with the numbers of both', async () => {
    const messages = [
      { role: 'user', content: 'Hello there.' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Lily went to the park '.repeat(400) },
    ];
    const { message, tokens } = expectContextError(await post('/chat/completions', { messages }), 'messages');
    expect(message).toMatch(/the last message/);
    expect(tokens).toBeGreaterThan(3200);
  });

  it('refuses a /v1/completions prompt longer than the context with 400 and the numbers, never truncating it', async () => {
    finished.length = 0;
    const prompt = 'Lily went to the park '.repeat(2000);
    const { tokens } = expectContextError(await post('/completions', { prompt, max_tokens: 16 }), 'prompt');
    expect(tokens).toBeGreaterThan(16_000);
    // A prompt that fits only without room for max_tokens is refused too; one that fits with it is answered.
    const near = 'Lily went to the park '.repeat(250); // 2,003 tokens with BOS
    expect(expectContextError(await post('/completions', { prompt: near, max_tokens: 40 }), 'prompt').tokens).toBe(2003);
    const fits = await post('/completions', { prompt: 'Lily went to the park '.repeat(200), max_tokens: 16 });
    expect(fits.status, fits.text.slice(0, 300)).toBe(200);
    const usage = (JSON.parse(fits.text) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    expect(usage.prompt_tokens).toBe(1603);
    expect(usage.prompt_tokens).toBeLessThanOrEqual(CONTEXT);
    expect(finished).toHaveLength(1);
  });
});
