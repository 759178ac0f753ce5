import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkModelFile } from '../../../electron/inference/model-file';
import { DeltaBatcher } from '../../../electron/worker/delta-batcher';
import { defaultThreadCount, resolveThreads } from '../../../electron/worker/threads';
import type { ChatDelta } from '../../../shared/inference';
import { tempDir } from '../../helpers/temp';

afterEach(() => vi.useRealTimers());

describe('default thread count', () => {
  it('never takes every core, and uses half of them on bigger machines', () => {
    expect([1, 2, 3, 4, 8, 16, 64].map(defaultThreadCount)).toEqual([1, 1, 1, 2, 4, 8, 32]);
    expect(resolveThreads(6, 2)).toEqual({ used: 6, reason: 'set in settings' });
    expect(resolveThreads(0, 2).used).toBe(1);
  });
});

describe('DeltaBatcher', () => {
  it('sends the first text at once, then batches, keeping reasoning apart from text', () => {
    vi.useFakeTimers();
    const sent: ChatDelta[] = [];
    const batcher = new DeltaBatcher('r', (d) => sent.push(d), 16);
    batcher.push('reasoning', 'Let me');
    expect(sent).toEqual([{ requestId: 'r', parts: [{ kind: 'reasoning', text: 'Let me' }] }]);
    batcher.push('reasoning', ' think.');
    batcher.push('text', 'Hello');
    batcher.push('text', ', world');
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(16);
    expect(sent[1]).toEqual({
      requestId: 'r',
      parts: [
        { kind: 'reasoning', text: ' think.' },
        { kind: 'text', text: 'Hello, world' },
      ],
    });
    batcher.push('text', '!');
    batcher.flush();
    expect(sent[2]?.parts).toEqual([{ kind: 'text', text: '!' }]);
    vi.advanceTimersByTime(100);
    expect(sent).toHaveLength(3);
  });
});

describe('checkModelFile', () => {
  it('explains each common mistake', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'folder.gguf'));
    writeFileSync(path.join(dir, 'text.gguf'), 'hello, not a model');
    writeFileSync(path.join(dir, 'short.gguf'), 'GGUF\u0003\u0000');
    const v9 = Buffer.alloc(32);
    v9.write('GGUF', 0, 'latin1');
    v9.writeUInt32LE(9, 4);
    writeFileSync(path.join(dir, 'v9.gguf'), v9);
    await expect(checkModelFile(path.join(dir, 'missing.gguf'))).rejects.toMatchObject({
      code: 'invalid_model',
      message: expect.stringMatching(/not found/),
    });
    await expect(checkModelFile(path.join(dir, 'folder.gguf'))).rejects.toThrow(/is a folder/);
    await expect(checkModelFile(path.join(dir, 'text.gguf'))).rejects.toThrow(/not a GGUF file/);
    await expect(checkModelFile(path.join(dir, 'short.gguf'))).rejects.toThrow(/too short for a GGUF header/);
    await expect(checkModelFile(path.join(dir, 'v9.gguf'))).rejects.toThrow(/version 9/);
    await expect(checkModelFile('relative/model.gguf')).rejects.toThrow(/absolute/);
  });
});
