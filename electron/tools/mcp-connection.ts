/**
 * One configured MCP server that runs (or ran and failed) here, for the MCP
 * service (mcp-service.ts): its client and transport, its start within a
 * time limit, its tools (listed again when it says they changed), and the
 * reason it failed, which is kept and never retried on its own.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError, ToolListChangedNotificationSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../../shared/tools';
import { prepareCheckedSchema } from '../formats/json-schema-check';
import { describeKeywords } from '../formats/json-schema-support';
import type { McpServerEntry } from './mcp-config';
import { clip, describeSize, seconds } from './mcp-text';
import { cleanTail, describeError, describeExit, httpTransport, MAX_MESSAGE_BYTES, ObservedStdioTransport } from './mcp-transport';

const MAX_TOOL_PAGES = 100;
const MAX_TOOLS = 1000;
const CLIENT_INFO = { name: 'Freehold', version: '0.1.0' };

export interface ListedTool {
  tool: Tool;
  unusable: string | null;
  /** Keywords of its schema checked after the model writes a call, and those nobody checks (in words). */
  checkedAfter: string[];
  unchecked: string[];
}

/** What a connection needs of the service that holds it. */
export interface ConnectionHooks {
  log: (line: string) => void;
  /** What the service shows of the server may have changed. */
  changed: () => void;
  /** A client being closed, for the service's close to wait for. */
  track: (closing: Promise<void>) => void;
  /** For the server to start, answer `initialize` and list its tools. */
  startTimeoutMs: number;
}

export class McpConnection {
  /** The configuration it was started with: another means a restart. */
  readonly key: string;
  state: 'starting' | 'running' | 'failed' = 'starting';
  failure: string | null = null;
  tools: ListedTool[] = [];
  client: Client | null = null;
  /** Closed on purpose (removed, turned off, restarted, or the service closed). */
  stopped = false;
  private transport: ObservedStdioTransport | StreamableHTTPClientTransport | null = null;
  private overflow = false;
  private listings = 0;
  private errorsLogged = 0;

  constructor(
    readonly name: string,
    public entry: McpServerEntry,
    private readonly hooks: ConnectionHooks,
  ) {
    this.key = JSON.stringify(entry.config);
  }

  /** Connects and lists the tools; what goes wrong becomes its state, never an exception. */
  async run(): Promise<void> {
    const { config } = this.entry;
    const { startTimeoutMs, log } = this.hooks;
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    this.client = client;
    const timer = setTimeout(() => {
      this.fail(`it did not finish starting within ${seconds(startTimeoutMs)}`);
      if (this.transport instanceof ObservedStdioTransport) this.transport.kill('SIGTERM');
    }, startTimeoutMs);
    try {
      this.transport = config.transport === 'stdio' ? this.stdioTransport(config) : httpTransport(config);
      client.onerror = (error) => {
        if (/ReadBuffer exceeded/.test(error.message)) this.overflow = true;
        if (this.errorsLogged++ < 10) log(`mcp: ${this.name}: ${clip(error.message, 300)}`);
      };
      // While it starts, the failed step (or the process's exit) tells more than the closed connection.
      client.onclose = () => {
        if (this.state !== 'starting') this.fail(this.closedReason());
      };
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        if (this.state !== 'running') return;
        this.listTools().then(
          () => this.hooks.changed(),
          (error: unknown) => log(`mcp: ${this.name}: listing its tools again failed: ${describeError(error, config)}`),
        );
      });
      log(`mcp: starting ${this.name} (${config.transport})`);
      await client.connect(this.transport, { timeout: startTimeoutMs + 1000 });
      if (this.stopped || this.state !== 'starting') return;
      await this.listTools();
      if (this.stopped || this.state !== 'starting') return;
      this.state = 'running';
      log(`mcp: ${this.name} is running with ${this.tools.length} tool${this.tools.length === 1 ? '' : 's'}`);
      this.hooks.changed();
    } catch (error) {
      if (this.stopped || this.state !== 'starting') return;
      // Let the process's exit and last output arrive: they say more than "Connection closed".
      await new Promise((resolve) => setImmediate(resolve));
      const closed = error instanceof McpError && error.code === ErrorCode.ConnectionClosed;
      this.fail(closed ? this.closedReason() : describeError(error, config));
    } finally {
      clearTimeout(timer);
    }
  }

  private closedReason(): string {
    return this.overflow
      ? `it sent a message larger than ${describeSize(MAX_MESSAGE_BYTES)}, the most Freehold reads, and was closed`
      : 'the connection to it was closed';
  }

  private stdioTransport(config: Extract<McpServerConfig, { transport: 'stdio' }>): ObservedStdioTransport {
    const transport = new ObservedStdioTransport(config);
    // The SDK closes a server whose message is too large: that, rather than the exit it causes, is the reason.
    transport.onexit = () => this.fail(this.overflow ? this.closedReason() : describeExit(transport.exit!));
    return transport;
  }

  /** Lists the server's tools (every page), replacing what was listed unless a later listing started meanwhile. */
  private async listTools(): Promise<void> {
    const client = this.client;
    if (!client) return;
    const listing = ++this.listings;
    const tools: Tool[] = [];
    let cursor: string | undefined;
    // A server without tools (only prompts or resources) is running with none.
    const hasTools = client.getServerCapabilities()?.tools !== undefined;
    for (let page = 0; hasTools && page < MAX_TOOL_PAGES && tools.length < MAX_TOOLS; page++) {
      const result = await client.listTools(cursor === undefined ? undefined : { cursor }, { timeout: this.hooks.startTimeoutMs });
      tools.push(...result.tools);
      cursor = result.nextCursor;
      if (!cursor) break;
    }
    if (listing !== this.listings || this.stopped) return;
    const seen = new Set<string>();
    this.tools = [];
    for (const tool of tools) {
      if (seen.has(tool.name) || this.tools.length >= MAX_TOOLS) continue;
      seen.add(tool.name);
      // What the grammar cannot hold is relaxed and checked after the model writes the call; refused only when
      // the schema is past the bounds or the validator cannot read it.
      const prepared = prepareCheckedSchema(tool.inputSchema, false);
      this.tools.push(
        prepared.ok
          ? { tool, unusable: null, checkedAfter: describeKeywords(prepared.relaxed), unchecked: describeKeywords(prepared.ignored) }
          : { tool, unusable: `its arguments' schema cannot be used: ${prepared.problem}`, checkedAfter: [], unchecked: [] },
      );
    }
  }

  /** Marks the server failed (the first reason wins), and ends its connection and process. */
  private fail(reason: string): void {
    if (this.stopped || this.state === 'failed') return;
    this.state = 'failed';
    this.failure = reason;
    this.tools = [];
    this.hooks.log(`mcp: ${this.name} failed: ${reason}`);
    this.closeClient();
    this.hooks.changed();
  }

  /** Ends it on purpose. */
  stop(): void {
    this.stopped = true;
    this.closeClient();
  }

  private closeClient(): void {
    const client = this.client;
    this.client = null;
    if (client) this.hooks.track(client.close().catch(() => undefined));
  }

  /** Why it failed, with its last output; null unless it failed. */
  error(): string | null {
    if (this.state !== 'failed') return null;
    const tail = cleanTail(this.transport instanceof ObservedStdioTransport ? this.transport.stderrTail : '');
    return `${this.failure ?? 'it stopped'}${tail ? `. Its last output:\n${tail}` : ''}`;
  }
}
