import http from 'node:http';
import https from 'node:https';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

/**
 * GET with Node's own http client, following redirects (the hub answers a file
 * request with a redirect to its CDN). Node streams carry the body at several
 * times the speed of fetch's web streams, which matters for multi-GB models.
 * Authorization is dropped when a redirect leaves the original host.
 */
export function httpGet(url: string, headers: Record<string, string>, signal: AbortSignal, redirects = 5): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
    if (!client) return reject(new Error(`Unsupported URL scheme in ${url}`));
    const req = client.get(target, { headers, signal }, (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.resume();
        if (redirects <= 0) return reject(new Error('Too many redirects'));
        const next = new URL(location, target);
        const nextHeaders = { ...headers };
        if (next.host !== target.host) delete nextHeaders.Authorization;
        httpGet(next.toString(), nextHeaders, signal, redirects - 1).then(resolve, reject);
        return;
      }
      resolve({ status, headers: res.headers, body: res });
    });
    req.on('error', reject);
  });
}
