/**
 * llama.cpp's llama-server as a second engine, its first part: a real server
 * (built from node-llama-cpp's bundled source, cached) on stories260K, one
 * thread. Replies stream into the worker's deltas and stats, stop per request,
 * and a server killed mid-reply fails the reply with llama.cpp's reason while
 * the next load works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatDelta, GenerateInput } from '../../../shared/inference';
import { ServerEngine } from '../../../electron/engines/server-engine';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { GET_WEATHER, SCRIPT, scriptedModel } from '../../helpers/scripted-models';
import { testModelPath } from '../../helpers/test-model';

let engine: ServerEngine;
const logs: string[] = [];

beforeAll(async () => {
  const { llamaServer } = await ensureTestEngines();
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
