/**
 * `mcp.json`: the MCP servers the user configured, in the `mcpServers` format
 * that Claude Desktop, Cursor, LM Studio and Cline read and write, so the same
 * file can be copied between them. Freehold's own keys beside each server are
 * Cline's: `disabled`, `disabledTools` and `alwaysAllow`.
 *
 *     { "mcpServers": {
 *         "files": { "command": "npx", "args": ["-y", "…"], "env": { "K": "v" }, "cwd": "/x" },
 *         "web": { "type": "http", "url": "https://…/mcp", "headers": { "Authorization": "Bearer …" } } } }
 *
 * Read leniently (VS Code's `{"servers": …}`, `"type": "streamable-http"`,
 * comments and trailing commas), written back in the common form; another
 * app's keys on an entry or beside `mcpServers` survive a rewrite, and so do
 * the entries Freehold cannot use (kept as they were, reported as skipped).
 */
import { RpcError } from '../../shared/errors';
import { serverConfigSchema, serverNameSchema, type McpServerConfig } from '../../shared/tools';

export interface McpServerEntry {
  config: McpServerConfig;
  disabled: boolean;
  /** Tools the user turned off (never offered to a model). */
  disabledTools: string[];
  /** Tools that run without asking. */
  alwaysAllow: string[];
  /** The entry's other keys (another app's), written back unchanged. */
  extra: Record<string, unknown>;
}

export interface McpJson {
  servers: Map<string, McpServerEntry>;
  /** Entries left out, with the reason. */
  skipped: Array<{ name: string; reason: string }>;
  /** The skipped entries as they were in the file, written back unchanged. */
  kept: Map<string, unknown>;
  /** The file's other top-level keys (another app's settings), written back unchanged. */
  rest: Record<string, unknown>;
  /** Which key holds the servers: `mcpServers`, or `servers` in VS Code's files. */
  key: 'mcpServers' | 'servers';
}

export const SSE_UNSUPPORTED = 'SSE servers are not supported; use Streamable HTTP';

const stdioKeys = new Set(['command', 'args', 'env', 'cwd']);
const httpKeys = new Set(['url', 'serverUrl', 'headers']);
const ownKeys = new Set(['disabled', 'disabledTools', 'alwaysAllow', 'transport']);
const httpTypes = new Set(['http', 'streamable-http', 'streamablehttp', 'streamable_http']);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Removes // and /* comments and trailing commas outside strings (VS Code's mcp.json is JSONC). */
function stripJsonc(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 1;
      out += ' ';
    } else out += c;
  }
  return out.replace(/,(\s*[}\]])/g, '$1');
}

function parseJsonLenient(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    try {
      return JSON.parse(stripJsonc(text));
    } catch {
      throw new RpcError('invalid_input', `It is not valid JSON: ${(error as Error).message}`);
    }
  }
}

/** Environment or header values: strings, with numbers and booleans taken as their text. */
function stringMap(value: unknown, what: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw new Error(`"${what}" must be an object of names and values`);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === 'string') out[key] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
    else throw new Error(`"${what}.${key.slice(0, 60)}" must be a string`);
  }
  return out;
}

const stringList = (value: unknown): string[] =>
  Array.isArray(value) ? [...new Set(value.filter((v): v is string => typeof v === 'string' && v.length > 0 && v.length <= 200))] : [];

/** One entry, or the reason it cannot be used. */
function parseEntry(raw: unknown): McpServerEntry {
  if (!isObject(raw)) throw new Error('it is not an object');
  const typeValue = raw.type ?? raw.transport;
  const type = typeof typeValue === 'string' ? typeValue.toLowerCase() : undefined;
  if (typeValue !== undefined && typeof typeValue !== 'string') throw new Error('"type" must be a string');
  if (type === 'sse') throw new Error(SSE_UNSUPPORTED);
  const url = raw.url ?? raw.serverUrl;
  let candidate: Record<string, unknown>;
  let known: Set<string>;
  if (raw.command !== undefined && (type === undefined || type === 'stdio')) {
    if (raw.args !== undefined && !Array.isArray(raw.args)) throw new Error('"args" must be a list of strings');
    const args = (raw.args as unknown[] | undefined) ?? [];
    if (args.some((a) => typeof a !== 'string')) throw new Error('"args" must be a list of strings');
    candidate = {
      transport: 'stdio',
      command: raw.command,
      args,
      env: stringMap(raw.env, 'env'),
      cwd: raw.cwd === undefined || raw.cwd === '' ? null : raw.cwd,
    };
    known = stdioKeys;
  } else if (url !== undefined && (type === undefined || httpTypes.has(type))) {
    candidate = { transport: 'http', url, headers: stringMap(raw.headers, 'headers') };
    known = httpKeys;
  } else if (type !== undefined && type !== 'stdio' && !httpTypes.has(type)) {
    throw new Error(`servers of type "${type.slice(0, 40)}" are not supported (stdio and http are)`);
  } else {
    throw new Error('it needs a "command" (a program to run) or a "url" (a Streamable HTTP endpoint)');
  }
  const parsed = serverConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `"${issue.path.join('.')}"` : 'the entry';
    throw new Error(`${where}: ${issue.message}`);
  }
  // No prototype: a key named "__proto__" stays a key.
  const extra: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw)) {
    if (known.has(key) || ownKeys.has(key)) continue;
    // The type is written anew for http entries; a stdio entry keeps its own ("stdio" in VS Code's files).
    if (key === 'type' && parsed.data.transport === 'http') continue;
    extra[key] = value;
  }
  return {
    config: parsed.data,
    disabled: raw.disabled === true,
    disabledTools: stringList(raw.disabledTools),
    alwaysAllow: stringList(raw.alwaysAllow),
    extra,
  };
}

/**
 * Reads an mcp.json file: Claude Desktop, Cursor, LM Studio and Cline's
 * `{"mcpServers": …}`, VS Code's `{"servers": …}`, or the bare object of
 * servers. Entries that cannot be used are skipped with the reason; a file
 * that is not JSON, or not an object of servers, throws invalid_input.
 */
export function parseMcpJson(text: string): McpJson {
  const root = text.trim() === '' ? {} : parseJsonLenient(text);
  if (!isObject(root)) throw new RpcError('invalid_input', 'It is not a JSON object with "mcpServers".');
  let key: McpJson['key'] = 'mcpServers';
  let map: Record<string, unknown>;
  let rest: Record<string, unknown>;
  if ('mcpServers' in root || 'servers' in root) {
    key = 'mcpServers' in root ? 'mcpServers' : 'servers';
    const value = root[key];
    if (!isObject(value)) throw new RpcError('invalid_input', `"${key}" must be an object with a key for each server.`);
    map = value;
    rest = Object.fromEntries(Object.entries(root).filter(([k]) => k !== key));
  } else {
    // A pasted snippet without the wrapper: { "name": { "command": … } }.
    const entries = Object.values(root);
    if (entries.length > 0 && !entries.every((e) => isObject(e) && ('command' in e || 'url' in e || 'serverUrl' in e)))
      throw new RpcError('invalid_input', 'It has no "mcpServers" (or "servers") object.');
    map = root;
    rest = {};
  }
  const doc: McpJson = { servers: new Map(), skipped: [], kept: new Map(), rest, key };
  for (const [name, raw] of Object.entries(map)) {
    const named = serverNameSchema.safeParse(name);
    try {
      if (!named.success) throw new Error(`the name is not usable (${named.error.issues[0]!.message})`);
      doc.servers.set(name, parseEntry(raw));
    } catch (error) {
      doc.skipped.push({ name, reason: (error as Error).message });
      doc.kept.set(name, raw);
    }
  }
  return doc;
}

/** One entry as other apps read it: stdio without a type, http with `"type": "http"`. */
export function serializeEntry(entry: McpServerEntry): Record<string, unknown> {
  const { config } = entry;
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (config.transport === 'stdio') {
    if (typeof entry.extra.type === 'string') out.type = entry.extra.type;
    out.command = config.command;
    out.args = config.args;
    if (Object.keys(config.env).length > 0) out.env = config.env;
    if (config.cwd !== null) out.cwd = config.cwd;
  } else {
    out.type = 'http';
    out.url = config.url;
    if (Object.keys(config.headers).length > 0) out.headers = config.headers;
  }
  for (const [key, value] of Object.entries(entry.extra)) if (!(key in out)) out[key] = value;
  if (entry.disabled) out.disabled = true;
  if (entry.disabledTools.length > 0) out.disabledTools = entry.disabledTools;
  if (entry.alwaysAllow.length > 0) out.alwaysAllow = entry.alwaysAllow;
  return out;
}

/** The file's text: the servers (then the kept entries) under `key`, beside the file's other keys. */
export function serializeMcpJson(doc: Pick<McpJson, 'servers'> & Partial<Pick<McpJson, 'kept' | 'rest' | 'key'>>): string {
  const servers: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [name, entry] of doc.servers) servers[name] = serializeEntry(entry);
  for (const [name, raw] of doc.kept ?? []) if (!(name in servers)) servers[name] = raw;
  return `${JSON.stringify({ ...doc.rest, [doc.key ?? 'mcpServers']: servers }, null, 2)}\n`;
}
