import type { ApiStatus } from '../../shared/api';
import type { Settings } from '../../shared/settings';
import { isLoopbackAddress } from '../../shared/loopback';

/** `npm run serve` flags: they win over the settings. */
export interface ApiOverride {
  enabled?: boolean;
  host?: string;
  port?: number;
}

/** How the API server should run: the settings, with `npm run serve` flags winning; the key is forced off loopback. */
export function apiConfig(api: Settings['api'], override: ApiOverride = {}) {
  const host = override.host ?? api.host;
  return {
    enabled: override.enabled ?? api.enabled,
    host,
    port: override.port ?? api.port,
    requireKey: api.requireKey || !isLoopbackAddress(host),
    corsOrigins: api.corsOrigins,
  };
}

/** The status the UI shows, from the configuration and what the server is doing now (a pure function: fake hosts use it too). */
export function apiStatus(
  api: Settings['api'],
  override: ApiOverride | undefined,
  now: { server: { port: number; url: string } | undefined; key: string; error: string | null },
): ApiStatus {
  const config = apiConfig(api, override);
  return {
    ...config,
    // The port it really listens on (port 0 in settings or on the command line means any free one).
    port: now.server?.port ?? config.port,
    running: now.server !== undefined,
    url: now.server?.url ?? null,
    key: now.key,
    idleUnloadMinutes: api.idleUnloadMinutes,
    error: config.enabled ? now.error : null,
    managedBy: override?.enabled !== undefined ? 'command-line' : 'settings',
  };
}
