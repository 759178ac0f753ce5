import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
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
import { SchemaChecker, type CheckResult } from '../formats/json-schema-check';
import { parseMcpJson, type McpJson, type McpServerEntry } from './mcp-config';
import { McpConfigFile } from './mcp-config-file';
import { McpConnection } from './mcp-connection';
import { boundText, clip, resultText, seconds } from './mcp-text';
import { describeError } from './mcp-transport';

export { boundText } from './mcp-text';

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

const DEFAULT_START_TIMEOUT_MS = 20_000;

/**
 * The MCP servers the user configured in `<dataDir>/mcp.json`: runs each
 * enabled one (a stdio program, or a Streamable HTTP endpoint), lists its
 * tools and calls them. Another process (the CLI, an editor) may change the
 * file; a running service follows it within seconds. A server that stops is
 * marked failed with the reason and is not restarted until the user asks (or
 * its configuration changes).
 *
 * The file is mcp-config-file.ts's, each running server an McpConnection
 * (mcp-connection.ts, over mcp-transport.ts), and a result's text is bounded
 * by mcp-text.ts; this class ties them together and answers the callers.
 */
export class McpService {
  private readonly config: McpConfigFile;
  private readonly live = new Map<string, McpConnection>();
  private readonly closing = new Set<Promise<void>>();
  private emitTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly callTimeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly checker: SchemaChecker;

  constructor(private readonly options: McpServiceOptions) {
    this.config = new McpConfigFile({
      dataDir: options.dataDir,
      log: (line) => this.options.log(line),
      onLoaded: () => this.reconcile(),
      onError: () => this.changed(),
    });
    this.checker = new SchemaChecker({ log: options.log });
    this.callTimeoutMs = options.callTimeoutMs ?? TOOL_LIMITS.callTimeoutMs;
    this.startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  }

  get configFile(): string {
    return this.config.file;
  }

  private get connecting(): boolean {
    return this.options.connect !== false && !this.closed;
  }

  async start(): Promise<void> {
    await this.config.enqueue(() => this.config.reload());
    // Another process (the CLI, a text editor) may change the file: follow it.
    if (this.connecting) this.config.follow();
  }

  /** Starts the servers the configuration has and runs none of those it no longer has (or has turned off); restarts the changed ones. */
  private reconcile(): void {
    if (this.connecting) {
      for (const [name, live] of this.live) {
        const entry = this.config.doc.servers.get(name);
        if (!entry || entry.disabled) {
          live.stop();
          this.live.delete(name);
        }
      }
      for (const [name, entry] of this.config.doc.servers) {
        if (entry.disabled) continue;
        const live = this.live.get(name);
        if (live && live.key === JSON.stringify(entry.config)) {
          live.entry = entry;
          continue;
        }
        if (live) live.stop();
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
    const live = new McpConnection(name, entry, {
      log: (line) => this.options.log(line),
      changed: () => this.changed(),
      track: (closing) => this.track(closing),
      startTimeoutMs: this.startTimeoutMs,
    });
    this.live.set(name, live);
    void live.run();
  }

  private track(closing: Promise<void>): void {
    this.closing.add(closing);
    void closing.finally(() => this.closing.delete(closing));
  }

  private info(name: string, entry: McpServerEntry): McpServerInfo {
    const live = this.live.get(name);
    const running = live?.state === 'running' && !entry.disabled;
    return {
      name,
      config: entry.config,
      enabled: !entry.disabled,
      state: entry.disabled ? 'disabled' : (live?.state ?? 'starting'),
      error: live && !entry.disabled ? live.error() : null,
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
      servers: [...this.config.doc.servers].map(([name, entry]) => this.info(name, entry)),
      configFile: this.config.file,
      configError: this.config.error,
      skipped: this.config.doc.skipped.map((s) => ({ ...s })),
    };
  }

  /** The tools a model may be offered: of running, enabled servers; enabled, and with a schema the grammar enforces. */
  availableTools(): AvailableTool[] {
    const out: AvailableTool[] = [];
    for (const [name, entry] of this.config.doc.servers) {
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
    const entry = this.config.doc.servers.get(server);
    return !!entry && !entry.disabled && !entry.disabledTools.includes(tool) && entry.alwaysAllow.includes(tool);
  }

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

  /**
   * Calls a tool. Never throws for what goes wrong on the tool's side (an error
   * result, a server that is not running or stops, a timeout, arguments it
   * refuses, an abort): those are `ok: false` with a message for the model.
   */
  async call(server: string, tool: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<ToolCallOutcome> {
    const failed = (text: string): ToolCallOutcome => ({ ok: false, text, truncated: false });
    const entry = this.config.doc.servers.get(server);
    if (!entry) return failed(`There is no MCP server named "${clip(server, 64)}".`);
    if (entry.disabled) return failed(`The MCP server ${server} is turned off.`);
    if (entry.disabledTools.includes(tool)) return failed(`The tool ${clip(tool, 200)} of ${server} is turned off.`);
    const live = this.live.get(server);
    const client = live?.client;
    if (!live || live.state !== 'running' || !client) {
      const why = live?.state === 'failed' ? `: ${live.error()}` : live?.state === 'starting' ? ' yet (it is starting)' : '';
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
      if ((live.state as McpConnection['state']) === 'failed') return failed(`${server} stopped while running ${tool}: ${live.error()}`);
      if (error instanceof McpError && error.code === ErrorCode.RequestTimeout)
        return failed(`${tool} (${server}) did not answer within ${seconds(this.callTimeoutMs)}.`);
      if (error instanceof McpError) return failed(`${server} refused the call to ${tool}: ${clip(error.message)}`);
      return failed(`The call to ${tool} (${server}) failed: ${describeError(error, entry.config)}`);
    }
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
    return this.config.mutate((doc) => {
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
    return this.config.mutate((doc) => {
      if (!doc.servers.has(name) && !doc.kept.has(name)) this.entry(doc, name);
      doc.servers.delete(name);
      this.unkeep(doc, name);
      this.options.log(`mcp: removed ${name}`);
      return () => undefined;
    });
  }

  setEnabled(name: string, enabled: boolean): Promise<McpServerInfo> {
    return this.config.mutate((doc) => {
      const entry = this.entry(doc, name);
      entry.disabled = !enabled;
      return () => this.info(name, entry);
    });
  }

  async setTool(server: string, tool: string, change: { enabled?: boolean; alwaysAllow?: boolean }): Promise<McpServerInfo> {
    const parsed = setToolSchema.safeParse({ server, tool, ...change });
    if (!parsed.success) throw new RpcError('invalid_input', parsed.error.issues[0]!.message);
    return this.config.mutate((doc) => {
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
    return this.config.enqueue(async () => {
      await this.config.reload();
      const entry = this.entry(this.config.doc, name);
      if (entry.disabled) throw new RpcError('invalid_input', `${name} is turned off: turn it on to start it.`);
      if (!this.connecting) return this.info(name, entry);
      const live = this.live.get(name);
      if (live) live.stop();
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
    return this.config.mutate((doc) => {
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
    this.config.close();
    if (this.emitTimer) clearTimeout(this.emitTimer);
    this.emitTimer = null;
    for (const live of this.live.values()) live.stop();
    this.live.clear();
    await Promise.all([...this.closing]);
    await this.config.flush();
    await this.checker.close();
  }
}
