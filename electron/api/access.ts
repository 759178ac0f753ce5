/**
 * Who may call the local API: a Host header naming this server (DNS
 * rebinding), only the listed browser origins (CORS, never "*"), and the
 * bearer key, compared in constant time. Checked before any body is read.
 */
import type { FastifyInstance } from 'fastify';
import { isAllowedHost, secretsMatch } from '../host/http-security';
import { ApiError } from './responses';

/** Refusals made before the body is read: the connection is closed rather than left to a client that may still be sending. */
export const closingStatuses = new Set([401, 403, 408, 413, 415, 421]);

export interface AccessRules {
  /** The Host headers this server answers to (known once it listens). */
  allowedHosts: () => Set<string>;
  corsOrigins: Set<string>;
  requireKey: boolean;
  key: () => string;
}

export function checkAccess(app: FastifyInstance, rules: AccessRules): void {
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
    if (rules.requireKey) {
      const header = request.headers.authorization;
      const given = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : null;
      if (!secretsMatch(given, rules.key())) {
        throw new ApiError(
          401,
          'Missing or wrong API key: send "Authorization: Bearer <key>" with the key shown in Freehold\'s settings.',
          'authentication_error',
          'invalid_api_key',
        );
      }
    }
  });
}
