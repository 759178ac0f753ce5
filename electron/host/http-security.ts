import { timingSafeEqual, createHash, randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
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

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4'); // also matches IPv4-mapped IPv6 (::ffff:127.x.y.z)
loopback.addAddress('::1', 'ipv6');

/**
 * Whether a bind address reaches this machine only. An IP literal counts if it
 * is in 127.0.0.0/8 or is ::1 (any spelling, brackets allowed, IPv4-mapped
 * too); of names, only `localhost`, which resolves to loopback by definition
 * (RFC 6761 §6.3). Anything else, `127.lan` or `127.1` included, is a name the
 * resolver may send elsewhere, so it is not loopback and the API key is forced.
 */
export function isLoopbackAddress(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const address = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(address);
  if (family === 0) return false;
  return loopback.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

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
