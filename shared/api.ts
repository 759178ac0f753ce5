/** The local OpenAI-compatible API server, as the settings UI sees it. */
import { z } from 'zod';

export interface ApiStatus {
  /** Whether it should run (the setting, or the command line of `npm run serve`). */
  enabled: boolean;
  running: boolean;
  /** The base URL clients use, e.g. http://127.0.0.1:4849/v1; null while not running. */
  url: string | null;
  host: string;
  port: number;
  /** The key named "default", which this computer's UI may show (Authorization: Bearer …). */
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

/** The name of the key that this computer's UI shows, kept from before there were named keys. */
export const DEFAULT_KEY_NAME = 'default';

/** One API key as it is listed: never the key itself, which is stored only as a hash. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  /** The first characters after "fh-": not secret, enough to tell keys apart. */
  prefix: string;
  createdAt: string;
  /** When a request last came with it; null if never. */
  lastUsedAt: string | null;
  /** Requests that came with it. */
  requests: number;
  /** Tokens it was served: prompt and completion (embeddings: their input). */
  tokens: number;
  /** The key named "default": this computer's UI shows it, and it is replaced (New key…) rather than revoked. */
  isDefault: boolean;
}

/** A key just made: `secret` is shown this once and kept nowhere. */
export interface CreatedApiKey {
  key: ApiKeyInfo;
  secret: string;
}

export const API_KEY_NAME_RULE = 'A key name is 1 to 60 characters: letters, digits, spaces and . _ @ -, beginning with a letter or digit.';

/** A key's name: unique (ignoring case), shown in lists and in the request log. */
export const apiKeyNameSchema = z
  .string()
  .trim()
  .min(1, API_KEY_NAME_RULE)
  .max(60, API_KEY_NAME_RULE)
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} ._@-]*$/u, API_KEY_NAME_RULE);

export const createApiKeySchema = z.object({ name: apiKeyNameSchema }).strict();
export const apiKeyIdSchema = z.object({ id: z.string().min(1).max(100) }).strict();
