/**
 * `<dataDir>/mcp.json` as the MCP service (mcp-service.ts) holds it: read,
 * followed while another process (the CLI, a text editor) changes it, and
 * written back after a change. Every reading and change runs in turn, never
 * interleaved. A file that cannot be read is left as it is, and changes are
 * refused until it is fixed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import { SerialFileWriter } from '../platform/atomic-file';
import { parseMcpJson, serializeMcpJson, type McpJson } from './mcp-config';
import { clip } from './mcp-text';

/** How often mcp.json is checked for changes made by another process. */
const FILE_POLL_MS = 1500;

export interface McpConfigFileOptions {
  dataDir: string;
  log: (line: string) => void;
  /** The document was read anew or changed here: what runs should follow it. */
  onLoaded: () => void;
  /** Reading the file failed; `error` says why. */
  onError: () => void;
}

export class McpConfigFile {
  doc: McpJson = { servers: new Map(), skipped: [], kept: new Map(), rest: {}, key: 'mcpServers' };
  /** Why mcp.json cannot be read, or null. */
  error: string | null = null;
  private lastText: string | null = null;
  private readonly writer: SerialFileWriter;
  private queue: Promise<unknown> = Promise.resolve();
  private pollTimer: NodeJS.Timeout | null = null;
  private polling = false;
  /** The file's identity, size and times when it was last read. */
  private fileStamp: string | null = null;
  private closed = false;

  constructor(private readonly options: McpConfigFileOptions) {
    this.writer = new SerialFileWriter(path.join(options.dataDir, 'mcp.json'));
  }

  get file(): string {
    return this.writer.file;
  }

  /** Reads the file again whenever another process changes it. */
  follow(): void {
    if (this.pollTimer || this.closed) return;
    // Not with fs.watchFile, which misses a change made before its own first look at the file (it takes that as the start).
    this.pollTimer = setInterval(() => void this.poll(), FILE_POLL_MS);
    this.pollTimer.unref();
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

  /** Runs `task` after every earlier reading and change, so that they never interleave. */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => (this.closed ? Promise.reject(new RpcError('unavailable', 'Tools are shutting down.')) : task()));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Reads the file (within a task of `enqueue`). */
  async reload(): Promise<void> {
    // Before reading: a change made after this is seen by the next poll.
    this.fileStamp = await this.stamp();
    let text: string;
    try {
      text = await fs.readFile(this.writer.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.setError(`mcp.json cannot be read: ${(error as Error).message}`);
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
      this.setError(
        `mcp.json has an error: ${(error as Error).message} Freehold leaves the file as it is and changes no server until it is fixed.`,
      );
      return;
    }
    if (this.error) this.options.log('mcp: mcp.json is readable again');
    this.error = null;
    for (const { name, reason } of this.doc.skipped) this.options.log(`mcp: "${clip(name, 64)}" in mcp.json is left out: ${reason}`);
    this.options.onLoaded();
  }

  private setError(message: string): void {
    if (this.error !== message) this.options.log(`mcp: ${message}`);
    this.error = message;
    this.options.onError();
  }

  /**
   * Applies `change` to the document as it is on disk now and saves it;
   * `change` returns what to answer once what runs follows it.
   */
  mutate<T>(change: (doc: McpJson) => () => T): Promise<T> {
    return this.enqueue(async () => {
      await this.reload();
      if (this.error) throw new RpcError('conflict', this.error);
      const answer = change(this.doc);
      const text = serializeMcpJson(this.doc);
      await fs.mkdir(this.options.dataDir, { recursive: true });
      await this.writer.write(text);
      this.lastText = text;
      this.options.onLoaded();
      return answer();
    });
  }

  /** Stops following the file and refuses further tasks. */
  close(): void {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  /** Waits for the last write. */
  flush(): Promise<void> {
    return this.writer.flush();
  }
}
