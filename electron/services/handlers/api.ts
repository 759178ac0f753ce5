import type { ApiController } from '../../api/api-controller';
import type { HandlerSlice } from './handler-slice';

/** The local API server's status and key. */
export function apiHandlers(api: ApiController): HandlerSlice<'api'> {
  return {
    'api.status': () => api.status(),
    'api.regenerateKey': () => api.regenerateKey(),
  };
}
