/**
 * Tools in chat, end to end: a real worker running the scripted Qwen3 model
 * (genuine tokenizer and chat template; it calls get_weather when tools are
 * offered and answers once the result is in its context) and a real MCP
 * server over stdio (test/fixtures/mcp/stdio-server.mjs). Approval once,
 * always and deny; Stop while a call waits; a crashed, hanging, failing and
 * oversized tool returned to the model as an error or a cut result; calls
 * stored with the reply and carried through export and import. Thinking on
 * and off with the scripted Qwen3 and DeepSeek-R1 models.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import type { ChatMessageRecord } from '../../../shared/chat';
import type { McpServerConfig } from '../../../shared/tools';
import { inferenceHost } from '../../helpers/inference-host';
import { SCRIPT, scriptedModel } from '../../helpers/scripted-models';
import { until } from '../../helpers/until';

const FIXTURE = path.resolve('test/fixtures/mcp/stdio-server.mjs');

let services: HostServices;
let dataDir: string;
const models: Record<string, string> = {};

const weather = (env: Record<string, string> = {}): McpServerConfig => ({
  transport: 'stdio',
  command: process.execPath,
  args: [FIXTURE],
  env,
  cwd: null,
});

async function serverRunning(name: string, config: McpServerConfig, alwaysAllow = false) {
  await services.handlers['tools.add']({ name, config });
  await until(`${name} running`, () => services.mcp.snapshot().servers.find((s) => s.name === name && s.state === 'running'));
  await services.handlers['tools.setTool']({ server: name, tool: 'get_weather', alwaysAllow });
}

async function newChat(model: string, settings: Record<string, unknown> = {}) {
  return services.handlers['chats.create']({ modelId: models[model]!, settings: { temperature: 0, maxTokens: 120, ...settings } });
}

/** The reply as stored, once it has a call in the given status. */
function callIn(replyOf: () => ChatMessageRecord | undefined, status: string) {
  return until(`a tool call ${status}`, () => {
    const reply = replyOf();
    return reply?.toolCalls?.find((c) => c.status === status) ? reply : undefined;
  });
}

function lastReply(conversationId: string): ChatMessageRecord | undefined {
  const { messages } = services.chats.get(conversationId);
  return messages.filter((m) => m.role === 'assistant').at(-1);
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'freehold-chat-tools-'));
  // 8 s: long enough for the 10 MB answer to cross stdio (the SDK's reader copies its buffer per chunk) on a busy 2-core machine.
  ({ services } = await inferenceHost({ dataDir, watchFolders: false, host: 'web', tools: { callTimeoutMs: 8000 } }));
  const files = await Promise.all([scriptedModel('qwen3', 'tool'), scriptedModel('qwen3', 'think'), scriptedModel('deepseek-r1', 'think')]);
  const imported = await services.handlers['models.import']({ paths: files, mode: 'reference' });
  expect(imported.every((r) => r.ok)).toBe(true);
  const list = services.library.snapshot().models;
  for (const [key, file] of [
    ['tool', files[0]],
    ['think', files[1]],
    ['deepseek', files[2]],
  ] as const)
    models[key] = list.find((m) => m.files[0] === file)!.id;
}, 180_000);

afterAll(async () => {
  await services?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('tools in chat (scripted Qwen3, real MCP server over stdio)', () => {
  it('asks before a call, shows the full arguments, runs it once allowed, and the model answers from the result', async () => {
    await serverRunning('weather', weather());
    const chat = await newChat('tool');
    const sending = services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'What is the weather in Paris?' });
    const waiting = await callIn(() => lastReply(chat.id), 'pending');
    const call = waiting.toolCalls![0]!;
    expect(call).toMatchObject({ server: 'weather', tool: 'get_weather', status: 'pending', result: null, textOffset: 0 });
    expect(JSON.parse(call.arguments)).toEqual({ city: 'Paris' });
    expect(waiting.status).toBe('streaming');
    // Nothing ran yet: no result, and a decision on an unknown call is refused.
    await expect(
      (async () =>
        services.handlers['chats.toolDecision']({
          conversationId: chat.id,
          messageId: waiting.id,
          callId: 'call_nope',
          decision: 'once',
        }))(),
    ).rejects.toThrow(/not waiting/);
    await services.handlers['chats.toolDecision']({ conversationId: chat.id, messageId: waiting.id, callId: call.id, decision: 'once' });
    const { reply } = await sending;
    expect(reply.status).toBe('complete');
    expect(reply.content).toBe(SCRIPT.tool.answer);
    expect(reply.toolCalls).toHaveLength(1);
    expect(reply.toolCalls![0]).toMatchObject({ status: 'done', result: 'Sunny, 21 °C in Paris', truncated: false });
    expect(reply.toolCalls![0]!.startedAt).not.toBeNull();
    expect(reply.content).not.toMatch(/tool_call|get_weather|\{/);
    // "Once" did not make it permanent.
    expect(services.mcp.isAlwaysAllowed('weather', 'get_weather')).toBe(false);

    // The next turn sees the earlier call and its result in the history.
    const again = services.handlers['chats.send']({ conversationId: chat.id, parentId: reply.id, text: 'And tomorrow?' });
    const next = await until('the second turn ends or asks', () => {
      const r = lastReply(chat.id);
      return r && r.id !== reply.id && (r.status !== 'streaming' || r.toolCalls?.length) ? r : undefined;
    });
    // With a tool result already in its context, the scripted model answers without calling again.
    expect(next.toolCalls ?? []).toEqual([]);
    expect((await again).reply.content).toBe(SCRIPT.tool.answer);
  });

  it('deny returns the denial to the model, which still answers; nothing runs', async () => {
    await serverRunning('weather', weather({ WEATHER_MODE: 'crash' }));
    const chat = await newChat('tool');
    const sending = services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'Weather in Paris?' });
    const waiting = await callIn(() => lastReply(chat.id), 'pending');
    await services.handlers['chats.toolDecision']({
      conversationId: chat.id,
      messageId: waiting.id,
      callId: waiting.toolCalls![0]!.id,
      decision: 'deny',
    });
    const { reply } = await sending;
    expect(reply.toolCalls![0]).toMatchObject({ status: 'denied', result: 'The user denied this tool call.', startedAt: null });
    expect(reply.content).toBe(SCRIPT.tool.answer);
    // The server (which crashes on a call) was never called: still running.
    expect(services.mcp.snapshot().servers.find((s) => s.name === 'weather')!.state).toBe('running');
  });

  it('arguments that do not match the tool’s schema (a pattern the grammar does not hold) are not run nor asked about: the model is told why and answers', async () => {
    // get_weather's city must be lowercase letters here; the scripted model writes "Paris".
    await serverRunning('weather', weather({ WEATHER_MODE: 'lowercase' }));
    const tool = services.mcp
      .snapshot()
      .servers.find((s) => s.name === 'weather')!
      .tools.find((t) => t.name === 'get_weather')!;
    expect(tool).toMatchObject({ unusable: null, checkedAfter: ['pattern (at city)'] });
    const chat = await newChat('tool');
    const { reply } = await services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'Weather in Paris?' });
    expect(reply.toolCalls).toHaveLength(1);
    const call = reply.toolCalls![0]!;
    expect(JSON.parse(call.arguments)).toEqual({ city: 'Paris' });
    expect(call).toMatchObject({ status: 'invalid', startedAt: null });
    expect(call.result).toBe(
      'The arguments do not match the input schema of get_weather, so it was not run: city must match pattern "^[a-z]+$". Call it again with arguments that match.',
    );
    // The result went back to the model (the scripted model answers once a tool response is in its context).
    expect(reply.status).toBe('complete');
    expect(reply.content).toBe(SCRIPT.tool.answer);
  });

  it('"always allow" is remembered: the next call runs without asking', async () => {
    await serverRunning('weather', weather());
    const first = await newChat('tool');
    const sending = services.handlers['chats.send']({ conversationId: first.id, parentId: null, text: 'Weather in Paris?' });
    const waiting = await callIn(() => lastReply(first.id), 'pending');
    await services.handlers['chats.toolDecision']({
      conversationId: first.id,
      messageId: waiting.id,
      callId: waiting.toolCalls![0]!.id,
      decision: 'always',
    });
    expect((await sending).reply.toolCalls![0]!.status).toBe('done');
    expect(services.mcp.isAlwaysAllowed('weather', 'get_weather')).toBe(true);
    expect(
      services.mcp
        .snapshot()
        .servers.find((s) => s.name === 'weather')!
        .tools.find((t) => t.name === 'get_weather')!.alwaysAllow,
    ).toBe(true);
    const second = await newChat('tool');
    const { reply } = await services.handlers['chats.send']({ conversationId: second.id, parentId: null, text: 'Weather in Paris?' });
    expect(reply.toolCalls![0]).toMatchObject({ status: 'done', result: 'Sunny, 21 °C in Paris' });
    expect(reply.content).toBe(SCRIPT.tool.answer);
  });

  it('Stop while a call waits for approval ends the reply; the call is marked as not run', async () => {
    await serverRunning('weather', weather());
    const chat = await newChat('tool');
    const sending = services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'Weather in Paris?' });
    await callIn(() => lastReply(chat.id), 'pending');
    expect(await services.handlers['chats.stop']({ id: chat.id })).toEqual({ stopped: true });
    const { reply } = await sending;
    expect(reply.status).toBe('complete');
    expect(reply.stats?.stopReason).toBe('abort');
    expect(reply.toolCalls![0]).toMatchObject({ status: 'error', result: 'The reply was stopped before this call ran.' });
  });

  it('a tool that fails, crashes or hangs: the error goes back to the model as the result, and the model answers', async () => {
    const cases: Array<[string, RegExp]> = [
      ['fail', /no weather station in Paris/],
      ['crash', /stopped while running get_weather[\s\S]*(code 3|weather station exploded)/],
      ['hang', /did not answer within 8 s/],
    ];
    for (const [mode, expected] of cases) {
      await serverRunning('weather', weather({ WEATHER_MODE: mode }), true);
      const chat = await newChat('tool');
      const { reply } = await services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'Weather in Paris?' });
      const call = reply.toolCalls![0]!;
      expect(call.status, mode).toBe('error');
      expect(call.result, mode).toMatch(expected);
      expect(reply.status, mode).toBe('complete');
      expect(reply.content, mode).toBe(SCRIPT.tool.answer);
    }
    expect(services.mcp.snapshot().servers.find((s) => s.name === 'weather')?.state).toBe('running');
  });

  it('a tool that answers 10 MB: the result is cut to the bound, and a context too small for even that says so', async () => {
    await serverRunning('weather', weather({ WEATHER_MODE: 'big' }), true);
    const chat = await newChat('tool');
    const { reply } = await services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'Weather in Paris?' });
    const call = reply.toolCalls![0]!;
    expect(call).toMatchObject({ status: 'done', truncated: true });
    expect(call.result!.length).toBeLessThan(33_000);
    expect(call.result).toMatch(/^Sunny\. Sunny\./);
    expect(call.result).toMatch(/cut/);
    // 32,000 characters are far more than this model's 4,096-token context holds.
    expect(reply.status).toBe('failed');
    expect(reply.error).toMatch(/The tool results do not fit in the model's context/);
    // The host is fine: the next reply works.
    await serverRunning('weather', weather(), true);
    const next = await newChat('tool');
    expect((await services.handlers['chats.send']({ conversationId: next.id, parentId: null, text: 'Weather?' })).reply.content).toBe(
      SCRIPT.tool.answer,
    );
  });

  it('stores calls with the reply: export (JSON and Markdown) and import keep them', async () => {
    await serverRunning('weather', weather(), true);
    const chat = await newChat('tool');
    await services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'Weather in Paris?' });
    const exported = await services.handlers['chats.export']({ id: chat.id, format: 'json' });
    const data = JSON.parse(exported.content) as { messages: Array<{ toolCalls?: unknown[] }> };
    const withCalls = data.messages.find((m) => m.toolCalls?.length);
    expect(withCalls?.toolCalls?.[0]).toMatchObject({
      tool: 'get_weather',
      server: 'weather',
      status: 'done',
      result: 'Sunny, 21 °C in Paris',
    });
    const markdown = await services.handlers['chats.export']({ id: chat.id, format: 'md' });
    expect(markdown.content).toContain('**Tool call** `get_weather` on weather (done)');
    expect(markdown.content).toContain('Sunny, 21 °C in Paris');
    const copy = await services.handlers['chats.import']({ data });
    const reply = services.chats.get(copy.id).messages.find((m) => m.role === 'assistant')!;
    expect(reply.toolCalls![0]).toMatchObject({ tool: 'get_weather', status: 'done', result: 'Sunny, 21 °C in Paris' });
    // An export with a call still waiting imports it as not run.
    const pending = structuredClone(data) as { messages: Array<{ toolCalls?: Array<Record<string, unknown>> }> };
    pending.messages.find((m) => m.toolCalls)!.toolCalls![0]!.status = 'pending';
    const imported = await services.handlers['chats.import']({ data: pending });
    expect(services.chats.get(imported.id).messages.find((m) => m.role === 'assistant')!.toolCalls![0]!.status).toBe('error');
  });

  it('a chat with tools switched off offers none: the model answers without calling', async () => {
    await serverRunning('weather', weather());
    const chat = await newChat('tool', { tools: false });
    const { reply } = await services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'Weather in Paris?' });
    expect(reply.toolCalls ?? []).toEqual([]);
    expect(reply.content).toBe(SCRIPT.tool.noFunctionsAnswer);
  });
});

describe('thinking control in chat (scripted Qwen3 and DeepSeek-R1 distill)', () => {
  for (const family of ['think', 'deepseek'] as const) {
    it(`${family}: thinks by default, in a separate reasoning segment; off gives the answer without a thought`, async () => {
      const on = await newChat(family);
      const thought = (await services.handlers['chats.send']({ conversationId: on.id, parentId: null, text: 'hello' })).reply;
      expect(thought.reasoning.trim()).toBe(SCRIPT.think.thought);
      expect(thought.content).toBe(SCRIPT.think.answer);
      expect(thought.stats?.reasoningMs).toBeGreaterThan(0);

      const off = await newChat(family, { thinking: { enabled: false } });
      const plain = (await services.handlers['chats.send']({ conversationId: off.id, parentId: null, text: 'hello' })).reply;
      expect(plain.reasoning.trim()).toBe('');
      expect(plain.content).not.toContain('<think>');
    });
  }

  it('a thought budget cuts the thought at that many tokens', async () => {
    const chat = await newChat('think', { thinking: { enabled: true, budget: 2 } });
    const { reply } = await services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'hello' });
    expect(reply.reasoning.length).toBeGreaterThan(0);
    expect(reply.reasoning.trim().length).toBeLessThan(SCRIPT.think.thought.length);
  });
});

describe('tool rounds are bounded', () => {
  it('a model that keeps calling is told to answer without tools after the last round', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-chat-rounds-'));
    const offered: Array<string | undefined> = [];
    const { services: host } = await inferenceHost({
      dataDir: dir,
      watchFolders: false,
      host: 'web',
      // The engine answers every round that offers tools with a call, as a model stuck in a loop would.
      engine: (engine) => {
        const generate = engine.generate.bind(engine);
        engine.generate = async (input) => {
          offered.push(typeof input.toolChoice === 'string' ? input.toolChoice : input.toolChoice?.name);
          const result = await generate(input);
          if (input.tools?.length && input.toolChoice !== 'none')
            return {
              ...result,
              text: '',
              toolCalls: [{ name: 'get_weather', arguments: '{"city":"Paris"}' }],
              stats: { ...result.stats, stopReason: 'tool-calls' },
            };
          return result;
        };
        return engine;
      },
    });
    try {
      const file = await scriptedModel('qwen3', 'tool');
      await host.handlers['models.import']({ paths: [file], mode: 'reference' });
      const modelId = host.library.snapshot().models[0]!.id;
      await host.handlers['tools.add']({ name: 'weather', config: weather() });
      await until('weather running', () => host.mcp.snapshot().servers.find((s) => s.state === 'running'));
      await host.handlers['tools.setTool']({ server: 'weather', tool: 'get_weather', alwaysAllow: true });
      const chat = await host.handlers['chats.create']({ modelId, settings: { temperature: 0, maxTokens: 60 } });
      const { reply } = await host.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'Weather?' });
      expect(reply.toolCalls).toHaveLength(8);
      expect(reply.toolCalls!.every((c) => c.status === 'done')).toBe(true);
      expect(offered).toEqual([...Array<string>(8).fill('auto'), 'none']);
      expect(reply.status).toBe('complete');
      // (The stand-in engine drops each looping round's words from its result, not from the stream.)
      expect(reply.content.endsWith(SCRIPT.tool.answer)).toBe(true);
    } finally {
      await host.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
