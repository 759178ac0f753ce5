/** The built parser thread (dist/electron/docs-parser.mjs, what the host runs): a file's sections, or its refusal with the code. */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { ParserReply } from '../../../electron/docs/parse-worker';
import { corruptPdf, makePdf } from '../../helpers/doc-fixtures';

function parseIn(fileName: string, bytes: Uint8Array): Promise<ParserReply[]> {
  const worker = new Worker(path.resolve('dist/electron/docs-parser.mjs'));
  const replies: ParserReply[] = [];
  return new Promise((resolve, reject) => {
    worker.on('message', (reply: ParserReply) => {
      replies.push(reply);
      if (reply.kind !== 'page') void worker.terminate().then(() => resolve(replies));
    });
    worker.on('error', reject);
    worker.postMessage({ fileName, bytes });
  });
}

describe('the parser thread', () => {
  it('reads a PDF page by page and gives back its sections', async () => {
    const replies = await parseIn('two.pdf', makePdf({ pages: [['Blue whales eat krill.'], ['Owls hunt at night.']] }));
    expect(replies.filter((r) => r.kind === 'page')).toEqual([
      { kind: 'page', read: 1, total: 2 },
      { kind: 'page', read: 2, total: 2 },
    ]);
    const done = replies.at(-1)!;
    expect(done.kind).toBe('done');
    if (done.kind === 'done')
      expect(done.doc.sections.map((s) => [s.page, s.text])).toEqual([
        [1, 'Blue whales eat krill.'],
        [2, 'Owls hunt at night.'],
      ]);
  });

  it('refuses a damaged PDF with its code, for the host to show', async () => {
    const replies = await parseIn('broken.pdf', corruptPdf());
    expect(replies.at(-1)).toEqual({ kind: 'error', code: 'corrupt', message: expect.stringMatching(/^broken\.pdf could not be read/) });
  });
});
