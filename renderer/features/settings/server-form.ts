import type { McpServerConfig } from '../../../shared/tools';

/** The fields of "Add a server" as typed. */
export interface ServerDraft {
  name: string;
  transport: 'stdio' | 'http';
  command: string;
  /** One argument per line. */
  args: string;
  /** KEY=value per line. */
  env: string;
  cwd: string;
  url: string;
  /** Name: value per line. */
  headers: string;
}

export const emptyDraft: ServerDraft = { name: '', transport: 'stdio', command: '', args: '', env: '', cwd: '', url: '', headers: '' };

export type DraftField = 'name' | 'command' | 'args' | 'env' | 'cwd' | 'url' | 'headers';
export type DraftErrors = Partial<Record<DraftField, string>>;

/** The rule of shared/tools.ts serverNameSchema, said in words. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]*$/;
const ENV_KEY = /^[^=\s]+$/;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_ENTRIES = 100;

/** The non-blank lines of a text field, each trimmed. */
function lines(text: string): Array<{ line: number; text: string }> {
  return text
    .split(/\r?\n/)
    .map((t, i) => ({ line: i + 1, text: t.trim() }))
    .filter((l) => l.text !== '');
}

/** "KEY=value" (or "Name: value") lines to a record; the first line that is not one is the error. */
function pairs(
  text: string,
  separator: string,
  keyRule: RegExp,
  what: string,
  shape: string,
): { ok: true; value: Record<string, string> } | { ok: false; error: string } {
  const value: Record<string, string> = {};
  for (const { line, text: t } of lines(text)) {
    const at = t.indexOf(separator);
    const key = at > 0 ? t.slice(0, at).trim() : '';
    if (!key || !keyRule.test(key)) return { ok: false, error: `Line ${line} is not ${shape}.` };
    if (key in value) return { ok: false, error: `${what} ${key} is given twice (line ${line}).` };
    value[key] = t.slice(at + 1).trim();
  }
  if (Object.keys(value).length > MAX_ENTRIES) return { ok: false, error: `At most ${MAX_ENTRIES} lines.` };
  return { ok: true, value };
}

/**
 * The draft as the host takes it (`tools.add`), or what is wrong with it,
 * field by field. Arguments are an argv: each line one argument as is (no
 * shell, no quotes to undo), blank lines left out.
 */
export function parseDraft(draft: ServerDraft): { ok: true; name: string; config: McpServerConfig } | { ok: false; errors: DraftErrors } {
  const errors: DraftErrors = {};
  const name = draft.name.trim();
  if (!name) errors.name = 'Give the server a name.';
  else if (name.length > 64) errors.name = 'At most 64 characters.';
  else if (!NAME.test(name)) errors.name = 'Letters, digits, spaces, “_”, “-” and “.” only, starting with a letter or digit.';

  if (draft.transport === 'stdio') {
    const command = draft.command.trim();
    if (!command) errors.command = 'Say which program to run (for example npx, node, uvx or a full path).';
    const args = lines(draft.args).map((l) => l.text);
    if (args.length > 200) errors.args = 'At most 200 arguments.';
    const env = pairs(draft.env, '=', ENV_KEY, 'Variable', 'KEY=value');
    if (!env.ok) errors.env = env.error;
    if (Object.keys(errors).length > 0 || !env.ok) return { ok: false, errors };
    const cwd = draft.cwd.trim();
    return { ok: true, name, config: { transport: 'stdio', command, args, env: env.value, cwd: cwd || null } };
  }

  const url = draft.url.trim();
  if (!url) errors.url = 'Give the server’s URL.';
  else if (!/^https?:\/\//i.test(url) || !parses(url)) errors.url = 'The URL must start with http:// or https://.';
  const headers = pairs(draft.headers, ':', HEADER_NAME, 'Header', 'Name: value');
  if (!headers.ok) errors.headers = headers.error;
  if (Object.keys(errors).length > 0 || !headers.ok) return { ok: false, errors };
  return { ok: true, name, config: { transport: 'http', url, headers: headers.value } };
}

function parses(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

/** One argument as a shell would need it to read it back: quoted when it has spaces or quotes. */
function quote(arg: string): string {
  return arg === '' || /[\s"'\\$`]/.test(arg) ? JSON.stringify(arg) : arg;
}

/** A stdio server's program and arguments as one line (`node server.mjs --flag`), or an HTTP server's URL. */
export function describeConfig(config: McpServerConfig): string {
  return config.transport === 'stdio' ? [config.command, ...config.args].map(quote).join(' ') : config.url;
}
