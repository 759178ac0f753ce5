import { describe, expect, it } from 'vitest';
import { checkSize, DocParseError, formatOf, parseDocument } from '../../../electron/docs/parse/index';
import { DOC_LIMITS } from '../../../shared/documents';
import * as fx from '../../helpers/doc-fixtures';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The DocParseError a parse rejects with. */
async function failure(name: string, data: Uint8Array): Promise<{ code: string; message: string }> {
  const error = await parseDocument(name, data).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(DocParseError);
  const { code, message } = error as DocParseError;
  return { code, message };
}

describe('formatOf', () => {
  it('knows formats by extension, in any case', () => {
    const names = 'a.PDF dir/report.docx README.markdown server.log page.htm data.tsv main.rs config.yml Makefile'.split(' ');
    expect(names.map(formatOf)).toEqual(['pdf', 'docx', 'markdown', 'text', 'html', 'csv', 'code', 'code', 'code']);
    expect(['photo.png', 'old.doc', '.bashrc', 'noext'].map(formatOf)).toEqual([null, null, null, null]);
  });
});

describe('PDF', () => {
  it('gives one section per page, lines broken where pdf.js ends them, with progress', async () => {
    const progress: [number, number][] = [];
    const doc = await parseDocument(
      'report.pdf',
      fx.makePdf({ pages: [['Hello (world)', 'Second line'], null, ['Page three text']], title: 'Quarterly Report' }),
      { onPage: (read, total) => progress.push([read, total]) },
    );
    expect(doc).toEqual({
      format: 'pdf',
      title: 'Quarterly Report',
      pages: 3,
      sections: [
        { text: 'Hello (world)\nSecond line', page: 1, kind: 'text' },
        { text: 'Page three text', page: 3, kind: 'text' },
      ],
    });
    expect(progress).toEqual([1, 2, 3].map((read) => [read, 3]));
  });

  it('is titled by its file name without a Title, and leaves the bytes it is given intact', async () => {
    const data = fx.makePdf({ pages: [['Only page']] });
    const doc = await parseDocument('notes.v2.pdf', data);
    expect(doc.title).toBe('notes.v2');
    expect(data.byteLength).toBeGreaterThan(0);
    expect(data.subarray(0, 5).toString()).toBe('%PDF-');
  });

  it('refuses an encrypted PDF', async () => {
    expect(await failure('secret.pdf', fx.makePdf({ pages: [['Secret']], encrypted: true }))).toEqual({
      code: 'encrypted',
      message: 'secret.pdf is protected by a password',
    });
  });

  it('refuses a corrupt PDF and an empty file', async () => {
    const expected = { code: 'corrupt', message: 'broken.pdf could not be read: it is damaged or not a PDF' };
    expect(await failure('broken.pdf', fx.corruptPdf())).toEqual(expected);
    expect(await failure('broken.pdf', new Uint8Array(0))).toEqual(expected);
  });

  it('refuses a PDF with no text layer', async () => {
    const { code, message } = await failure('scan.pdf', fx.makePdf({ pages: [null, null] }));
    expect(code).toBe('no_text');
    expect(message).toBe('scan.pdf: no text in this PDF (scanned?)');
    expect(message).toContain('no text in this PDF (scanned?)');
  });

  it('stops between pages when aborted', async () => {
    const controller = new AbortController();
    const progress: number[] = [];
    const parse = parseDocument('long.pdf', fx.makePdf({ pages: [['one'], ['two'], ['three'], ['four']] }), {
      signal: controller.signal,
      onPage: (read) => {
        progress.push(read);
        if (read === 2) controller.abort();
      },
    });
    await expect(parse).rejects.toMatchObject({ name: 'AbortError' });
    expect(progress).toEqual([1, 2]);
  });
});

describe('DOCX', () => {
  it('gives heading paths from Heading 1 and 2, and the title from its properties', async () => {
    const docx = fx.makeDocx(
      [
        fx.docxParagraph('Introduction', 'Heading1'),
        fx.docxParagraph('First paragraph &amp; more.'),
        fx.docxParagraph('Second paragraph.'),
        fx.docxParagraph('Details', 'Heading2'),
        fx.docxParagraph('Detail text.'),
        fx.docxParagraph('Next Part', 'Heading1'),
        fx.docxParagraph('Closing words.'),
      ],
      'Design &amp; Notes',
    );
    expect(await parseDocument('design.docx', docx)).toEqual({
      format: 'docx',
      title: 'Design & Notes',
      sections: [
        { text: 'First paragraph & more.\n\nSecond paragraph.', heading: 'Introduction', kind: 'text' },
        { text: 'Detail text.', heading: 'Introduction › Details', kind: 'text' },
        { text: 'Closing words.', heading: 'Next Part', kind: 'text' },
      ],
    });
  });

  it('is titled by its file name without properties', async () => {
    expect((await parseDocument('memo.docx', fx.makeDocx([fx.docxParagraph('Hi')]))).title).toBe('memo');
  });

  it('refuses a zip bomb from its directory, quickly and without unpacking it', async () => {
    const bomb = fx.docxBomb(200);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const started = performance.now();
    const before = process.memoryUsage().arrayBuffers;
    expect(await failure('bomb.docx', bomb)).toEqual({
      code: 'bomb',
      message: 'bomb.docx unpacks to 200 MB, far more than a document needs (it looks like a zip bomb)',
    });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(50 * 1024 * 1024);
  });

  it('refuses one part far larger unpacked than packed', async () => {
    expect(await failure('ratio.docx', fx.docxBomb(20))).toEqual({
      code: 'bomb',
      message: 'ratio.docx has a part that unpacks to 20 MB from 21 KB, far more than a document needs (it looks like a zip bomb)',
    });
  });

  it('refuses a zip that unpacks to more than its directory says', async () => {
    expect(await failure('liar.docx', fx.docxBomb(200, true))).toEqual({
      code: 'bomb',
      message: 'liar.docx unpacks to more than it says, far more than a document needs (it looks like a zip bomb)',
    });
  });

  it('refuses a .docx that is not a zip, or a zip that is not a Word document', async () => {
    const expected = (name: string) => ({ code: 'corrupt', message: `${name} could not be read: it is damaged or not a Word document` });
    expect(await failure('text.docx', bytes('just some text, not a zip'))).toEqual(expected('text.docx'));
    const { makeZip } = await import('../../helpers/zip');
    expect(await failure('other.docx', makeZip([{ name: 'hello.txt', data: 'hi' }]))).toEqual(expected('other.docx'));
  });
});

describe('HTML', () => {
  it('drops scripts, styles, navigation and the head; headings give paths; code and tables are whole', async () => {
    expect(await parseDocument('page.html', bytes(fx.htmlSample))).toEqual({
      format: 'html',
      title: 'The Page',
      sections: [
        { text: 'First & foremost, bold text.\n\n- One\n\n- Two', heading: 'Main', kind: 'text' },
        { text: 'const a = 1;\n  const b = 2;', heading: 'Main › Code', kind: 'code' },
        { text: 'Name\tAge\nAnn\t31', heading: 'Main › Data', kind: 'table' },
        { text: 'Line one\nLine two', heading: 'Main › Data › Deep', kind: 'text' },
      ],
    });
  });

  it('numbers ordered lists and keeps inline code in its sentence', async () => {
    const html = '<ol><li><p>First</p></li><li>Second</li></ol><p>Run <code>npm test</code> now.</p><div><code>x = 1</code></div>';
    expect((await parseDocument('list.htm', bytes(html))).sections).toEqual([
      { text: '1. First\n\n2. Second\n\nRun npm test now.', kind: 'text' },
      { text: 'x = 1', kind: 'code' },
    ]);
  });
});

describe('Markdown', () => {
  it('splits on headings, with paths, and keeps fenced code whole', async () => {
    expect(await parseDocument('guide.md', bytes(fx.markdownSample))).toEqual({
      format: 'markdown',
      title: 'Guide',
      sections: [
        { text: 'Intro paragraph.', heading: 'Guide', kind: 'text' },
        { text: 'Install it.', heading: 'Guide › Setup', kind: 'text' },
        { text: '```sh\n# not a heading\nnpm install\n\nnpm test\n```', heading: 'Guide › Setup', kind: 'code' },
        { text: 'Use apt.', heading: 'Guide › Setup › Linux', kind: 'text' },
        { text: 'Run it.', heading: 'Guide › Usage', kind: 'text' },
      ],
    });
  });

  it('takes setext headings and a front matter title; an unclosed fence runs to the end', async () => {
    const text = '---\ntitle: "Notes"\n---\nTop\n===\n\nText.\n\nSub\n---\n~~~\ncode\n# still code';
    expect(await parseDocument('n.md', bytes(text))).toEqual({
      format: 'markdown',
      title: 'Notes',
      sections: [
        { text: 'Text.', heading: 'Top', kind: 'text' },
        { text: '~~~\ncode\n# still code', heading: 'Top › Sub', kind: 'code' },
      ],
    });
  });
});

describe('plain text, code and CSV', () => {
  it('groups the paragraphs of plain text', async () => {
    const doc = await parseDocument('notes.txt', bytes('\uFEFFFirst para\nline two  \n\n\n Second para\n'));
    expect(doc).toEqual({ format: 'text', title: 'notes', sections: [{ text: 'First para\nline two\n\nSecond para', kind: 'text' }] });
  });

  it('starts a new section past about 4000 characters', async () => {
    const paragraph = 'word '.repeat(300).trim();
    const doc = await parseDocument('long.txt', bytes(Array(6).fill(paragraph).join('\n\n')));
    expect(doc.sections.map((section) => section.text.length)).toEqual([2 * 1499 + 2, 2 * 1499 + 2, 2 * 1499 + 2]);
  });

  it('reads UTF-16 with a byte order mark, and Windows-1252', async () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('Grüße, UTF-16', 'utf16le')]);
    expect((await parseDocument('le.txt', le)).sections).toEqual([{ text: 'Grüße, UTF-16', kind: 'text' }]);
    const be = Buffer.from(le.subarray(2)).swap16();
    expect((await parseDocument('be.txt', Buffer.concat([Buffer.from([0xfe, 0xff]), be]))).sections[0]!.text).toBe('Grüße, UTF-16');
    const cp1252 = Buffer.from([...Buffer.from('caf\xe9 ', 'latin1'), 0x93, ...Buffer.from('quoted'), 0x94]);
    expect((await parseDocument('old.txt', cp1252)).sections[0]!.text).toBe('café “quoted”');
  });

  it('gives code one section per top-level block, headed by the file name', async () => {
    expect(await parseDocument('src/util.ts', bytes(fx.codeSample))).toEqual({
      format: 'code',
      title: 'util.ts',
      sections: [
        { text: "import { a } from './a';\nimport { b } from './b';", heading: 'util.ts', kind: 'code' },
        { text: 'export function one(): number {\n  const x = 1;\n\n  return x + a;\n}', heading: 'util.ts', kind: 'code' },
        { text: 'export class Two {\n  run() {\n    return b;\n  }\n}', heading: 'util.ts', kind: 'code' },
      ],
    });
  });

  it('groups CSV rows 50 to a section, each with the header', async () => {
    const doc = await parseDocument('people.csv', bytes(fx.makeCsv(120)));
    expect(doc.sections.map((section) => section.text.split('\n').length)).toEqual([51, 51, 21]);
    expect(doc.sections.every((section) => section.kind === 'table' && section.text.startsWith('id\tname\tnote\n'))).toBe(true);
    expect(doc.sections[0]!.text.split('\n').slice(0, 4)).toEqual([
      'id\tname\tnote',
      '1\tname1\tnote 1',
      '2\tDoe, Jane\tsay "hi" there',
      '3\tname3\tnote 3',
    ]);
    expect(doc.sections[2]!.text.split('\n').at(-1)).toBe('120\tname120\tnote 120');
  });

  it('reads TSV by tabs', async () => {
    expect((await parseDocument('t.tsv', bytes('a\tb\n1,5\t2\n'))).sections).toEqual([{ text: 'a\tb\n1,5\t2', kind: 'table' }]);
  });
});

describe('bad input', () => {
  it('refuses a binary file named .txt', async () => {
    const expected = { code: 'binary', message: 'notes.txt is not text (it looks like a binary file)' };
    expect(await failure('notes.txt', fx.binaryBytes())).toEqual(expected);
    const cases: ((i: number) => number)[] = [
      (i) => 1 + (i % 8), // no NUL byte, but mostly control characters
      (i) => (i % 2 ? 0x80 + (i % 64) : 0x41), // not UTF-8, and half of it bytes over 0x7f
      (i) => (i % 5 ? 0x41 : 0x81), // not UTF-8, few high bytes, but C1 control characters in Windows-1252
    ];
    for (const byte of cases)
      expect(
        await failure(
          'notes.txt',
          Uint8Array.from({ length: 2000 }, (_, i) => byte(i)),
        ),
      ).toEqual(expected);
  });

  it('refuses a file over the size limit', () => {
    expect(() => checkSize('report.pdf', 120 * 1024 * 1024)).toThrow(
      expect.objectContaining({ code: 'too_large', message: 'report.pdf is 120.0 MB; the limit is 100 MB' }),
    );
    expect(() => checkSize('ok.pdf', DOC_LIMITS.maxFileBytes)).not.toThrow();
    expect(() => checkSize('big.txt', { byteLength: DOC_LIMITS.maxFileBytes + 1 })).toThrow(/big.txt is 100.0 MB; the limit is 100 MB/);
  });

  it('refuses an unknown extension, naming the formats it takes', async () => {
    expect(await failure('photo.png', bytes('x'))).toEqual({
      code: 'unsupported',
      message:
        'photo.png is not a kind of file Freehold reads; it reads PDF, Word (.docx), Markdown, plain text, HTML, CSV/TSV and source code files',
    });
  });

  it('refuses a file with no text', async () => {
    expect(await failure('empty.md', bytes('\n\n  \n'))).toEqual({ code: 'no_text', message: 'empty.md has no text in it' });
  });

  it('rejects at once when already aborted', async () => {
    await expect(parseDocument('a.txt', bytes('hi'), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
