import type { ApiController } from '../../api/api-controller';
import type { HandlerSlice } from './handler-slice';

/** The local API server's status, its default key, and the named keys. */
export function apiHandlers(api: ApiController): HandlerSlice<'api'> {
  return {
    'api.status': () => api.status(),
    'api.regenerateKey': () => api.regenerateKey(),
    'api.keys.list': () => api.listKeys(),
    'api.keys.create': ({ name }) => api.createKey(name),
    'api.keys.revoke': ({ id }) => api.revokeKey(id),
  };
}

/**
 * Methods that hand out a key or take one away: from this computer only (the
 * desktop app, the CLI, a browser on 127.0.0.1), never from a browser on
 * another machine; paired machines cannot call them either (their allow-list
 * in electron/machines/peer-handlers.ts leaves them out).
 */
export const localOnlyApiMethods = new Set(['api.keys.create', 'api.keys.revoke', 'api.regenerateKey'] as const);

export const LOCAL_ONLY_API_MESSAGE =
  'API keys are made and revoked only from this computer (the desktop app, `freehold api keys`, or a browser on 127.0.0.1).';
