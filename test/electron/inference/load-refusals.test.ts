import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostServices } from '../../../electron/services/host-services';
import { refusalReason } from '../../../electron/worker/llama-log';
import { setString, setUint32, tensor, writeEditedGguf } from '../../helpers/gguf-edit';
import { inferenceHost } from '../../helpers/inference-host';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

const model = testModelPath();

describe('llama.cpp refusal reasons', () => {
  it('takes the reason from llama.cpp log lines, without C function names', () => {
    // As logged by the llama.cpp in node-llama-cpp 3.22: a dry run, then the load itself.
    expect(
      refusalReason([
        "llama_model_load: error loading model: missing tensor 'blk.5.attn_norm.weight'",
        'llama_model_load_from_file_impl: failed to load model',
        "llama_model_load: error loading model: check_tensor_dims: tensor 'blk.5.attn_norm.weight' not found",
        'llama_model_load_from_file_impl: failed to load model',
      ]),
    ).toBe("tensor 'blk.5.attn_norm.weight' not found");
    expect(
      refusalReason([
        "llama_model_load: error loading model: check_tensor_dims: tensor 'blk.0.attn_q.weight' has wrong shape; expected     64,     64, got     64,     32,      1,      1",
      ]),
    ).toBe("tensor 'blk.0.attn_q.weight' has wrong shape; expected 64, 64, got 64, 32, 1, 1");
    expect(
      refusalReason(["llama_model_load: error loading model: error loading model architecture: unknown model architecture: 'llamax'"]),
    ).toBe("error loading model architecture: unknown model architecture: 'llamax'");
    // A generic "error loading model" line: the specific line before it is the reason.
    expect(
      refusalReason([
        'gguf_init_from_file_impl: tensor data is not within the file bounds',
        'llama_model_load: error loading model: llama_model_loader: failed to load model from /m/x.gguf',
        'llama_model_load_from_file_impl: failed to load model',
      ]),
    ).toBe('tensor data is not within the file bounds');
    expect(refusalReason(['llama_model_load_from_file_impl: failed to load model'])).toBeUndefined();
    expect(refusalReason([])).toBeUndefined();
  });
});

describe('loading a model whose metadata and tensors disagree', () => {
  let services: HostServices;

  beforeAll(async () => {
    ({ services } = await inferenceHost());
  });
  afterAll(() => services.close());

  const load = (file: string) => services.handlers['inference.load']({ modelPath: file });

  it('is refused before llama.cpp with the same reason import gives', async () => {
    const dir = tempDir();
    const cases: Array<[string, Parameters<typeof writeEditedGguf>[2], string]> = [
      [
        'more-layers.gguf',
        (g) => setUint32(g, 'llama.block_count', 6),
        'This file is damaged or incomplete: its metadata says 6 layers (llama.block_count) but it holds tensors for 5 (blk.5 is missing).',
      ],
      [
        'no-ffn-up.gguf',
        (g) => (g.tensors = g.tensors.filter((t) => t.name !== 'blk.3.ffn_up.weight')),
        'This file cannot be loaded: llama models need blk.3.ffn_up.weight, which is missing.',
      ],
      [
        'short-vocabulary.gguf',
        (g) => (tensor(g, 'token_embd.weight').dims = [64, 500]),
        'This file is damaged or inconsistent: its tokenizer has 512 tokens, but token_embd.weight is sized for 500.',
      ],
    ];
    for (const [name, edit, reason] of cases) {
      const file = path.join(dir, name);
      writeEditedGguf(model, file, edit);
      const [imported] = await services.handlers['models.import']({ paths: [file], mode: 'reference' });
      expect(imported!.error).toBe(`Not a usable GGUF model: ${reason}`);
      await expect(load(file), name).rejects.toMatchObject({ code: 'invalid_model', message: `${name} cannot be used: ${reason}` });
    }
    // It never reached the worker: nothing was loaded or crashed.
    expect(services.handlers['inference.status'](undefined)).toMatchObject({ model: null });
  });

  it("shows llama.cpp's own reason when llama.cpp refuses a file the checks let through", async () => {
    const dir = tempDir();
    const wrongShape = path.join(dir, 'wrong-shape.gguf');
    writeEditedGguf(model, wrongShape, (g) => (tensor(g, 'blk.0.attn_q.weight').dims = [64, 32]));
    await expect(load(wrongShape)).rejects.toMatchObject({
      code: 'invalid_model',
      message:
        "llama.cpp could not load wrong-shape.gguf: tensor 'blk.0.attn_q.weight' has wrong shape; expected 64, 64, got 64, 32, 1, 1.",
    });
    const unknown = path.join(dir, 'unknown-arch.gguf');
    writeEditedGguf(model, unknown, (g) => setString(g, 'general.architecture', 'llamax'));
    await expect(load(unknown)).rejects.toMatchObject({
      code: 'invalid_model',
      message: expect.stringMatching(/^llama\.cpp could not load unknown-arch\.gguf: .*unknown model architecture: 'llamax'\.$/),
    });
    // The same worker goes on: the real model loads and answers.
    await load(model);
    const result = await services.handlers['chat.generate']({
      requestId: 'r1',
      messages: [{ role: 'user', text: 'Hi' }],
      sampling: { temperature: 0, maxTokens: 8 },
    });
    expect(result.stats.generatedTokens).toBeGreaterThan(0);
  });
});
