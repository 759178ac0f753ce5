/** The local OpenAI-compatible API server, as the settings UI sees it. */

export interface ApiStatus {
  /** Whether it should run (the setting, or the command line of `npm run serve`). */
  enabled: boolean;
  running: boolean;
  /** The base URL clients use, e.g. http://127.0.0.1:4849/v1; null while not running. */
  url: string | null;
  host: string;
  port: number;
  /** The bearer key clients send (Authorization: Bearer …). */
  key: string;
  /** Whether the key is checked; always true on an address other than loopback. */
  requireKey: boolean;
  corsOrigins: string[];
  idleUnloadMinutes: number;
  /** Why it is not running although enabled (port in use, say). */
  error: string | null;
  /** "command-line" when `npm run serve` flags decide, so the switch in settings does not. */
  managedBy: 'settings' | 'command-line';
}
