import { timingSafeEqual, createHash, randomBytes } from 'node:crypto';
import os from 'node:os';

/** A fresh secret for each launch of the headless host. */
export function createLaunchSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison that does not leak the secret's length either. */
export function secretsMatch(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const loopbackNames = ['127.0.0.1', 'localhost', '[::1]'];

export { isLoopbackAddress } from '../../shared/loopback';

const bracketed = (host: string) => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);

/**
 * The Host header values this server answers to. Checking Host defeats DNS
 * rebinding (a hostile name resolving to 127.0.0.1; Ollama CVE-2024-28224).
 */
export function allowedHostHeaders(bindHost: string, port: number): Set<string> {
  const names = new Set(loopbackNames);
  if (bindHost === '0.0.0.0' || bindHost === '::') {
    for (const list of Object.values(os.networkInterfaces())) {
      for (const entry of list ?? []) names.add(entry.family === 'IPv6' ? `[${entry.address}]` : entry.address);
    }
  } else {
    names.add(bracketed(bindHost));
  }
  return new Set([...names].map((name) => `${name}:${port}`.toLowerCase()));
}

export function isAllowedHost(hostHeader: string | undefined, allowed: Set<string>): boolean {
  return typeof hostHeader === 'string' && allowed.has(hostHeader.toLowerCase());
}

/**
 * A browser always sends Origin on a WebSocket handshake; only this server's
 * own pages may connect (no cross-site WebSocket hijacking). Clients that are
 * not browsers send none and are held to the secret alone.
 */
export function isAllowedOrigin(origin: string | undefined, allowed: Set<string>): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && url.pathname === '/' && allowed.has(url.host.toLowerCase());
}
