import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DocsUploads } from '../../../electron/docs/docs-uploads';
import type { DocumentRecord } from '../../../shared/documents';
import { tempDir } from '../../helpers/temp';

function uploads(idleMs?: number) {
  const dir = tempDir();
  const added: Array<{ file: string; target: object }> = [];
  const sessions = new DocsUploads(
    dir,
    async (file, target) => {
      added.push({ file, target });
      return { id: 'd1', name: path.basename(file) } as DocumentRecord;
    },
    idleMs,
  );
  return { dir, added, sessions };
}

describe('documents sent in pieces', () => {
  it('stores the pieces in order and hands the whole file to the documents', async () => {
    const { added, sessions } = uploads();
    const text = Buffer.from('Whales eat krill. '.repeat(70_000)); // 1.26 MB
    const { uploadId } = await sessions.begin('big notes.txt', text.length, { conversationId: 'c1' });
    for (let offset = 0; offset < text.length; offset += 512 * 1024)
      await sessions.chunk(uploadId, offset, text.subarray(offset, offset + 512 * 1024));
    const record = await sessions.finish(uploadId);
    expect(record.name).toBe('big notes.txt');
    expect(added[0]!.target).toEqual({ conversationId: 'c1' });
    expect(readFileSync(added[0]!.file).equals(text)).toBe(true);
  });

  it('refuses a piece out of order, more than announced, an unknown type or a file over the limit; a dropped upload leaves nothing', async () => {
    const { dir, sessions } = uploads();
    const { uploadId } = await sessions.begin('a.md', 10, {});
    await expect(sessions.chunk(uploadId, 5, Buffer.from('hello'))).rejects.toThrow(/Expected the piece at byte 0/);
    await expect(sessions.chunk(uploadId, 0, Buffer.alloc(11))).rejects.toThrow(/More arrived than the size announced/);
    await expect(sessions.finish(uploadId)).rejects.toThrow(/No such upload/);
    await expect(sessions.begin('tool.exe', 10, {})).rejects.toThrow(/not a document Freehold reads/);
    await expect(sessions.begin('huge.pdf', 200 * 1024 * 1024, {})).rejects.toThrow(/huge\.pdf is 200\.0 MB; the limit is 100 MB/);
    const short = await sessions.begin('b.md', 10, {});
    await sessions.chunk(short.uploadId, 0, Buffer.from('12345'));
    await expect(sessions.finish(short.uploadId)).rejects.toThrow(/Only 5 of 10 bytes arrived/);
    expect(await sessions.cancel(short.uploadId)).toEqual({ cancelled: true });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('gives up an upload left idle, and removes what came of it', async () => {
    const { dir, sessions } = uploads(50);
    const { uploadId } = await sessions.begin('c.md', 10, {});
    await sessions.chunk(uploadId, 0, Buffer.from('12345'));
    await expect.poll(() => readdirSync(dir).length, { timeout: 2000 }).toBe(0);
    await expect(sessions.chunk(uploadId, 5, Buffer.from('67890'))).rejects.toThrow(/No such upload/);
    expect(existsSync(dir)).toBe(true);
  });
});
