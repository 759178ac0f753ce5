/**
 * Test files for the document parsers, built by hand: PDFs with a correct
 * xref table, DOCX zips (one of them a zip bomb, built without holding its
 * 200 MB), and text-like files.
 */
import { constants, crc32, deflateRawSync } from 'node:zlib';
import { makeZip } from './zip';

/** Escapes a PDF literal string. */
function pdfString(text: string): string {
  return `(${text.replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

/**
 * A PDF from its objects (numbered from 1, in order), with a byte-exact
 * xref table. `trailer` is added to the trailer dictionary (/Root is object 1).
 */
export function buildPdf(objects: string[], trailer = ''): Buffer {
  let body = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xrefAt = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R ${trailer}>>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

function stream(content: string): string {
  return `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`;
}

export interface PdfOptions {
  /** Lines of text on each page; a page given as `null` has only a drawn rectangle. */
  pages: (string[] | null)[];
  title?: string;
  /** Adds an /Encrypt dictionary whose user password is not empty. */
  encrypted?: boolean;
}

/** A PDF with Helvetica text, one line under another, on each page. */
export function makePdf(options: PdfOptions): Buffer {
  const count = options.pages.length;
  // 1 catalog, 2 pages, 3 font, then per page: the page and its content stream.
  const kids = options.pages.map((_, index) => `${4 + index * 2} 0 R`).join(' ');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${kids}] /Count ${count} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];
  options.pages.forEach((lines, index) => {
    const content = lines
      ? `BT /F1 12 Tf 14 TL 72 720 Td ${lines.map((line) => `${pdfString(line)} Tj T*`).join(' ')} ET`
      : '0.2 0.4 0.8 rg 72 500 200 150 re f';
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + index * 2} 0 R >>`,
      stream(content),
    );
  });
  let trailer = '';
  if (options.title !== undefined) {
    objects.push(`<< /Title ${pdfString(options.title)} /Producer (doc-fixtures) >>`);
    trailer += `/Info ${objects.length} 0 R `;
  }
  if (options.encrypted) {
    const o = 'a1'.repeat(32);
    const u = '5c'.repeat(32);
    objects.push(`<< /Filter /Standard /V 1 /R 2 /O <${o}> /U <${u}> /P -44 >>`);
    trailer += `/Encrypt ${objects.length} 0 R /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] `;
  }
  return buildPdf(objects, trailer);
}

/** Not a PDF past its first line. */
export function corruptPdf(): Buffer {
  return Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from('this is not a pdf body at all\n'.repeat(20))]);
}

const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';

function docxParts(body: string, title?: string): { name: string; data: string }[] {
  const parts = [
    {
      name: '[Content_Types].xml',
      data:
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
        '<Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>' +
        '</Types>',
    },
    {
      name: '_rels/.rels',
      data:
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>' +
        '</Relationships>',
    },
    {
      name: 'word/document.xml',
      data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ${W}><w:body>${body}</w:body></w:document>`,
    },
  ];
  if (title !== undefined) {
    parts.push({
      name: 'docProps/core.xml',
      data:
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" ' +
        `xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>${title}</dc:title></cp:coreProperties>`,
    });
  }
  return parts;
}

/** A DOCX paragraph; `style` is a style id such as Heading1. */
export function docxParagraph(text: string, style?: string): string {
  const props = style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : '';
  return `<w:p>${props}<w:r><w:t xml:space="preserve">${text}</w:t></w:r></w:p>`;
}

/** A DOCX with the given body XML (paragraphs made by docxParagraph). */
export function makeDocx(paragraphs: string[], title?: string): Buffer {
  return makeZip(docxParts(paragraphs.join(''), title));
}

interface DeflatedEntry {
  name: string;
  /** The raw deflate stream. */
  data: Buffer;
  crc: number;
  size: number;
}

/** A zip whose entries are deflated (method 8), sizes as given (true or not). */
function makeDeflatedZip(entries: DeflatedEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(entry.crc, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(entry.crc, 16);
    central.writeUInt32LE(entry.data.length, 20);
    central.writeUInt32LE(entry.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, entry.data);
    centrals.push(central, name);
    offset += local.length + name.length + entry.data.length;
  }
  const centralSize = centrals.reduce((sum, part) => sum + part.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

function deflated(name: string, data: string): DeflatedEntry {
  const bytes = Buffer.from(data);
  return { name, data: deflateRawSync(bytes), crc: crc32(bytes), size: bytes.length };
}

/**
 * `mib` MiB of zeros as one raw deflate stream, without ever holding them: one
 * MiB deflated with a full flush (which makes it stand alone) is repeated,
 * then an empty final block ends the stream.
 */
export function deflatedZeros(mib: number): { data: Buffer; crc: number; size: number } {
  const chunk = Buffer.alloc(1024 * 1024);
  const piece = deflateRawSync(chunk, { level: 9, finishFlush: constants.Z_FULL_FLUSH });
  let crc = 0;
  for (let i = 0; i < mib; i++) crc = crc32(chunk, crc);
  const data = Buffer.concat([...Array<Buffer>(mib).fill(piece), Buffer.from([0x03, 0x00])]);
  return { data, crc, size: mib * 1024 * 1024 };
}

/**
 * A DOCX holding `mib` MiB of zeros in one entry (about 1000:1). With `lie`,
 * the zip says that entry unpacks to 1000 bytes.
 */
export function docxBomb(mib = 200, lie = false): Buffer {
  const zeros = deflatedZeros(mib);
  const parts = docxParts(docxParagraph('Hello'));
  return makeDeflatedZip([
    ...parts.map((part) => deflated(part.name, part.data)),
    { name: 'word/media/zeros.bin', data: zeros.data, crc: zeros.crc, size: lie ? 1000 : zeros.size },
  ]);
}

export const markdownSample = [
  '# Guide',
  '',
  'Intro paragraph.',
  '',
  '## Setup',
  '',
  'Install it.',
  '',
  '```sh',
  '# not a heading',
  'npm install',
  '',
  'npm test',
  '```',
  '',
  '### Linux',
  '',
  'Use apt.',
  '',
  '## Usage',
  '',
  'Run it.',
  '',
].join('\n');

export const htmlSample = `<!doctype html>
<html><head><title>The Page</title><style>body { color: red }</style><script>var x = "secret";</script></head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Main</h1>
<p>First &amp; foremost, <b>bold</b> text.</p>
<ul><li>One</li><li>Two</li></ul>
<h2>Code</h2>
<pre><code>const a = 1;
  const b = 2;</code></pre>
<h2>Data</h2>
<table><tr><th>Name</th><th>Age</th></tr><tr><td>Ann</td><td>31</td></tr></table>
<h3>Deep</h3>
<p>Line one<br>Line two</p>
<script>alert(1)</script>
</body></html>`;

/** A CSV with a header and `rows` data rows; row 2 has a quoted field with a comma, a quote and a line break. */
export function makeCsv(rows: number): string {
  const lines = ['id,name,note'];
  for (let i = 1; i <= rows; i++) lines.push(i === 2 ? `2,"Doe, Jane","say ""hi""\nthere"` : `${i},name${i},note ${i}`);
  return lines.join('\r\n') + '\r\n';
}

export const codeSample = `import { a } from './a';
import { b } from './b';

export function one(): number {
  const x = 1;

  return x + a;
}

export class Two {
  run() {
    return b;
  }
}
`;

/** Bytes of a PNG-like file (with NULs) to be named .txt. */
export function binaryBytes(): Buffer {
  const bytes = Buffer.alloc(4096);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(bytes);
  for (let i = 8; i < bytes.length; i++) bytes[i] = (i * 7919) % 251;
  return bytes;
}
