// A minimal hub on 127.0.0.1 for the download benchmark, in its own process so
// that neither the app nor curl shares its event loop. Serves one file.
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';

const [file, sha256] = process.argv.slice(2);
const size = statSync(file).size;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (/\/api\/models\/.+\/revision\//.test(url.pathname)) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(
      JSON.stringify({
        _id: 'b',
        id: 'bench/model',
        sha: 'benchrev',
        downloads: 0,
        likes: 0,
        lastModified: new Date().toISOString(),
        private: false,
        gated: false,
      }),
    );
  }
  if (/\/api\/models\/.+\/tree\//.test(url.pathname)) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify([{ type: 'file', path: 'bench-Q8_0.gguf', size, oid: 'x', lfs: { oid: sha256, size } }]));
  }
  if (url.pathname.includes('/resolve/')) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Number(m[2]) : size - 1;
    res.writeHead(m ? 206 : 200, {
      'Content-Length': end - start + 1,
      ...(m ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
      'Accept-Ranges': 'bytes',
    });
    return createReadStream(file, { start, end, highWaterMark: 1024 * 1024 }).pipe(res);
  }
  res.writeHead(404);
  res.end();
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
