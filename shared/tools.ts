/**
 * Tools in chat: MCP servers the user configured (stdio programs or
 * Streamable HTTP endpoints), their tools, and the calls a reply makes.
 * The configuration is kept in `<dataDir>/mcp.json` in the `mcpServers`
 * format that Claude Desktop, Cursor and LM Studio use, with Freehold's own
 * keys beside each server (`disabled`, `disabledTools`, `alwaysAllow`).
 */
import { z } from 'zod';

/** A server's name: its key in mcp.json, shown in the UI and used in tool names. */
export const serverNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, 'letters, digits, spaces, "_", "-" and "." only');

const envSchema = z
  .record(z.string().min(1).max(200), z.string().max(10_000))
  .refine((env) => Object.keys(env).length <= 100, 'at most 100');

export const stdioServerSchema = z
  .object({
    transport: z.literal('stdio'),
    /** The program; run as is with `args` (an argv, never through a shell). */
    command: z.string().min(1).max(4096),
    args: z.array(z.string().max(10_000)).max(200),
    /** The only variables it gets besides PATH, HOME and the like (see README). */
    env: envSchema,
    cwd: z.string().max(4096).nullable(),
  })
  .strict();

export const httpServerSchema = z
  .object({
    transport: z.literal('http'),
    url: z
      .string()
      .max(4096)
      .refine((u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL'),
    headers: envSchema,
  })
  .strict();

export const serverConfigSchema = z.discriminatedUnion('transport', [stdioServerSchema, httpServerSchema]);
export type McpServerConfig = z.infer<typeof serverConfigSchema>;

export type McpServerStateName = 'disabled' | 'starting' | 'running' | 'failed';

export interface McpToolInfo {
  name: string;
  description: string;
  /** The tool's JSON schema for its arguments, as the server gave it. */
  inputSchema: Record<string, unknown>;
  enabled: boolean;
  alwaysAllow: boolean;
  /** Why the tool cannot be offered to a model (its schema is past the bounds, or cannot be checked), if so. */
  unusable: string | null;
  /**
   * Keywords of its schema the grammar does not hold, checked against each call
   * once the model has written it, in words: "pattern (at url)".
   */
  checkedAfter: string[];
  /** Keywords neither holds nor checks (not validation keywords, or a format no validator knows). */
  unchecked: string[];
}

export interface McpServerInfo {
  name: string;
  config: McpServerConfig;
  enabled: boolean;
  state: McpServerStateName;
  /** Why it failed (the last lines of its stderr included for stdio servers). */
  error: string | null;
  tools: McpToolInfo[];
}

export interface ToolsSnapshot {
  servers: McpServerInfo[];
  /** Where the configuration lives. */
  configFile: string;
  /** Why the file could not be read (it is left as it is until fixed), if so. */
  configError: string | null;
  /** Entries of the file left out (an SSE server, an invalid entry), with the reason. */
  skipped: Array<{ name: string; reason: string }>;
  /** Whether this client may add or change stdio servers (not a browser on another machine). */
  canEditStdio: boolean;
}

export const addServerSchema = z.object({ name: serverNameSchema, config: serverConfigSchema }).strict();
export const serverRefSchema = z.object({ name: serverNameSchema }).strict();
export const setServerEnabledSchema = z.object({ name: serverNameSchema, enabled: z.boolean() }).strict();
export const setToolSchema = z
  .object({
    server: serverNameSchema,
    tool: z.string().min(1).max(200),
    enabled: z.boolean().optional(),
    alwaysAllow: z.boolean().optional(),
  })
  .strict();
/** The text of an mcp.json file (Claude Desktop, Cursor, LM Studio, VS Code's "servers"). */
export const importConfigSchema = z.object({ json: z.string().min(2).max(1_000_000) }).strict();
export interface ImportResult {
  added: string[];
  replaced: string[];
  /** Entries left out, with the reason. */
  skipped: Array<{ name: string; reason: string }>;
}

/** A tool call in a chat reply, stored with the message. */
/** `invalid`: not run, because its arguments do not match the tool's schema (the model was told why). */
export type ToolCallStatus = 'pending' | 'running' | 'done' | 'error' | 'denied' | 'invalid';

export interface ToolCallRecord {
  /** Unique within the message (call_…). */
  id: string;
  server: string;
  tool: string;
  /** The arguments as the model wrote them (JSON text). */
  arguments: string;
  status: ToolCallStatus;
  /** The tool's output (text, bounded), or the error returned to the model. */
  result: string | null;
  /** Whether the result was cut to the bound. */
  truncated: boolean;
  /** Where in the reply's text the call was made (characters of content before it). */
  textOffset: number;
  startedAt: string | null;
  endedAt: string | null;
}

export const toolDecisionSchema = z
  .object({
    conversationId: z.string().min(1).max(100),
    messageId: z.string().min(1).max(100),
    callId: z.string().min(1).max(100),
    decision: z.enum(['once', 'always', 'deny']),
  })
  .strict();
export type ToolDecision = z.infer<typeof toolDecisionSchema>;

/** Bounds on tool use in one reply. */
export const TOOL_LIMITS = {
  /** Model turns with tool calls before the reply is ended. */
  maxRounds: 8,
  /** Per call. */
  callTimeoutMs: 60_000,
  /** Characters of a tool's result kept and given to the model. */
  maxResultChars: 32_000,
} as const;
