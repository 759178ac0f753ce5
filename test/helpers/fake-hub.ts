import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  path: string;
  data: Buffer;
  /** Serve other bytes than the listed sha256 (a corrupt mirror). */
  corruptWith?: Buffer;
  /** List this size instead of the data's (a file larger than any disk). */
  listedSize?: number;
}

export interface FakeRepo {
  id: string;
  author: string;
  downloads: number;
  likes: number;
  lastModified: string;
  sha: string;
  license?: string;
  gated?: boolean;
  files: FakeFile[];
}

/** Fault modes, set per test: the hub misbehaving the ways real networks do. */
export interface FaultModes {
  /** Drop the connection after this many body bytes, this many times. */
  dropAfterBytes?: { bytes: number; times: number };
  /** Answer range requests with the whole file (200) this many times. */
  ignoreRange?: number;
  /** Answer 429 with Retry-After: seconds, this many times. */
  tooManyRequests?: { times: number; retryAfterSeconds: number };
  /** Answer 503 this many times. */
  serverError?: number;
  /** Pause this long between chunks (a slow transfer). */
  chunkDelayMs?: number;
  chunkBytes?: number;
  /** Require this bearer token for gated repos. */
  token?: string;
}

export interface FakeHub {
  url: string;
  repos: FakeRepo[];
  faults: FaultModes;
  requests: Array<{ method: string; url: string; range?: string; authorization?: string }>;
  close(): Promise<void>;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * A Hugging Face hub on 127.0.0.1 for tests: model search with Link-header
 * pagination (and each repo's file names, with expand=siblings), model info,
 * file trees with LFS oids, and file downloads with Range support, plus fault
 * modes.
 */
export async function startFakeHub(repos: FakeRepo[], pageSize = 2): Promise<FakeHub> {
  const faults: FaultModes = {};
  const requests: FakeHub['requests'] = [];
  const sockets = new Set<import('node:net').Socket>();
  let base = '';

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', base);
    requests.push({
      method: req.method ?? 'GET',
      url: url.pathname + url.search,
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };

    if (url.pathname === '/api/models') {
      const query = (url.searchParams.get('search') ?? '').toLowerCase();
      const sort = url.searchParams.get('sort') ?? 'downloads';
      const tags = url.searchParams.getAll('filter');
      let list = repos.filter((r) => r.id.toLowerCase().includes(query));
      if (tags.includes('gguf')) list = list.filter((r) => r.files.some((f) => f.path.endsWith('.gguf')));
      list.sort((a, b) =>
        sort === 'likes'
          ? b.likes - a.likes
          : sort === 'lastModified'
            ? b.lastModified.localeCompare(a.lastModified)
            : b.downloads - a.downloads,
      );
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 1000), pageSize);
      const page = list.slice(offset, offset + limit);
      const headers: Record<string, string> = {};
      if (offset + limit < list.length) {
        const next = new URL(url);
        next.searchParams.set('offset', String(offset + limit));
        headers.Link = `<${next.toString()}>; rel="next"`;
      }
      return json(
        200,
        page.map((r) => ({
          _id: `id-${r.id}`,
          id: r.id,
          author: r.author,
          downloads: r.downloads,
          likes: r.likes,
          lastModified: r.lastModified,
          private: false,
          gated: r.gated ?? false,
          pipeline_tag: 'text-generation',
          // The file list, where asked for (expand=siblings), as the hub sends it.
          ...(url.searchParams.getAll('expand').includes('siblings') ? { siblings: r.files.map((f) => ({ rfilename: f.path })) } : {}),
        })),
        headers,
      );
    }

    const info = /^\/api\/models\/(.+?)\/revision\/([^/]+)$/.exec(url.pathname);
    if (info) {
      const repo = repos.find((r) => r.id === info[1]);
      if (!repo) return json(404, { error: 'Repository not found' });
      return json(200, {
        _id: `id-${repo.id}`,
        id: repo.id,
        author: repo.author,
        downloads: repo.downloads,
        likes: repo.likes,
        lastModified: repo.lastModified,
        private: false,
        gated: repo.gated ?? false,
        sha: repo.sha,
        cardData: { license: repo.license ?? 'apache-2.0', base_model: 'Example/base' },
        pipeline_tag: 'text-generation',
      });
    }

    const tree = /^\/api\/models\/(.+?)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      const repo = repos.find((r) => r.id === tree[1]);
      if (!repo) return json(404, { error: 'Repository not found' });
      return json(
        200,
        repo.files.map((f) => ({
          type: 'file',
          path: f.path,
          size: f.listedSize ?? f.data.length,
          oid: `git-${f.path}`,
          lfs: { oid: sha256(f.data), size: f.listedSize ?? f.data.length, pointerSize: 134 },
        })),
      );
    }

    const resolve = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const repo = repos.find((r) => r.id === resolve[1]);
      const file = repo?.files.find((f) => f.path === decodeURIComponent(resolve[3]!));
      if (!repo || !file) return json(404, { error: 'Entry not found' });
      if (repo.gated && req.headers.authorization !== `Bearer ${faults.token}`)
        return json(401, { error: 'Access to this model is restricted.' });
      // Faults hit downloads (no range, or an open-ended one); header probes (bytes=a-b) pass.
      const probe = /^bytes=\d+-\d+$/.test(req.headers.range ?? '');
      if (probe) return serve(req, res, file, false);
      if (faults.tooManyRequests && faults.tooManyRequests.times > 0) {
        faults.tooManyRequests.times -= 1;
        return json(429, { error: 'Too many requests' }, { 'Retry-After': String(faults.tooManyRequests.retryAfterSeconds) });
      }
      if (faults.serverError && faults.serverError > 0) {
        faults.serverError -= 1;
        return json(503, { error: 'Service unavailable' });
      }
      return serve(req, res, file, true);
    }
    json(404, { error: 'Not found' });
  });

  function serve(req: http.IncomingMessage, res: http.ServerResponse, file: FakeFile, withFaults: boolean): void {
    {
      const body = file.corruptWith ?? file.data;
      let start = 0;
      let status = 200;
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const headers: Record<string, string> = {
        'Content-Type': 'application/octet-stream',
        'Accept-Ranges': 'bytes',
        ETag: `"${sha256(file.data)}"`,
      };
      let end = body.length - 1;
      if (range && !(withFaults && faults.ignoreRange && faults.ignoreRange > 0)) {
        start = Number(range[1]);
        if (range[2]) end = Math.min(end, Number(range[2]));
        if (start >= body.length) {
          res.writeHead(416, { 'Content-Range': `bytes */${body.length}` });
          res.end();
          return;
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${body.length}`;
      } else if (range && withFaults && faults.ignoreRange) {
        faults.ignoreRange -= 1;
      }
      headers['Content-Length'] = String(end - start + 1);
      res.writeHead(status, headers);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const slice = body.subarray(start, end + 1);
      const drop = withFaults && faults.dropAfterBytes && faults.dropAfterBytes.times > 0 ? faults.dropAfterBytes : undefined;
      if (drop) drop.times -= 1;
      const chunk = (withFaults && faults.chunkBytes) || 64 * 1024;
      let sent = 0;
      const pump = () => {
        while (sent < slice.length) {
          if (drop && sent >= drop.bytes) {
            req.socket.destroy();
            return;
          }
          const size = Math.min(chunk, slice.length - sent, drop ? Math.max(1, drop.bytes - sent) : Infinity);
          const ok = res.write(slice.subarray(sent, sent + size));
          sent += size;
          if (withFaults && faults.chunkDelayMs) {
            setTimeout(pump, faults.chunkDelayMs);
            return;
          }
          if (!ok) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    }
  }
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    repos,
    faults,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
