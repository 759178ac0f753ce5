/**
 * llama.cpp's own `llama-server` as a second local engine (issue 25), its
 * first part: one server per loaded model (llama-server-process.ts: loopback,
 * a random key, tethered, its log kept), replies streamed from its OpenAI
 * endpoint into the same deltas and stats as the worker's, stopped per
 * request, and a server that dies mid-reply failing that reply with
 * llama.cpp's own reason while the next load starts afresh.
 *
 * Not yet behind the `Engine` interface the inference service calls, nor
 * chosen per model: those, tools, output formats, images and the parity suite
 * come next (the issue stays open until they do).
 */
import OpenAI from 'openai';
import { RpcError } from '../../shared/errors';
import type { ChatDelta, CompleteInput, GenerateInput, GenerateResult, LoadedModel } from '../../shared/inference';
import { openFileSource } from '../formats/file-source';
import { readGgufHeader } from '../formats/gguf-header';
import { ReplyReader } from '../machines/openai-reply';
import { serverRequestBody, ToolCallReader } from './server-request';
import { LlamaServerProcess } from './llama-server-process';

export interface ServerEngineOptions {
  /** The llama-server program (llama-engines.ts finds or builds it). */
  binary: () => Promise<string>;
  /** Threads for generation (the same rule as the worker's: threads.ts). */
  threads: () => number;
  log: (line: string) => void;
}

export interface ServerLoadInput {
  modelPath: string;
  /** Tokens of context per reply. */
  contextSize: number;
  /** Replies at once (llama-server's slots); each gets `contextSize`. */
  parallel?: number;
  /** Layers on the GPU (0 on a machine without one). */
  gpuLayers?: number;
}

/** The automatic context on llama.cpp's server: the model's trained size, at most `max` or 8,192 tokens. */
export const SERVER_AUTO_CONTEXT = 8192;

export async function serverAutoContext(modelPath: string, max: number | undefined): Promise<number> {
  const source = await openFileSource(modelPath);
  try {
    const header = await readGgufHeader(source);
    const architecture = header.metadata.get('general.architecture');
    const trained = header.metadata.get(`${String(architecture)}.context_length`);
    const cap = Math.min(max ?? SERVER_AUTO_CONTEXT, SERVER_AUTO_CONTEXT);
    return typeof trained === 'number' && trained > 0 ? Math.min(trained, cap) : cap;
  } finally {
    await source.close();
  }
}

interface Running {
  requestId: string;
  controller: AbortController;
}

export class ServerEngine {
  private server: LlamaServerProcess | null = null;
  private loaded: LoadedModel | undefined;
  private readonly running = new Map<string, Running>();
  /** Why the server ended on its own, for the replies it cut short. */
  private lost: string | null = null;

  constructor(private readonly options: ServerEngineOptions) {}

  get model(): LoadedModel | undefined {
    return this.loaded;
  }

  /** Starts a server for the model (ending the one before); resolves once it answers. */
  async load(input: ServerLoadInput): Promise<LoadedModel> {
    await this.unload();
    const source = await openFileSource(input.modelPath);
    let header;
    try {
      header = await readGgufHeader(source);
    } finally {
      await source.close();
    }
    const text = (key: string) => (typeof header.metadata.get(key) === 'string' ? (header.metadata.get(key) as string) : undefined);
    const architecture = text('general.architecture') ?? 'unknown';
    const layers = header.metadata.get(`${architecture}.block_count`);
    const parallel = Math.max(1, input.parallel ?? 1);
    const gpuLayers = input.gpuLayers ?? 0;
    const name =
      text('general.name') ??
      input.modelPath
        .split(/[\\/]/)
        .pop()!
        .replace(/\.gguf$/i, '');
    this.lost = null;
    const server = await LlamaServerProcess.start({
      binary: await this.options.binary(),
      alias: name,
      args: [
        '-m',
        input.modelPath,
        // llama-server divides its context among its slots: each reply gets contextSize.
        '-c',
        String(input.contextSize * parallel),
        '-np',
        String(parallel),
        '-t',
        String(this.options.threads()),
        '-ngl',
        String(gpuLayers),
        '--jinja',
      ],
      onExit: (why) => {
        if (this.server !== server) return;
        this.options.log(`server engine: ${why}`);
        this.lost = why;
        this.server = null;
        this.loaded = undefined;
        for (const run of this.running.values()) run.controller.abort();
      },
    });
    this.server = server;
    this.loaded = {
      path: input.modelPath,
      name,
      architecture,
      sizeBytes: source.size,
      gpuLayers,
      totalLayers: typeof layers === 'number' ? layers : 0,
      contextSize: input.contextSize,
      chatWrapper: 'llama-server (jinja)',
      parallel,
    };
    return this.loaded;
  }

  /** A reply on the loaded model, streamed to onDelta. */
  async generate(input: GenerateInput, onDelta: (delta: ChatDelta) => void): Promise<GenerateResult> {
    const server = this.server;
    const model = this.loaded;
    if (!server || !model) throw new RpcError('no_model_loaded', this.lost ? `No model is loaded: ${this.lost}` : 'No model is loaded.');
    if (this.running.has(input.requestId))
      throw new RpcError('invalid_input', `A reply with the id ${input.requestId} is already running.`);
    const controller = new AbortController();
    this.running.set(input.requestId, { requestId: input.requestId, controller });
    const reader = new ReplyReader(input.requestId);
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.apiKey, maxRetries: 0, timeout: 24 * 3600 * 1000 });
    const body = serverRequestBody(model.name, input);
    const calls = new ToolCallReader();
    try {
      const stream = await client.chat.completions.create(body, { signal: controller.signal });
      // The SDK ends the stream quietly when it is aborted: by the caller, or by the server's end.
      for await (const chunk of stream) {
        reader.read(chunk, (parts) => onDelta({ requestId: input.requestId, parts }));
        const callParts = calls.read(chunk);
        if (callParts.length) onDelta({ requestId: input.requestId, parts: callParts });
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      const toolCalls = calls.result();
      const result = reader.result(toolCalls.length ? 'tool-calls' : reader.stopReason());
      return toolCalls.length ? { ...result, toolCalls } : result;
    } catch (error) {
      // A dropped connection can come before the process's exit is seen: give the exit a moment to arrive.
      for (let i = 0; i < 20 && !server.exited && !controller.signal.aborted; i++) await new Promise((r) => setTimeout(r, 50));
      if (server.exited && !server.stopRequested)
        throw new RpcError('worker_crashed', `llama.cpp's server stopped mid-reply, so the reply was cut short: ${server.exited}`);
      if (controller.signal.aborted) return reader.result('abort');
      throw new RpcError('unavailable', `llama.cpp's server failed the reply: ${(error as Error).message}`);
    } finally {
      this.running.delete(input.requestId);
    }
  }

  /** Plain text completion of `prompt` (no chat template), streamed to onDelta. */
  async complete(input: CompleteInput, onDelta: (delta: ChatDelta) => void): Promise<GenerateResult> {
    const server = this.server;
    const model = this.loaded;
    if (!server || !model) throw new RpcError('no_model_loaded', this.lost ? `No model is loaded: ${this.lost}` : 'No model is loaded.');
    const controller = new AbortController();
    this.running.set(input.requestId, { requestId: input.requestId, controller });
    const reader = new ReplyReader(input.requestId);
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.apiKey, maxRetries: 0, timeout: 24 * 3600 * 1000 });
    const chat = serverRequestBody(model.name, { ...input, messages: [{ role: 'user', text: input.prompt }] }) as unknown as Record<
      string,
      unknown
    >;
    const { messages: _messages, tools: _tools, tool_choice: _choice, ...rest } = chat;
    try {
      const stream = await client.completions.create({ ...rest, prompt: input.prompt } as never, { signal: controller.signal });
      for await (const chunk of stream as unknown as AsyncIterable<{
        choices?: Array<{ text?: string; finish_reason?: string | null }>;
        usage?: unknown;
      }>) {
        // A completion chunk read as a chat chunk: its text as content.
        const asChat = {
          ...chunk,
          choices: (chunk.choices ?? []).map((c) => ({ delta: { content: c.text ?? '' }, finish_reason: c.finish_reason ?? null })),
        };
        reader.read(asChat as never, (parts) => onDelta({ requestId: input.requestId, parts }));
      }
      if (controller.signal.aborted) throw controller.signal.reason;
      return reader.result(reader.stopReason());
    } catch (error) {
      for (let i = 0; i < 20 && !server.exited && !controller.signal.aborted; i++) await new Promise((r) => setTimeout(r, 50));
      if (server.exited && !server.stopRequested)
        throw new RpcError('worker_crashed', `llama.cpp's server stopped mid-completion, so it was cut short: ${server.exited}`);
      if (controller.signal.aborted) return reader.result('abort');
      throw new RpcError('unavailable', `llama.cpp's server failed the completion: ${(error as Error).message}`);
    } finally {
      this.running.delete(input.requestId);
    }
  }

  /** Stops one reply; false when none runs under that id. */
  abort(requestId: string): boolean {
    const run = this.running.get(requestId);
    if (!run) return false;
    run.controller.abort();
    return true;
  }

  /** The server's process id, while it runs. */
  get pid(): number | undefined {
    return this.server?.child.pid;
  }

  /** The server's log lines, for explaining a failure. */
  logLines(): string[] {
    return this.server?.lines() ?? [];
  }

  /** Ends the server and its replies. */
  async unload(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.loaded = undefined;
    for (const run of this.running.values()) run.controller.abort();
    await server?.stop();
  }
}
