/**
 * Property-style: random long histories (seeded), sent to the local API and to
 * the chat service alike, on stories260K with a 256-token context. Every
 * answer is either a real reply to a prompt that holds the last user message
 * (prompt tokens within the context; the messages it says it left out, left
 * out exactly) or a refusal with the numbers; never a 500, never a reply to a
 * prompt the model did not read. The API and the chat view decide alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import type { ExportedConversation } from '../../../shared/chat';
import type { GenerateResult } from '../../../shared/inference';
import { inferenceHost, recordResults } from '../../helpers/inference-host';
import { prng } from '../../helpers/prng';
import { testModelPath } from '../../helpers/test-model';

const CONTEXT = 256;
const CASES = 25;
const SEED = 1_337;

let services: HostServices;
let logs: string[];
let baseUrl: string;
let key: string;
let modelId: string;
const finished: GenerateResult[] = [];

const words = ['Lily', 'went', 'to', 'the', 'park', 'Tom', 'ate', 'an', 'apple', 'dog', 'sun', 'happy', 'ball', 'tree', 'said', 'big'];

interface Case {
  system: string;
  /** Alternating user and assistant, ending with the user. */
  history: Array<{ role: 'user' | 'assistant'; content: string }>;
  maxTokens: number;
}

function makeCase(random: () => number): Case {
  const sentence = (length: number) => Array.from({ length }, () => words[Math.floor(random() * words.length)]).join(' ') + '.';
  const length = 2 * Math.floor(random() ** 2 * 60) + 1;
  const history = Array.from({ length }, (_, i) => ({
    role: i % 2 === 0 ? ('user' as const) : ('assistant' as const),
    // Mostly short messages; now and then one longer than the whole context.
    content: sentence(random() < 0.12 ? 40 + Math.floor(random() * 300) : 1 + Math.floor(random() * 20)),
  }));
  return { system: random() < 0.6 ? sentence(1 + Math.floor(random() * 12)) : '', history, maxTokens: 4 + Math.floor(random() * 28) };
}

beforeAll(async () => {
  ({ services, logs } = await inferenceHost({ api: { enabled: true, port: 0 }, engine: recordResults(finished, ['generate']) }));
  ({ url: baseUrl, key } = services.api.status() as { url: string; key: string });
  const [imported] = await services.handlers['models.import']({ paths: [testModelPath()], mode: 'reference' });
  modelId = imported!.model!.id;
  // The API uses the model as loaded; the conversations ask for the same context, so nothing reloads.
  await services.handlers['models.load']({ id: modelId, contextSize: CONTEXT });
  expect(services.inference.status().model?.contextSize).toBe(CONTEXT);
});

afterAll(async () => {
  await services?.close();
});

async function chatCompletion(messages: Array<{ role: string; content: string }>, maxTokens: number) {
  finished.length = 0;
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'stories260k', messages, max_tokens: maxTokens, temperature: 0 }),
  });
  const body = (await response.json()) as {
    choices?: Array<{ message: { content: string } }>;
    usage?: { prompt_tokens: number; completion_tokens: number };
    error?: { message: string; type: string; param: string | null; code: string | null };
  };
  return { status: response.status, body, result: finished.at(-1) };
}

/** The same history as a stored conversation, and the last user message sent in the chat view. */
async function chatView(c: Case) {
  const earlier = c.history.slice(0, -1);
  const at = new Date().toISOString();
  const exported: ExportedConversation = {
    format: 'freehold-conversation',
    version: 1,
    conversation: {
      title: 'Long history',
      systemPrompt: c.system,
      settings: { temperature: 0, maxTokens: c.maxTokens, contextSize: CONTEXT },
      modelId,
      pinned: false,
      createdAt: at,
      activeLeafId: earlier.length ? `m${earlier.length - 1}` : null,
    },
    // Newest first: the import inserts parents before children in one pass.
    messages: earlier
      .map((m, i) => ({
        id: `m${i}`,
        parentId: i ? `m${i - 1}` : null,
        role: m.role,
        content: m.content,
        reasoning: '',
        status: 'complete' as const,
        error: null,
        createdAt: at,
      }))
      .reverse(),
  };
  const conversation = await services.handlers['chats.import']({ data: exported });
  const leaf = (await services.handlers['chats.get']({ id: conversation.id })).thread.at(-1) ?? null;
  const { reply } = await services.handlers['chats.send']({
    conversationId: conversation.id,
    parentId: leaf,
    text: c.history.at(-1)!.content,
  });
  return reply;
}

describe('random long histories (API and chat service, real worker, stories260K at 256 tokens)', () => {
  it(
    `answers each of ${CASES} seeded cases with a reply to what it read, or a refusal with the numbers`,
    { timeout: 600_000 },
    async () => {
      const random = prng(SEED);
      const outcomes = { answered: 0, shifted: 0, refused: 0 };
      for (let n = 0; n < CASES; n += 1) {
        const c = makeCase(random);
        const label = `case ${n} (seed ${SEED}): ${c.history.length} messages, max_tokens ${c.maxTokens}`;
        const messages = [...(c.system ? [{ role: 'system', content: c.system }] : []), ...c.history];
        const api = await chatCompletion(messages, c.maxTokens);
        const reply = await chatView(c);
        expect([200, 400], `${label}: ${JSON.stringify(api.body).slice(0, 300)}`).toContain(api.status);
        const room = Math.min(c.maxTokens, Math.floor(CONTEXT / 10));

        if (api.status === 400) {
          outcomes.refused += 1;
          const error = api.body.error!;
          expect(error, label).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
          const numbers =
            /maximum context length is (\d+) tokens\. However, your messages resulted in (\d+) tokens(?:, and the last message with the system prompt alone is (\d+))?.*at most (\d+) fit with room for a reply \((\d+) tokens\)/.exec(
              error.message,
            );
          expect(numbers, `${label}: ${error.message}`).not.toBeNull();
          const [contextSize, promptTokens, alone, maxPrompt, replyTokens] = numbers!
            .slice(1)
            .map((v) => (v === undefined ? undefined : Number(v)));
          const required = alone ?? promptTokens!;
          expect(contextSize, label).toBe(CONTEXT);
          expect(replyTokens, label).toBe(room);
          expect(maxPrompt, label).toBe(CONTEXT - room - 8);
          expect(required, label).toBeGreaterThan(maxPrompt!);
          expect(promptTokens, label).toBeGreaterThanOrEqual(required);
          // Each word is at least one token: the last message was counted whole.
          expect(required, label).toBeGreaterThan(c.history.at(-1)!.content.split(' ').length);
          // The chat view refuses it too, with the same numbers.
          expect(reply.status, label).toBe('failed');
          expect(reply.failure, label).toMatchObject({
            code: 'context_length_exceeded',
            requiredTokens: required,
            promptTokens,
            maxPromptTokens: maxPrompt,
            contextSize: CONTEXT,
          });
          expect(reply.error, label).toContain(`${required.toLocaleString('en-US')} tokens`);
          continue;
        }

        outcomes.answered += 1;
        const usage = api.body.usage!;
        const result = api.result!;
        expect(usage.prompt_tokens, label).toBeGreaterThan(0);
        expect(usage.prompt_tokens, label).toBeLessThanOrEqual(CONTEXT - room - 8);
        expect(usage.completion_tokens, label).toBeLessThanOrEqual(c.maxTokens);
        expect(result.stats.promptTokens, label).toBe(usage.prompt_tokens);
        // What was left out is older messages only: the last user message was read.
        const dropped = result.stats.droppedMessages ?? 0;
        expect(dropped, label).toBeLessThan(c.history.length);
        if (dropped > 0) {
          outcomes.shifted += 1;
          expect(c.history[dropped]!.role, label).toBe('user');
          // Exactly those: the kept messages alone make the same prompt and the same reply.
          const kept = [...(c.system ? [{ role: 'system', content: c.system }] : []), ...c.history.slice(dropped)];
          const again = await chatCompletion(kept, c.maxTokens);
          expect(again.status, label).toBe(200);
          expect(again.result!.stats.droppedMessages, label).toBe(0);
          expect(again.body.usage!.prompt_tokens, label).toBe(usage.prompt_tokens);
          expect(again.body.choices![0]!.message.content, label).toBe(api.body.choices![0]!.message.content);
        }
        // The chat view read the same prompt, left out the same messages and said the same.
        expect(reply.status, `${label}: ${reply.error}`).toBe('complete');
        expect(reply.stats, label).toMatchObject({ promptTokens: usage.prompt_tokens, droppedMessages: dropped, contextSize: CONTEXT });
        expect(reply.content, label).toBe(api.body.choices![0]!.message.content);
      }
      // The seed gives all three kinds of case.
      expect(outcomes.refused).toBeGreaterThan(0);
      expect(outcomes.shifted).toBeGreaterThan(0);
      expect(outcomes.answered - outcomes.shifted).toBeGreaterThan(0);
    },
  );

  it('shifts while a long reply is written: older messages go, whole, and the last one stays', async () => {
    const messages = [
      { role: 'system', content: 'You tell stories.' },
      ...Array.from({ length: 10 }, (_, i) => ({
        role: i % 2 ? 'assistant' : 'user',
        content: i % 2 ? 'Lily saw a dog.' : `Tell me about day ${i}.`,
      })),
      { role: 'user', content: 'Once upon a time' },
    ];
    const api = await chatCompletion(messages, 200);
    expect(api.status, JSON.stringify(api.body).slice(0, 300)).toBe(200);
    const { promptTokens, generatedTokens, droppedMessages } = api.result!.stats;
    expect(promptTokens).toBeGreaterThan(100);
    // Nothing was left out before the reply began; the reply filled the context and older messages went.
    expect(promptTokens + generatedTokens).toBeGreaterThan(CONTEXT);
    expect(droppedMessages).toBeGreaterThan(0);
    expect(droppedMessages).toBeLessThanOrEqual(10);
    expect(droppedMessages! % 2).toBe(0); // a user message and its reply at a time
    // By this rule, never by node-llama-cpp's fallback, which would cut into the last message.
    expect(logs.filter((line) => /context shift strategy|compress/i.test(line))).toEqual([]);
  });
});
