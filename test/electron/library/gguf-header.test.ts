import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GgufError, modelFacts, readGgufHeader } from '../../../electron/formats/gguf-header';
import { afterString, bufferSource } from '../../helpers/gguf-bytes';
import { testModelPath } from '../../helpers/test-model';

const original = readFileSync(testModelPath());

function mutate(change: (data: Buffer) => void): Buffer {
  const data = Buffer.from(original);
  change(data);
  return data;
}

async function problem(data: Uint8Array): Promise<string> {
  try {
    await readGgufHeader(bufferSource(data));
  } catch (error) {
    if (!(error instanceof GgufError)) throw new Error(`not a GgufError: ${String(error)}`, { cause: error });
    return error.message;
  }
  return 'accepted';
}

describe('GGUF header check', () => {
  it('reads a real model and its facts, touching only the header', async () => {
    let readUpTo = 0;
    const source = bufferSource(original);
    const spy = { size: source.size, read: (o: number, l: number) => ((readUpTo = Math.max(readUpTo, o + l)), source.read(o, l)) };
    const header = await readGgufHeader(spy);
    expect(header.version).toBe(3);
    expect(header.tensorCount).toBe(48);
    expect(header.requiredBytes).toBe(original.length);
    expect(modelFacts(header)).toMatchObject({
      architecture: 'llama',
      contextLength: 2048,
      quantization: 'F32',
      hasChatTemplate: false,
      parameterCount: 292_800,
    });
    // The check reads in 1 MiB chunks at most; never the whole of a big file.
    expect(readUpTo).toBeLessThanOrEqual(1024 * 1024 + header.dataOffset);
  });

  it('refuses the file cut short at every byte of its header, and inside its data', async () => {
    const header = await readGgufHeader(bufferSource(original));
    const cuts = [...Array.from({ length: header.dataOffset + 1 }, (_, i) => i), header.dataOffset + 100, original.length - 1];
    for (const cut of cuts) {
      const message = await problem(original.subarray(0, cut));
      expect(message, `cut at ${cut}`).not.toBe('accepted');
    }
  }, 60_000);

  it('names the problem with extreme counts, lengths, dimensions and types', async () => {
    const cases: Array<[string, (d: Buffer) => void, RegExp]> = [
      ['not GGUF', (d) => d.write('GGML', 0, 'latin1'), /not a GGUF file/],
      ['version', (d) => d.writeUInt32LE(99, 4), /version 99/],
      ['tensor count', (d) => d.writeBigUInt64LE(2n ** 40n, 8), /claims \d+ tensors/],
      ['kv count', (d) => d.writeBigUInt64LE(2n ** 63n, 16), /impossibly large|metadata entries/],
      ['key length', (d) => d.writeBigUInt64LE(2n ** 40n, 24), /over the 65536-byte limit|claims/],
      ['value type', (d) => d.writeUInt32LE(77, afterString(d, 'tokenizer.ggml.tokens')), /unknown value type 77/],
      ['array length', (d) => d.writeBigUInt64LE(2n ** 50n, afterString(d, 'tokenizer.ggml.tokens') + 8), /claims \d+ elements/],
      ['nested array', (d) => d.writeUInt32LE(9, afterString(d, 'tokenizer.ggml.tokens') + 4), /array of arrays/],
      ['dims', (d) => d.writeUInt32LE(7, afterString(d, 'token_embd.weight')), /7 dimensions/],
      ['zero dims', (d) => d.writeUInt32LE(0, afterString(d, 'token_embd.weight')), /0 dimensions/],
      ['zero dim', (d) => d.writeBigUInt64LE(0n, afterString(d, 'token_embd.weight') + 4), /dimension of 0/],
      ['huge dim', (d) => d.writeBigUInt64LE(2n ** 52n, afterString(d, 'token_embd.weight') + 4), /impossibly many elements|past the end/],
      ['tensor type', (d) => d.writeUInt32LE(31, afterString(d, 'token_embd.weight') + 4 + 16), /unknown type 31/],
      ['quantized row', (d) => d.writeUInt32LE(12, afterString(d, 'token_embd.weight') + 4 + 16), /not a multiple of its block size 256/],
      ['misaligned offset', (d) => d.writeBigUInt64LE(3n, afterString(d, 'token_embd.weight') + 4 + 16 + 4), /not aligned/],
      [
        'offset past end',
        (d) => d.writeBigUInt64LE(2n ** 40n, afterString(d, 'token_embd.weight') + 4 + 16 + 4),
        /past the end of the file/,
      ],
      [
        'head count 0',
        (d) => d.writeUInt32LE(0, afterString(d, 'llama.attention.head_count') + 4),
        /head_count is 0; llama\.cpp would abort/,
      ],
      ['kv heads 0', (d) => d.writeUInt32LE(0, afterString(d, 'llama.attention.head_count_kv') + 4), /head_count_kv is 0/],
      ['kv heads ratio', (d) => d.writeUInt32LE(3, afterString(d, 'llama.attention.head_count_kv') + 4), /not a multiple of head_count_kv/],
      ['block count 0', (d) => d.writeUInt32LE(0, afterString(d, 'llama.block_count') + 4), /block_count is 0/],
      ['embedding 0', (d) => d.writeUInt32LE(0, afterString(d, 'llama.embedding_length') + 4), /embedding_length is 0/],
    ];
    for (const [name, change, expected] of cases) {
      expect(await problem(mutate(change)), name).toMatch(expected);
    }
  });

  it('never fails with anything but a clear GgufError on random damage to the header', async () => {
    const header = await readGgufHeader(bufferSource(original));
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let accepted = 0;
    for (let trial = 0; trial < 1500; trial += 1) {
      const data = Buffer.from(original);
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f += 1) {
        const at = Math.floor(random() * header.dataOffset);
        data[at] = Math.floor(random() * 256);
      }
      // problem() rethrows anything that is not a GgufError, failing the test.
      if ((await problem(data)) === 'accepted') accepted += 1;
    }
    // Most flips land in token strings and scores, which are legitimately any bytes.
    expect(accepted).toBeGreaterThan(0);
  }, 60_000);
});
