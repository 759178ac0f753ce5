/**
 * Who may call the local API: a Host header naming this server (DNS
 * rebinding), only the listed browser origins (CORS, never "*"), and a bearer
 * key, found by its hash in constant time. Checked before any body is read.
 * Each request remembers the key it came with (for the log and the key's
 * counters) and is ended if that key is revoked while it runs.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { isAllowedHost, secretsMatch } from '../platform/http-security';
import type { KeyIdentity } from './api-keys';
import { ApiError } from './responses';

/** Refusals made before the body is read: the connection is closed rather than left to a client that may still be sending. */
export const closingStatuses = new Set([401, 403, 408, 413, 415, 421]);

/** Which keys open the API, and what they were served. */
export interface ApiKeyAuthority {
  /** The key `secret` is, or null (unknown, or revoked). */
  identify(secret: string): Promise<KeyIdentity | null> | KeyIdentity | null;
  /** Whether the key `id` still opens the API (not revoked since it was identified). */
  has(id: string): boolean;
  /** Counts a request or tokens served with a key. */
  recordUse(id: string, usage: { requests?: number; tokens?: number }): void;
  /** Called at once with the ids of keys revoked; returns the unsubscribe. */
  onRevoked(listener: (ids: string[]) => void): () => void;
}

/** One key, `key()`, named "default" (servers in tests, and tools that hold one key). */
export function singleKey(key: () => string): ApiKeyAuthority {
  return {
    identify: (secret) => (secretsMatch(secret, key()) ? { id: 'default', name: 'default' } : null),
    has: () => true,
    recordUse: () => undefined,
    onRevoked: () => () => undefined,
  };
}

export interface AccessRules {
  /** The Host headers this server answers to (known once it listens). */
  allowedHosts: () => Set<string>;
  corsOrigins: Set<string>;
  requireKey: boolean;
  keys: ApiKeyAuthority;
}

/** What a request came with, for the routes and the log. */
export interface ServedRequest {
  /** The key it came with; null where none was required and none (or an unknown one) was given. */
  key: KeyIdentity | null;
  /** Aborted, with the ApiError to answer, when its key is revoked while it runs. */
  revoked: AbortSignal;
  /** Tokens served so far (prompt and completion). */
  tokens: number;
}

const served = new WeakMap<IncomingMessage, ServedRequest>();

/** The key a request came with and its revocation signal (undefined before the access check ran). */
export function servedRequest(request: IncomingMessage): ServedRequest | undefined {
  return served.get(request);
}

/** An error for a request whose key was revoked while it ran. */
export function revokedKeyError(name: string): ApiError {
  return new ApiError(
    401,
    `The API key "${name}" was revoked while this request ran; it was stopped. Ask for a new key.`,
    'authentication_error',
    'invalid_api_key',
  );
}

/** Requests running now, by the id of the key they came with: revoking the key aborts them. */
export type RunningByKey = Map<string, { name: string; requests: Set<AbortController> }>;

export function checkAccess(
  app: FastifyInstance,
  rules: AccessRules & {
    running: RunningByKey;
  },
): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!isAllowedHost(request.headers.host, rules.allowedHosts())) {
      throw new ApiError(421, 'Host not allowed (this server answers to its own address only).', 'permission_error', 'host_not_allowed');
    }
    const origin = request.headers.origin;
    if (origin !== undefined) {
      // A browser page: only the listed origins, and they get their own entry back, never "*".
      if (!rules.corsOrigins.has(origin))
        throw new ApiError(
          403,
          "Origin not allowed: add it to the API server's allowed origins in settings.",
          'permission_error',
          'origin_not_allowed',
        );
      reply.raw.setHeader(
        'Access-Control-Allow-Origin',
        [...rules.corsOrigins].find((o) => o === origin)!,
      );
      reply.raw.setHeader('Vary', 'Origin');
      if (request.method === 'OPTIONS') {
        const asked = String(request.headers['access-control-request-headers'] ?? '');
        const headers = asked
          .split(',')
          .map((h) => h.trim().toLowerCase())
          .filter((h) => /^[a-z0-9-]{1,64}$/.test(h));
        reply.raw.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
        reply.raw.setHeader('Access-Control-Allow-Headers', headers.length ? headers.join(', ') : 'authorization, content-type');
        reply.raw.setHeader('Access-Control-Max-Age', '600');
        return reply.code(204).send();
      }
    } else if (request.method === 'OPTIONS') {
      return reply.code(204).send();
    }
    const header = request.headers.authorization;
    const given = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : null;
    let key = given ? await rules.keys.identify(given) : null;
    // Revoked while it was being looked up: as good as unknown.
    if (key && !rules.keys.has(key.id)) key = null;
    if (rules.requireKey && !key) {
      throw new ApiError(
        401,
        'Missing or wrong API key: send "Authorization: Bearer <key>" with a key from Freehold (Hardware → Local API server, or `freehold api keys add <name>`).',
        'authentication_error',
        'invalid_api_key',
      );
    }
    const revocation = new AbortController();
    served.set(request.raw, { key, revoked: revocation.signal, tokens: 0 });
    if (key) {
      rules.keys.recordUse(key.id, { requests: 1 });
      const entry = rules.running.get(key.id) ?? { name: key.name, requests: new Set<AbortController>() };
      entry.requests.add(revocation);
      rules.running.set(key.id, entry);
      reply.raw.once('close', () => {
        entry.requests.delete(revocation);
        if (entry.requests.size === 0 && rules.running.get(key.id) === entry) rules.running.delete(key.id);
      });
    }
  });
}
