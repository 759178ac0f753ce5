/**
 * Parallel replies cost one chat nothing: on a memory budget where a model
 * loaded for one reply at a time gets a context of C tokens, the same model
 * loaded for 4 replies at once still gives one chat C tokens — on
 * node-llama-cpp's worker (each sequence a whole context: fewer run at once)
 * and on llama.cpp's server (one unified KV cache shared by the slots, each
 * up to C). stories260K with its trained context raised to 131,072 tokens, so
 * that memory, not the model, bounds the context.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcError } from '../../../shared/errors';
import { ServerEngine } from '../../../electron/engines/server-engine';
import { setUint32, writeEditedGguf } from '../../helpers/gguf-edit';
import { inferenceHost } from '../../helpers/inference-host';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { testModelPath } from '../../helpers/test-model';

const MiB = 1024 * 1024;
let dir: string;
let longModel: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'freehold-parallel-context-'));
  longModel = path.join(dir, 'stories-long.gguf');
  writeEditedGguf(testModelPath(), longModel, (gguf) => setUint32(gguf, 'llama.context_length', 131072));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A prompt of about `tokens` tokens for stories260K. */
const longPrompt = (tokens: number) => 'Once upon a time '.repeat(Math.ceil(tokens / 4));

describe("node-llama-cpp's worker", () => {
  async function loadWith(parallel: number) {
    // 40 MiB of RAM for the model: its whole trained context (80 MiB of KV cache) does not fit.
    const host = await inferenceHost({ env: { FREEHOLD_WORKER_RAM_CAP_BYTES: String(40 * MiB) } });
    try {
      await host.services.settings.update({ inference: { parallel } });
      return await host.services.inference.load({ modelPath: longModel });
    } finally {
      await host.services.close();
    }
  }

  it('one chat gets the same context with 4 replies at once as with one; fewer run at once, and it says so', async () => {
    const alone = await loadWith(1);
    expect(alone.contextSize).toBeLessThan(131072);
    expect(alone.contextSize).toBeGreaterThan(2048);
    const four = await loadWith(4);
    expect(four.contextSize).toBe(alone.contextSize);
    expect(four.parallel).toBeLessThan(4);
    expect(four.parallelNote).toMatch(
      new RegExp(
        `^4 replies at once with a ${alone.contextSize}-token context each did not fit in the memory free now .*; (one runs|\\d run) at a time, each with the whole context\\.$`,
      ),
    );
  }, 120_000);
});

describe("llama.cpp's server", () => {
  let llamaServer: string;
  beforeAll(async () => {
    ({ llamaServer } = await ensureTestEngines());
  }, 30 * 60_000);

  // Free RAM as the engine is told: its 300 MiB reserve, and room for one 16,384-token context and a part of another.
  const engineWith = () =>
    new ServerEngine({
      binary: async () => llamaServer,
      threads: () => 1,
      log: () => undefined,
      freeMemory: () => ({ ramFreeBytes: 300 * MiB + 70 * MiB, vramFreeBytes: 0 }),
    });

  it('one chat gets the whole context with 4 slots: they share a unified cache of what fits', async () => {
    const single = engineWith();
    const alone = await single.load({ modelPath: longModel, contextSize: 16384, parallel: 1 });
    await single.unload();
    const engine = engineWith();
    try {
      const four = await engine.load({ modelPath: longModel, contextSize: 16384, parallel: 4 });
      expect(four.contextSize).toBe(alone.contextSize);
      expect(four.parallel).toBe(4);
      const pool = four.placement!.plan.contextPool;
      expect(pool).toBeGreaterThan(16384);
      expect(pool).toBeLessThan(4 * 16384);
      // One chat of 15,000 tokens, more than a quarter (or a half) of the pool would hold: answered.
      const reply = await engine.generate(
        { requestId: 'long', messages: [{ role: 'user', text: longPrompt(15000) }], sampling: { temperature: 0, maxTokens: 8 } },
        () => undefined,
      );
      expect(reply.stats.promptTokens).toBeGreaterThan(pool / 4);
      expect(reply.stats.promptTokens).toBeLessThan(16384);
      expect(reply.text.length).toBeGreaterThan(0);
      // More than one context holds is still refused with the numbers, as before.
      const tooLong = await engine
        .generate(
          { requestId: 'too-long', messages: [{ role: 'user', text: longPrompt(18000) }], sampling: { maxTokens: 8 } },
          () => undefined,
        )
        .catch((error: unknown) => error as RpcError);
      expect(tooLong).toBeInstanceOf(RpcError);
      expect((tooLong as RpcError).code).toBe('context_length_exceeded');
    } finally {
      await engine.unload();
    }
  }, 300_000);
});
