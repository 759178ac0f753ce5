import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { ServerResponse } from 'node:http';

export const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** The renderer's Content-Security-Policy: only the app's own code, no inline script, no remote content. */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  // An audio attachment plays from its bytes (chats.attachment) as a data: URL.
  'media-src data:',
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

export const securityHeaders: Record<string, string> = {
  'Content-Security-Policy': contentSecurityPolicy,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

/**
 * Resolves a URL path inside root, or undefined when it would escape it.
 * Paths are never built from anything but the request path, normalized.
 */
export function resolveStaticPath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const relative = path.posix.normalize(decoded).replace(/^(\.\.(\/|$))+/, '');
  const resolved = path.resolve(root, `.${path.posix.sep}${relative}`);
  const rootWithSep = root.endsWith(path.sep) ? root : root + path.sep;
  if (resolved !== root && !resolved.startsWith(rootWithSep)) return undefined;
  return resolved;
}

/**
 * The real path (symlinks resolved) of a URL path inside root, or undefined
 * when it is missing or leads out of root: a link inside the UI folder that
 * points elsewhere is not followed out of it.
 */
export async function resolveRealStaticPath(root: string, urlPath: string): Promise<string | undefined> {
  const file = resolveStaticPath(root, urlPath);
  if (!file) return undefined;
  try {
    const [realRoot, realFile] = await Promise.all([fs.realpath(root), fs.realpath(file)]);
    const rootWithSep = realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep;
    return realFile === realRoot || realFile.startsWith(rootWithSep) ? realFile : undefined;
  } catch {
    return undefined;
  }
}

export async function serveStatic(root: string, urlPath: string, res: ServerResponse): Promise<void> {
  const requested = urlPath === '/' ? '/index.html' : urlPath;
  let file = await resolveRealStaticPath(root, requested);
  let stat = file ? await fs.stat(file).catch(() => undefined) : undefined;
  if (!file || !stat?.isFile()) {
    // Unknown paths without an extension get the app (client-side routes); others 404.
    if (path.extname(requested) !== '') {
      res.writeHead(404, { ...securityHeaders, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Not found');
      return;
    }
    file = await resolveRealStaticPath(root, '/index.html');
    stat = file ? await fs.stat(file).catch(() => undefined) : undefined;
    if (!file || !stat?.isFile()) {
      res.writeHead(503, { ...securityHeaders, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('The UI has not been built. Run "npm run build" first.');
      return;
    }
  }
  const ext = path.extname(file);
  res.writeHead(200, {
    ...securityHeaders,
    'Content-Type': contentTypes[ext] ?? 'application/octet-stream',
    'Content-Length': stat.size,
    'Cache-Control': ext === '.html' ? 'no-store' : 'public, max-age=31536000, immutable',
  });
  createReadStream(file).pipe(res);
}
