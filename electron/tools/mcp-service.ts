import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport, type StdioServerParameters } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError, ToolListChangedNotificationSchema, type ContentBlock, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { RpcError } from '../../shared/errors';
import {
  addServerSchema,
  serverNameSchema,
  setToolSchema,
  TOOL_LIMITS,
  type ImportResult,
  type McpServerConfig,
  type McpServerInfo,
  type McpToolInfo,
} from '../../shared/tools';
import { prepareCheckedSchema, SchemaChecker, type CheckResult } from '../formats/json-schema-check';
import { describeKeywords } from '../formats/json-schema-support';
import { SerialFileWriter } from '../platform/atomic-file';
import { parseMcpJson, serializeMcpJson, type McpJson, type McpServerEntry } from './mcp-config';

export interface McpServiceOptions {
  dataDir: string;
  /** Called (coalesced) whenever what snapshot() returns may have changed. */
  onChanged: () => void;
  log: (line: string) => void;
  /** Per tool call; TOOL_LIMITS.callTimeoutMs by default. */
  callTimeoutMs?: number;
  /** For a server to start, answer `initialize` and list its tools; 20 s by default. */
  startTimeoutMs?: number;
  /** Whether to run the servers (false for the CLI, which only edits the file). */
  connect?: boolean;
}

export interface McpSnapshot {
  servers: McpServerInfo[];
  configFile: string;
  /** Why mcp.json cannot be read (it is then left as it is, and changes are refused until it is fixed). */
  configError: string | null;
  /** Entries of mcp.json that are left out (kept in the file as they are), with the reason. */
  skipped: Array<{ name: string; reason: string }>;
}

export interface AvailableTool {
  server: string;
  tool: string;
  description: string;
  /** The tool's JSON schema as the server gave it (it passes prepareCheckedSchema, without strict). */
  inputSchema: Record<string, unknown>;
}

export interface ToolCallOutcome {
  ok: boolean;
  text: string;
  truncated: boolean;
}

/** Characters of a stdio server's stderr kept, for the reason it failed. */
const STDERR_TAIL_CHARS = 4096;
/**
 * The largest message a stdio server may send: the SDK buffers a whole line
 * before parsing it (its default bound, 10 MiB, is under a 10 MB tool result
 * once in JSON), copying the buffer on every chunk, so the cost grows with
 * the square of the size. A server that sends more is closed.
 */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const MAX_TOOL_PAGES = 100;
const MAX_TOOLS = 1000;
const DEFAULT_START_TIMEOUT_MS = 20_000;
/** How often mcp.json is checked for changes made by another process. */
const FILE_POLL_MS = 1500;
const CLIENT_INFO = { name: 'Freehold', version: '0.1.0' };

/**
 * The SDK's stdio transport (argv, no shell; the environment it is given plus
 * its minimal PATH/HOME/USER set), which also tells how the program ended:
 * the SDK keeps the exit code to itself.
 */
class ObservedStdioTransport extends StdioClientTransport {
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  onexit?: () => void;
  private child: ChildProcess | undefined;

  override async start(): Promise<void> {
    await super.start();
    // The SDK's own handle on the process (private there): for its exit status, and to kill it.
    this.child = (this as unknown as { _process?: ChildProcess })._process;
    this.child?.once('exit', (code, signal) => {
      this.exit = { code, signal };
      this.onexit?.();
    });
  }

  kill(signal: NodeJS.Signals): void {
    try {
      if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    } catch {
      // gone already
    }
  }
}

interface ListedTool {
  tool: Tool;
  unusable: string | null;
  /** Keywords of its schema checked after the model writes a call, and those nobody checks (in words). */
  checkedAfter: string[];
  unchecked: string[];
}

/** A server of the configuration that runs (or ran and failed) here. */
interface Live {
  name: string;
  entry: McpServerEntry;
  /** The configuration it was started with: another means a restart. */
  key: string;
  state: 'starting' | 'running' | 'failed';
  failure: string | null;
  tools: ListedTool[];
  client: Client | null;
  transport: ObservedStdioTransport | StreamableHTTPClientTransport | null;
  stderr: string;
  /** Closed on purpose (removed, turned off, restarted, or the service closed). */
  stopped: boolean;
  overflow: boolean;
  listings: number;
  errorsLogged: number;
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

function describeSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

const base64Bytes = (data: string) => Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);

const clip = (text: string, max = 500) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** What went wrong, in words, for the server's state and the model. Never includes the configured headers or env. */
function describeError(error: unknown, config: McpServerConfig): string {
  if (error instanceof StreamableHTTPError) {
    const detail = error.message.replace(/^Streamable HTTP error: (Error POSTing to endpoint: )?/, '').trim();
    if (error.code === 401)
      return `the server refused the request: HTTP 401 Unauthorized (check the server's headers, e.g. "Authorization: Bearer …")`;
    if (error.code === 403) return `the server refused the request: HTTP 403 Forbidden${detail ? ` (${clip(detail, 200)})` : ''}`;
    if (error.code === 404) return `HTTP 404 Not Found: is the URL the server's MCP endpoint (often ending in /mcp)?`;
    if (error.code === 405) return `HTTP 405 Method Not Allowed: the URL may be an SSE endpoint, which Freehold does not support`;
    return `${error.code !== undefined && error.code > 0 ? `HTTP ${error.code}: ` : ''}${clip(detail || 'the server answered with an error')}`;
  }
  if (error instanceof McpError) return clip(error.message);
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (config.transport === 'stdio' && code === 'ENOENT')
      return `the program "${clip(config.command, 200)}" was not found${path.isAbsolute(config.command) ? '' : ' on the PATH'}${config.cwd ? ` (or the folder ${clip(config.cwd, 200)} does not exist)` : ''}`;
    if (config.transport === 'stdio' && code === 'EACCES') return `"${clip(config.command, 200)}" cannot be run (permission denied)`;
    const cause = (error as { cause?: unknown }).cause;
    if (config.transport === 'http' && cause instanceof Error) {
      const causeCode = (cause as NodeJS.ErrnoException).code;
      let where = 'the server';
      try {
        where = new URL(config.url).host; // not the whole URL: its query may hold a token
      } catch {
        // keep "the server"
      }
      return `could not reach ${where}: ${clip(causeCode ?? cause.message, 200)}`;
    }
    return clip(error.message || String(error));
  }
  return clip(String(error));
}

function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.signal ? `the program was ended by ${exit.signal}` : `the program exited with code ${exit.code}`;
}

/** The text of a tool's result: its text items, a placeholder for the rest, its structured content when there is no text. */
function resultText(result: Record<string, unknown>): string[] {
  const parts: string[] = [];
  const content = Array.isArray(result.content) ? (result.content as ContentBlock[]) : [];
  let hasText = false;
  for (const item of content) {
    switch (item.type) {
      case 'text':
        hasText = true;
        parts.push(item.text);
        break;
      case 'image':
      case 'audio':
        parts.push(`[${item.mimeType || item.type}, ${describeSize(base64Bytes(item.data))}]`);
        break;
      case 'resource': {
        const resource = item.resource;
        if ('text' in resource && typeof resource.text === 'string') {
          hasText = true;
          parts.push(`[resource ${clip(resource.uri, 300)}]\n${resource.text}`);
        } else if ('blob' in resource && typeof resource.blob === 'string') {
          parts.push(
            `[resource ${clip(resource.uri, 300)}, ${resource.mimeType ?? 'binary'}, ${describeSize(base64Bytes(resource.blob))}]`,
          );
        }
        break;
      }
      case 'resource_link':
        parts.push(`[link: ${clip(item.name, 200)} ${clip(item.uri, 300)}]`);
        break;
      default:
        parts.push(`[${String((item as { type?: unknown }).type).slice(0, 40)}]`);
    }
  }
  if (!hasText && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent));
  if (!hasText && result.toolResult !== undefined) parts.push(JSON.stringify(result.toolResult)); // a pre-2025 server's result
  return parts;
}

/** Joins the parts, keeping at most `max` characters and saying so when it cuts. */
export function boundText(parts: string[], max: number = TOOL_LIMITS.maxResultChars): { text: string; truncated: boolean } {
  let total = 0;
  for (const [i, part] of parts.entries()) total += part.length + (i > 0 ? 1 : 0);
  if (total <= max) return { text: parts.join('\n'), truncated: false };
  let text = '';
  for (const part of parts) {
    text += (text ? '\n' : '') + part.slice(0, max - text.length);
    if (text.length >= max) break;
  }
  text = text.slice(0, max);
  // Not half a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(text)) text = text.slice(0, -1);
  const fmt = (n: number) => n.toLocaleString('en-US');
  return { text: `${text}\n… [cut: the tool returned ${fmt(total)} characters; the first ${fmt(text.length)} are shown]`, truncated: true };
}

/** What the user should see of a stdio server's stderr: without terminal escapes and control characters. */
function cleanTail(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '')
      .trim()
  );
}

/**
 * The MCP servers the user configured in `<dataDir>/mcp.json`: runs each
 * enabled one (a stdio program, or a Streamable HTTP endpoint), lists its
 * tools and calls them. Another process (the CLI, an editor) may change the
 * file; a running service follows it within seconds. A server that stops is
 * marked failed with the reason and is not restarted until the user asks (or
 * its configuration changes).
 */
export class McpService {
  private doc: McpJson = { servers: new Map(), skipped: [], kept: new Map(), rest: {}, key: 'mcpServers' };
  private configError: string | null = null;
  private lastText: string | null = null;
  private readonly live = new Map<string, Live>();
  private readonly closing = new Set<Promise<void>>();
  private readonly writer: SerialFileWriter;
  private queue: Promise<unknown> = Promise.resolve();
  private emitTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
  /** The file's identity, size and times when it was last read. */
  private fileStamp: string | null = null;
  private closed = false;
  private readonly callTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly checker: SchemaChecker;

  constructor(private readonly options: McpServiceOptions) {
    this.writer = new SerialFileWriter(path.join(options.dataDir, 'mcp.json'));
    this.checker = new SchemaChecker({ log: options.log });
    this.callTimeoutMs = options.callTimeoutMs ?? TOOL_LIMITS.callTimeoutMs;
    this.startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  }

  get configFile(): string {
    return this.writer.file;
  }

  private get connecting(): boolean {
    return this.options.connect !== false && !this.closed;
  }

  async start(): Promise<void> {
    await this.enqueue(() => this.reload());
    if (this.connecting && !this.pollTimer) {
      // Another process (the CLI, a text editor) may change the file: follow it. Not with fs.watchFile,
      // which misses a change made before its own first look at the file (it takes that as the start).
      this.pollTimer = setInterval(() => void this.poll(), FILE_POLL_MS);
      this.pollTimer.unref();
    }
  }

  private async stamp(): Promise<string> {
    try {
      const stat = await fs.stat(this.writer.file);
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
    } catch {
      return 'none';
    }
  }

  private async poll(): Promise<void> {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      if ((await this.stamp()) !== this.fileStamp) await this.enqueue(() => this.reload());
    } catch {
      // closed meanwhile
    } finally {
      this.polling = false;
    }
  }

  /** Runs `task` after every earlier reload and change, so that they never interleave. */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => (this.closed ? Promise.reject(new RpcError('unavailable', 'Tools are shutting down.')) : task()));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reload(): Promise<void> {
    // Before reading: a change made after this is seen by the next poll.
    this.fileStamp = await this.stamp();
    let text: string;
    try {
      text = await fs.readFile(this.writer.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.setConfigError(`mcp.json cannot be read: ${(error as Error).message}`);
        return;
      }
      text = '';
    }
    if (text === this.lastText) return;
    this.lastText = text;
    try {
      this.doc = parseMcpJson(text);
    } catch (error) {
      // The servers of the last good version keep running; the file is left for the user to fix.
      this.setConfigError(
        `mcp.json has an error: ${(error as Error).message} Freehold leaves the file as it is and changes no server until it is fixed.`,
      );
      return;
    }
    if (this.configError) this.options.log('mcp: mcp.json is readable again');
    this.configError = null;
    for (const { name, reason } of this.doc.skipped) this.options.log(`mcp: "${clip(name, 64)}" in mcp.json is left out: ${reason}`);
    this.reconcile();
  }

  private setConfigError(message: string): void {
    if (this.configError !== message) this.options.log(`mcp: ${message}`);
    this.configError = message;
    this.changed();
  }

  /** Starts the servers the configuration has and runs none of those it no longer has (or has turned off); restarts the changed ones. */
  private reconcile(): void {
    if (this.connecting) {
      for (const [name, live] of this.live) {
        const entry = this.doc.servers.get(name);
        if (!entry || entry.disabled) {
          this.stop(live);
          this.live.delete(name);
        }
      }
      for (const [name, entry] of this.doc.servers) {
        if (entry.disabled) continue;
        const live = this.live.get(name);
        if (live && live.key === JSON.stringify(entry.config)) {
          live.entry = entry;
          continue;
        }
        if (live) this.stop(live);
        this.launch(name, entry);
      }
    }
    // The first reading is the starting point, not a change (the servers' own start announces itself).
    if (this.reconciled) this.changed();
    this.reconciled = true;
  }

  private reconciled = false;

  private changed(): void {
    if (this.emitTimer || this.closed) return;
    this.emitTimer = setTimeout(() => {
      this.emitTimer = null;
      if (!this.closed) this.options.onChanged();
    }, 50);
  }

  private launch(name: string, entry: McpServerEntry): void {
    const live: Live = {
      name,
      entry,
      key: JSON.stringify(entry.config),
      state: 'starting',
      failure: null,
      tools: [],
      client: null,
      transport: null,
      stderr: '',
      stopped: false,
      overflow: false,
      listings: 0,
      errorsLogged: 0,
    };
    this.live.set(name, live);
    void this.run(live);
  }

  private async run(live: Live): Promise<void> {
    const { config } = live.entry;
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    live.client = client;
    const timer = setTimeout(() => {
      this.fail(live, `it did not finish starting within ${seconds(this.startTimeoutMs)}`);
      if (live.transport instanceof ObservedStdioTransport) live.transport.kill('SIGTERM');
    }, this.startTimeoutMs);
    try {
      live.transport = config.transport === 'stdio' ? this.stdioTransport(live, config) : this.httpTransport(config);
      client.onerror = (error) => {
        if (/ReadBuffer exceeded/.test(error.message)) live.overflow = true;
        if (live.errorsLogged++ < 10) this.options.log(`mcp: ${live.name}: ${clip(error.message, 300)}`);
      };
      // While it starts, the failed step (or the process's exit) tells more than the closed connection.
      client.onclose = () => {
        if (live.state !== 'starting') this.fail(live, this.closedReason(live));
      };
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        if (live.state !== 'running') return;
        this.listTools(live).then(
          () => this.changed(),
          (error: unknown) => this.options.log(`mcp: ${live.name}: listing its tools again failed: ${describeError(error, config)}`),
        );
      });
      this.options.log(`mcp: starting ${live.name} (${config.transport})`);
      await client.connect(live.transport, { timeout: this.startTimeoutMs + 1000 });
      if (live.stopped || live.state !== 'starting') return;
      await this.listTools(live);
      if (live.stopped || live.state !== 'starting') return;
      live.state = 'running';
      this.options.log(`mcp: ${live.name} is running with ${live.tools.length} tool${live.tools.length === 1 ? '' : 's'}`);
      this.changed();
    } catch (error) {
      if (live.stopped || live.state !== 'starting') return;
      // Let the process's exit and last output arrive: they say more than "Connection closed".
      await new Promise((resolve) => setImmediate(resolve));
      const closed = error instanceof McpError && error.code === ErrorCode.ConnectionClosed;
      this.fail(live, closed ? this.closedReason(live) : describeError(error, config));
    } finally {
      clearTimeout(timer);
    }
  }

  private closedReason(live: Live): string {
    return live.overflow
      ? `it sent a message larger than ${describeSize(MAX_MESSAGE_BYTES)}, the most Freehold reads, and was closed`
      : 'the connection to it was closed';
  }

  private stdioTransport(live: Live, config: Extract<McpServerConfig, { transport: 'stdio' }>): ObservedStdioTransport {
    const params: StdioServerParameters = {
      command: config.command,
      args: config.args,
      // Only these: never this process's environment (API keys, tokens) beyond the SDK's PATH/HOME/USER set.
      env: { ...getDefaultEnvironment(), ...config.env },
      stderr: 'pipe',
      maxBufferSize: MAX_MESSAGE_BYTES,
      ...(config.cwd ? { cwd: config.cwd } : {}),
    };
    const transport = new ObservedStdioTransport(params);
    const stderr = transport.stderr as Readable | null;
    stderr?.setEncoding('utf8');
    stderr?.on('data', (chunk: string) => {
      live.stderr = (live.stderr + chunk).slice(-STDERR_TAIL_CHARS);
    });
    // The SDK closes a server whose message is too large: that, rather than the exit it causes, is the reason.
    transport.onexit = () => this.fail(live, live.overflow ? this.closedReason(live) : describeExit(transport.exit!));
    return transport;
  }

  private httpTransport(config: Extract<McpServerConfig, { transport: 'http' }>): StreamableHTTPClientTransport {
    const url = new URL(config.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('the URL must start with http:// or https://');
    return new StreamableHTTPClientTransport(url, { requestInit: { headers: config.headers } });
  }

  /** Lists the server's tools (every page), replacing what was listed unless a later listing started meanwhile. */
  private async listTools(live: Live): Promise<void> {
    const client = live.client;
    if (!client) return;
    const listing = ++live.listings;
    const tools: Tool[] = [];
    let cursor: string | undefined;
    // A server without tools (only prompts or resources) is running with none.
    const hasTools = client.getServerCapabilities()?.tools !== undefined;
    for (let page = 0; hasTools && page < MAX_TOOL_PAGES && tools.length < MAX_TOOLS; page++) {
      const result = await client.listTools(cursor === undefined ? undefined : { cursor }, { timeout: this.startTimeoutMs });
      tools.push(...result.tools);
      cursor = result.nextCursor;
      if (!cursor) break;
    }
    if (listing !== live.listings || live.stopped) return;
    const seen = new Set<string>();
    live.tools = [];
    for (const tool of tools) {
      if (seen.has(tool.name) || live.tools.length >= MAX_TOOLS) continue;
      seen.add(tool.name);
      // What the grammar cannot hold is relaxed and checked after the model writes the call; refused only when
      // the schema is past the bounds or the validator cannot read it.
      const prepared = prepareCheckedSchema(tool.inputSchema, false);
      live.tools.push(
        prepared.ok
          ? { tool, unusable: null, checkedAfter: describeKeywords(prepared.relaxed), unchecked: describeKeywords(prepared.ignored) }
          : { tool, unusable: `its arguments' schema cannot be used: ${prepared.problem}`, checkedAfter: [], unchecked: [] },
      );
    }
  }

  /** Marks the server failed (the first reason wins), and ends its connection and process. */
  private fail(live: Live, reason: string): void {
    if (live.stopped || live.state === 'failed') return;
    live.state = 'failed';
    live.failure = reason;
    live.tools = [];
    this.options.log(`mcp: ${live.name} failed: ${reason}`);
    const client = live.client;
    live.client = null;
    if (client) this.track(client.close().catch(() => undefined));
    this.changed();
  }

  private stop(live: Live): void {
    live.stopped = true;
    const client = live.client;
    live.client = null;
    if (client) this.track(client.close().catch(() => undefined));
  }

  private track(closing: Promise<void>): void {
    this.closing.add(closing);
    void closing.finally(() => this.closing.delete(closing));
  }

  private errorOf(live: Live): string | null {
    if (live.state !== 'failed') return null;
    const tail = cleanTail(live.stderr);
    return `${live.failure ?? 'it stopped'}${tail ? `. Its last output:\n${tail}` : ''}`;
  }

  private info(name: string, entry: McpServerEntry): McpServerInfo {
    const live = this.live.get(name);
    const running = live?.state === 'running' && !entry.disabled;
    return {
      name,
      config: entry.config,
      enabled: !entry.disabled,
      state: entry.disabled ? 'disabled' : (live?.state ?? 'starting'),
      error: live && !entry.disabled ? this.errorOf(live) : null,
      tools: running
        ? live.tools.map(({ tool, unusable, checkedAfter, unchecked }): McpToolInfo => ({
            name: tool.name,
            description: tool.description ?? tool.title ?? '',
            inputSchema: tool.inputSchema as Record<string, unknown>,
            enabled: !entry.disabledTools.includes(tool.name),
            alwaysAllow: entry.alwaysAllow.includes(tool.name),
            unusable,
            checkedAfter,
            unchecked,
          }))
        : [],
    };
  }

  /**
   * The configured servers with their state and tools. Without `connect`
   * (the CLI) an enabled server is listed as "starting".
   */
  snapshot(): McpSnapshot {
    return {
      servers: [...this.doc.servers].map(([name, entry]) => this.info(name, entry)),
      configFile: this.writer.file,
      configError: this.configError,
      skipped: this.doc.skipped.map((s) => ({ ...s })),
    };
  }

  /** The tools a model may be offered: of running, enabled servers; enabled, and with a schema the grammar enforces. */
  availableTools(): AvailableTool[] {
    const out: AvailableTool[] = [];
    for (const [name, entry] of this.doc.servers) {
      const live = this.live.get(name);
      if (entry.disabled || live?.state !== 'running') continue;
      for (const { tool, unusable } of live.tools) {
        if (unusable || entry.disabledTools.includes(tool.name)) continue;
        out.push({
          server: name,
          tool: tool.name,
          description: tool.description ?? tool.title ?? '',
          inputSchema: tool.inputSchema as Record<string, unknown>,
        });
      }
    }
    return out;
  }

  isAlwaysAllowed(server: string, tool: string): boolean {
    const entry = this.doc.servers.get(server);
    return !!entry && !entry.disabled && !entry.disabledTools.includes(tool) && entry.alwaysAllow.includes(tool);
  }

  /**
   * Calls a tool. Never throws for what goes wrong on the tool's side (an error
   * result, a server that is not running or stops, a timeout, arguments it
   * refuses, an abort): those are `ok: false` with a message for the model.
   */
  /**
   * Checks a call's arguments against the tool's whole input schema, on the
   * checker's thread (json-schema-check.ts). A tool no longer listed passes:
   * `call` says what became of it.
   */
  checkArguments(server: string, tool: string, args: Record<string, unknown>): Promise<CheckResult> {
    const listed = this.live.get(server)?.tools.find((t) => t.tool.name === tool);
    if (!listed) return Promise.resolve({ valid: true });
    return this.checker.check(listed.tool.inputSchema, args);
  }

  async call(server: string, tool: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolCallOutcome> {
    const failed = (text: string): ToolCallOutcome => ({ ok: false, text, truncated: false });
    const entry = this.doc.servers.get(server);
    if (!entry) return failed(`There is no MCP server named "${clip(server, 64)}".`);
    if (entry.disabled) return failed(`The MCP server ${server} is turned off.`);
    if (entry.disabledTools.includes(tool)) return failed(`The tool ${clip(tool, 200)} of ${server} is turned off.`);
    const live = this.live.get(server);
    const client = live?.client;
    if (!live || live.state !== 'running' || !client) {
      const why = live?.state === 'failed' ? `: ${this.errorOf(live)}` : live?.state === 'starting' ? ' yet (it is starting)' : '';
      return failed(`The MCP server ${server} is not running${why}.`);
    }
    if (!live.tools.some((t) => t.tool.name === tool)) return failed(`The MCP server ${server} has no tool named "${clip(tool, 200)}".`);
    if (signal?.aborted) return failed('stopped');
    try {
      const result = await client.callTool({ name: tool, arguments: args }, undefined, {
        timeout: this.callTimeoutMs,
        ...(signal ? { signal } : {}),
      });
      const { text, truncated } = boundText(resultText(result));
      if (result.isError === true) return { ok: false, text: text || `${tool} failed (it gave no message).`, truncated };
      return { ok: true, text, truncated };
    } catch (error) {
      if (signal?.aborted) return failed('stopped');
      // A stopped process: its exit status comes before the connection's end, its last output just after.
      await new Promise((resolve) => setImmediate(resolve));
      if (live.stopped) return failed(`${server} stopped while running ${tool}: it was restarted, turned off or removed.`);
      // (Its state may have changed while the call ran.)
      if ((live.state as Live['state']) === 'failed') return failed(`${server} stopped while running ${tool}: ${this.errorOf(live)}`);
      if (error instanceof McpError && error.code === ErrorCode.RequestTimeout)
        return failed(`${tool} (${server}) did not answer within ${seconds(this.callTimeoutMs)}.`);
      if (error instanceof McpError) return failed(`${server} refused the call to ${tool}: ${clip(error.message)}`);
      return failed(`The call to ${tool} (${server}) failed: ${describeError(error, entry.config)}`);
    }
  }

  /**
   * Applies `change` to the configuration as it is on disk now, saves it and
   * runs what it now says; `change` returns what to answer once that is done.
   */
  private mutate<T>(change: (doc: McpJson) => () => T): Promise<T> {
    return this.enqueue(async () => {
      await this.reload();
      if (this.configError) throw new RpcError('conflict', this.configError);
      const answer = change(this.doc);
      const text = serializeMcpJson(this.doc);
      await fs.mkdir(this.options.dataDir, { recursive: true });
      await this.writer.write(text);
      this.lastText = text;
      this.reconcile();
      return answer();
    });
  }

  private entry(doc: McpJson, name: string): McpServerEntry {
    const entry = doc.servers.get(name);
    if (!entry) throw new RpcError('not_found', `No MCP server named "${clip(name, 64)}".`);
    return entry;
  }

  /**
   * Adds a server, or replaces the one of that name. A replaced server keeps
   * its tool settings only when its configuration is the same (another
   * program's tools are not allowed to run unasked because of a name).
   */
  async add(name: string, config: McpServerConfig): Promise<McpServerInfo> {
    const parsed = addServerSchema.safeParse({ name, config });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new RpcError('invalid_input', `${issue.path.join('.') || 'server'}: ${issue.message}`);
    }
    const valid = parsed.data;
    return this.mutate((doc) => {
      const previous = doc.servers.get(valid.name);
      const same = previous && JSON.stringify(previous.config) === JSON.stringify(valid.config);
      doc.servers.set(valid.name, {
        config: valid.config,
        disabled: false,
        disabledTools: same ? previous.disabledTools : [],
        alwaysAllow: same ? previous.alwaysAllow : [],
        extra: previous?.extra ?? {},
      });
      this.unkeep(doc, valid.name);
      this.options.log(`mcp: ${previous ? 'replaced' : 'added'} ${valid.name}`);
      return () => this.info(valid.name, doc.servers.get(valid.name)!);
    });
  }

  private unkeep(doc: McpJson, name: string): void {
    doc.kept.delete(name);
    doc.skipped = doc.skipped.filter((s) => s.name !== name);
  }

  /** Removes a server (or an entry that was left out). */
  remove(name: string): Promise<void> {
    return this.mutate((doc) => {
      if (!doc.servers.has(name) && !doc.kept.has(name)) this.entry(doc, name);
      doc.servers.delete(name);
      this.unkeep(doc, name);
      this.options.log(`mcp: removed ${name}`);
      return () => undefined;
    });
  }

  setEnabled(name: string, enabled: boolean): Promise<McpServerInfo> {
    return this.mutate((doc) => {
      const entry = this.entry(doc, name);
      entry.disabled = !enabled;
      return () => this.info(name, entry);
    });
  }

  async setTool(server: string, tool: string, change: { enabled?: boolean; alwaysAllow?: boolean }): Promise<McpServerInfo> {
    const parsed = setToolSchema.safeParse({ server, tool, ...change });
    if (!parsed.success) throw new RpcError('invalid_input', parsed.error.issues[0]!.message);
    return this.mutate((doc) => {
      const entry = this.entry(doc, server);
      const toggle = (list: string[], on: boolean) => (on ? [...new Set([...list, tool])] : list.filter((t) => t !== tool));
      if (change.enabled !== undefined) entry.disabledTools = toggle(entry.disabledTools, !change.enabled);
      if (change.alwaysAllow !== undefined) entry.alwaysAllow = toggle(entry.alwaysAllow, change.alwaysAllow);
      return () => this.info(server, entry);
    });
  }

  /** Starts the server again (after it failed, or to pick up a new version of the program). */
  async restart(name: string): Promise<McpServerInfo> {
    if (!serverNameSchema.safeParse(name).success) throw new RpcError('not_found', `No MCP server named "${clip(name, 64)}".`);
    return this.enqueue(async () => {
      await this.reload();
      const entry = this.entry(this.doc, name);
      if (entry.disabled) throw new RpcError('invalid_input', `${name} is turned off: turn it on to start it.`);
      if (!this.connecting) return this.info(name, entry);
      const live = this.live.get(name);
      if (live) this.stop(live);
      this.launch(name, entry);
      this.changed();
      return this.info(name, entry);
    });
  }

  /** Adds the servers of another app's mcp.json (replacing those of the same names) and starts them. */
  async importJson(text: string): Promise<ImportResult> {
    let parsed: McpJson;
    try {
      parsed = parseMcpJson(text);
    } catch (error) {
      throw new RpcError('invalid_input', `That is not an MCP configuration. ${(error as Error).message}`);
    }
    return this.mutate((doc) => {
      const result: ImportResult = { added: [], replaced: [], skipped: parsed.skipped };
      for (const [name, entry] of parsed.servers) {
        (doc.servers.has(name) || doc.kept.has(name) ? result.replaced : result.added).push(name);
        doc.servers.set(name, entry);
        this.unkeep(doc, name);
      }
      this.options.log(`mcp: imported ${result.added.length + result.replaced.length} server(s), skipped ${result.skipped.length}`);
      return () => result;
    });
  }

  /** Closes every connection (stdio programs are ended) and stops following the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    if (this.emitTimer) clearTimeout(this.emitTimer);
    this.emitTimer = null;
    for (const live of this.live.values()) this.stop(live);
    this.live.clear();
    await Promise.all([...this.closing]);
    await this.writer.flush();
    await this.checker.close();
  }
}
