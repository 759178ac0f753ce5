import { describe, expect, it } from 'vitest';
import { DocParseError, parseDocument } from '../../../electron/docs/parse';
import { docxParagraph, makeDocx } from '../../helpers/doc-fixtures';

describe('a Word document with too much text', () => {
  it('is refused before it is parsed when its text markup is over 40 MB, with what to do', async () => {
    // About 41 MB of paragraphs: real text, not a bomb; its size alone is over the limit.
    const paragraph = docxParagraph('The committee met again and reviewed the numbers in detail. '.repeat(20));
    const big = makeDocx(Array.from({ length: Math.ceil((41 * 1024 * 1024) / paragraph.length) }, () => paragraph));
    const error = await parseDocument('minutes.docx', big).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DocParseError);
    expect(error).toMatchObject({
      code: 'too_large',
      message: expect.stringMatching(
        /^minutes\.docx holds 4\d MB of markup in word\/document\.xml, more than Freehold reads from one document \(40 MB\): split it/,
      ),
    });
  }, 60_000);
});
