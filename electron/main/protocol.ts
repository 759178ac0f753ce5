import { promises as fs } from 'node:fs';
import path from 'node:path';
import { contentTypes, resolveRealStaticPath, securityHeaders } from '../host/static-files';
import { APP_HOST } from './security';

/**
 * Answers app://freehold/<path> from the built renderer folder only; any other
 * host, or a path that leads out of the folder (through a symlink too), is a
 * 404. Responses carry the CSP.
 */
export async function handleAppRequest(rendererDir: string, request: { url: string }): Promise<Response> {
  const url = new URL(request.url);
  const notFound = () => new Response('Not found', { status: 404, headers: securityHeaders });
  if (url.host !== APP_HOST) return notFound();
  const pathname = url.pathname === '/' ? '/index.html' : url.pathname;
  let file = await resolveRealStaticPath(rendererDir, pathname);
  let data = file ? await fs.readFile(file).catch(() => undefined) : undefined;
  if (!data && path.extname(pathname) === '') {
    file = await resolveRealStaticPath(rendererDir, '/index.html');
    data = file ? await fs.readFile(file).catch(() => undefined) : undefined;
  }
  if (!file || !data) return notFound();
  return new Response(new Uint8Array(data), {
    status: 200,
    headers: { ...securityHeaders, 'Content-Type': contentTypes[path.extname(file)] ?? 'application/octet-stream' },
  });
}
