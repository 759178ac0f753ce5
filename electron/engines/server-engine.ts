/**
 * llama.cpp's own `llama-server` as a second local engine (issue 25): one
 * server per loaded model (llama-server-process.ts: loopback, a random key,
 * tethered, its log kept), checked against the memory free before it is
 * started (server-fit.ts), with the model's projector (`--mmproj`: images and
 * audio, server-media.ts) and speculative decoding (a draft model, or prompt
 * lookup as llama.cpp's n-gram drafting) where configured. Replies stream
 * from its OpenAI endpoints (server-stream.ts: node:http, an event per token)
 * into the worker's deltas (batched as the worker batches them) and stats,
 * each conversation on its own slot so that its earlier turns are not read
 * again (server-slots.ts), stopped per request; a reply with nothing for
 * llama-server to parse runs as a completion of the prompt its template
 * rendered; a required call on a template without tool calls is made all the
 * same (server-tools.ts); a conversation longer than a slot's context loses
 * its oldest messages as on the worker, and a prompt that cannot fit is the
 * worker's typed context error (server-context.ts, server-failures.ts); the
 * stats carry the context gauge's numbers; a server that dies mid-reply fails that
 * reply with llama.cpp's own reason while the next load starts afresh.
 *
 * The inference service runs it behind its one Engine (inference/routed-engine.ts).
 */
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { ChatDelta, DeltaPart, CompleteInput, GenerateInput, GenerateResult, LoadedModel, LoadInput } from '../../shared/inference';
import type { ComputeDevice, Placement, PlacementPlan } from '../../shared/placement';
import { ReplyReader } from '../machines/openai-reply';
import { DeltaBatcher } from '../worker/delta-batcher';
import { LlamaServerProcess } from './llama-server-process';
import { checkPlacement } from './placement-check';
import { serverArgs, speculativeArgs } from './server-args';
import { planRefusal, ServerPlanner } from './server-placement';
import { contextRefusal, contextStats, ContextFitter, speculativeStats, type FitOutcome } from './server-context';
import { contextOverflowOf, overflowError, refusalOf, type OverflowContext } from './server-failures';
import { serverFit, systemFreeMemory, type FreeMemory, type ServerMemoryNeed } from './server-fit';
import { mediaIn, mediaRefusal, mediaTokensOf, serverModalities } from './server-media';
import { asChatChunk, completionBody, plainReply, serverRequestBody, ToolCallReader } from './server-request';
import { SlotPicker } from './server-slots';
import { postToServer, serverAgents, streamFromServer, type ServerEndpoint } from './server-stream';
import { checkpointed, headerOf, trainedContext } from './server-model';
import { ForcedToolCall } from './server-tools';

export { SERVER_AUTO_CONTEXT, serverAutoContext } from './server-model';

export interface ServerEngineOptions {
  /** The llama-server program (llama-engines.ts finds or builds it). */
  binary: () => Promise<string>;
  /** Threads for generation (the same rule as the worker's: threads.ts). */
  threads: () => number;
  log: (line: string) => void;
  /** The memory free now, for the fit check before a load (default: the free RAM, no GPU). */
  freeMemory?: () => FreeMemory | Promise<FreeMemory>;
  /** The GPUs llama-server sees (default: its --list-devices). */
  devices?: () => Promise<ComputeDevice[]>;
}

export interface ServerLoadInput {
  modelPath: string;
  /** Tokens of context per reply. */
  contextSize: number;
  /** Replies at once (llama-server's slots); each gets `contextSize`. */
  parallel?: number;
  /** Layers on the GPU as asked; unset: as many as the plan fits. */
  gpuLayers?: number;
  /** Whether contextSize is the automatic size, which the plan may cut to put more layers on the GPU. */
  autoContext?: boolean;
  /** Which devices, how split, the most memory on each GPU (unset: every GPU llama-server sees). */
  placement?: Placement;
  /** The model's multimodal projector (mmproj GGUF): images, or audio, with the text. */
  projectorPath?: string;
  /** Speculative decoding: a draft model of the same vocabulary, or prompt lookup (llama.cpp's n-gram drafting). */
  speculative?: LoadInput['speculative'];
}

interface Running {
  requestId: string;
  controller: AbortController;
}

interface Served {
  server: LlamaServerProcess;
  endpoint: ServerEndpoint;
  slots: SlotPicker;
  mediaMarker: string | null;
  templateCallsTools: boolean;
  /** Replies with nothing to parse may run as completions of the rendered prompt (see generate). */
  plainChat: boolean;
  trainContextSize: number;
  /** What the server's prompts cost in tokens, for leaving older messages out (server-context.ts). */
  fitter: ContextFitter;
  need: ServerMemoryNeed;
  gpuLayers: number;
}

/** A prompt as text, for choosing the slot that holds most of it already (server-slots.ts). */
function promptText(input: GenerateInput): string {
  let text = input.system ?? '';
  for (const message of input.messages) {
    text += `\u0000${message.role}\u0000${message.text}`;
    if (message.role === 'user')
      for (const part of message.media ?? []) text += `\u0000${part.mime}:${part.data.length}:${part.data.slice(0, 64)}`;
    if (message.role === 'assistant') for (const call of message.calls ?? []) text += `\u0000${call.name}${call.arguments}${call.result}`;
  }
  return `${text}\u0000assistant\u0000`;
}

export class ServerEngine {
  private served: Served | null = null;
  private loaded: LoadedModel | undefined;
  private readonly running = new Map<string, Running>();
  /** Why the server ended on its own, for the replies it cut short. */
  private lost: string | null = null;
  private readonly planner: ServerPlanner;

  constructor(private readonly options: ServerEngineOptions) {
    this.planner = new ServerPlanner(options);
  }

  get model(): LoadedModel | undefined {
    return this.loaded;
  }

  /** The placement plan for a load: layers and memory per device, the context that fits (nothing is started). */
  async plan(input: ServerLoadInput): Promise<PlacementPlan> {
    return (await this.planner.planWith(input, (await headerOf(input.modelPath)).header)).plan;
  }

  /** The GPUs llama-server sees now, with their free memory. */
  devices(): Promise<ComputeDevice[]> {
    return this.planner.devices();
  }

  /** Starts a server for the model (ending the one before); resolves once it answers. */
  async load(input: ServerLoadInput): Promise<LoadedModel> {
    await this.unload();
    const { header, size } = await headerOf(input.modelPath);
    const text = (key: string) => (typeof header.metadata.get(key) === 'string' ? (header.metadata.get(key) as string) : undefined);
    const architecture = text('general.architecture') ?? 'unknown';
    const parallel = Math.max(1, input.parallel ?? 1);
    const name = text('general.name') ?? path.basename(input.modelPath).replace(/\.gguf$/i, '');
    // The plan: layers and memory per GPU, the context that fits; nothing is started for a model that cannot fit.
    const { plan, need } = await this.planner.planWith(input, header);
    const refusal = planRefusal(input.modelPath, plan);
    if (refusal) throw refusal;
    const gpuLayers = plan.gpuLayers;

    const threads = this.options.threads();
    const args = [...serverArgs(input, threads, plan), '-lv', '4'];
    const speculative = speculativeArgs(input, threads, plan);

    this.lost = null;
    let speculativeNote: string | undefined;
    let server: LlamaServerProcess;
    // Without speculative decoding where llama.cpp cannot do it, and the reason said (its own words).
    const without = (why: string) => {
      const what =
        input.speculative?.kind === 'draft' ? `The draft model ${path.basename(input.speculative.modelPath, '.gguf')}` : 'Prompt lookup';
      speculativeNote = `${what} could not be used on llama.cpp’s server (${why.slice(0, 300)}). It runs without speculative decoding.`;
      this.options.log(`server engine: ${speculativeNote}`);
    };
    try {
      server = await this.start(name, [...args, ...speculative]);
    } catch (error) {
      if (!input.speculative) throw error;
      without((error as Error).message);
      server = await this.start(name, args);
    }
    if (input.speculative && !speculativeNote) {
      // llama-server starts without it when its draft does not fit the model (another vocabulary), and logs why.
      const refused = server
        .lines()
        .map((line) =>
          /failed to initialize speculative decoding context: (.+)$|(speculative decoding not supported by this context)/.exec(line),
        )
        .find((match) => match);
      if (refused) without((refused[1] ?? refused[2]!).trim());
    }
    // A server that started but cannot say what it takes is stopped, never left holding the model's memory.
    const modalities = await serverModalities(server).catch(async (error: unknown) => {
      await server.stop();
      throw error;
    });
    this.served = {
      server,
      endpoint: { url: server.url, apiKey: server.apiKey, ...serverAgents() },
      slots: new SlotPicker(parallel),
      mediaMarker: modalities.mediaMarker,
      templateCallsTools: modalities.templateCallsTools,
      plainChat: !modalities.templateThinks && !checkpointed(header, architecture),
      trainContextSize: trainedContext(header) ?? plan.contextSize,
      fitter: new ContextFitter(),
      need,
      gpuLayers,
    };
    const spec = input.speculative && !speculativeNote ? input.speculative : undefined;
    this.loaded = {
      path: input.modelPath,
      name,
      architecture,
      sizeBytes: size,
      gpuLayers,
      // As llama.cpp and node-llama-cpp count them: the repeating layers and the output layer.
      totalLayers: plan.totalLayers,
      contextSize: plan.contextSize,
      chatWrapper: 'llama-server (jinja)',
      parallel,
      // What llama.cpp put on each device, against the plan.
      placement: { plan, check: checkPlacement(plan, server.lines()) },
      ...(input.projectorPath ? { vision: modalities.vision, audio: modalities.audio, projector: path.basename(input.projectorPath) } : {}),
      ...(spec ? { speculative: spec.kind } : {}),
      ...(spec?.kind === 'draft' ? { draftModel: path.basename(spec.modelPath).replace(/\.gguf$/i, '') } : {}),
      ...(speculativeNote ? { speculativeNote } : {}),
    };
    return this.loaded;
  }

  private async start(alias: string, args: string[]): Promise<LlamaServerProcess> {
    const server = await LlamaServerProcess.start({
      binary: await this.options.binary(),
      alias,
      args,
      onExit: (why) => {
        if (this.served?.server !== server) return;
        this.options.log(`server engine: ${why}`);
        this.lost = why;
        this.served = null;
        this.loaded = undefined;
        for (const run of this.running.values()) run.controller.abort();
      },
    });
    return server;
  }

  private current(): { served: Served; model: LoadedModel } {
    const served = this.served;
    const model = this.loaded;
    if (!served || !model) throw new RpcError('no_model_loaded', this.lost ? `No model is loaded: ${this.lost}` : 'No model is loaded.');
    return { served, model };
  }

  private begin(requestId: string): AbortController {
    if (this.running.has(requestId)) throw new RpcError('invalid_input', `A reply with the id ${requestId} is already running.`);
    const controller = new AbortController();
    this.running.set(requestId, { requestId, controller });
    return controller;
  }

  /** A reply on the loaded model, streamed to onDelta. */
  async generate(input: GenerateInput, onDelta: (delta: ChatDelta) => void): Promise<GenerateResult> {
    const { served, model } = this.current();
    const refusal = mediaRefusal(model, input.messages);
    if (refusal) throw refusal;
    const controller = this.begin(input.requestId);
    const media = mediaIn(input.messages);
    const hasMedia = media.images + media.audio > 0;
    const slot = served.slots.take(input.slotKey, promptText(input));
    const reader = new ReplyReader(input.requestId);
    const batcher = new DeltaBatcher(input.requestId, onDelta);
    // A call the template cannot make, made all the same (server-tools.ts).
    const forced = ForcedToolCall.for(input, served.templateCallsTools);
    const bodyOf = (kept: GenerateInput) => {
      const made = serverRequestBody(model.name, kept, slot);
      forced?.apply(made as unknown as Record<string, unknown>);
      return made;
    };
    const maxTokens = input.sampling?.maxTokens;
    // Older messages left out where the conversation has outgrown the slot's context (server-context.ts).
    const fit = async (refused?: { start: number; tokens: number | undefined }) => {
      const { endpoint, mediaMarker } = served;
      const request = { input, contextSize: model.contextSize, bodyOf, endpoint, mediaMarker, signal: controller.signal };
      const outcome: FitOutcome = await served.fitter.fit(refused ? { ...request, refused } : request);
      if (!outcome.fits) throw await overflowError(outcome.counts, this.overflowContext(served, 'messages', maxTokens));
      return outcome;
    };
    let fitted = { input, dropped: 0 };
    let body = bodyOf(input);
    const calls = new ToolCallReader();
    const pushCall = (part: DeltaPart) => part.kind === 'call' && batcher.pushCall(part.index, part.name, part.text);
    let timings: Record<string, unknown> | undefined;
    let result: GenerateResult | undefined;
    const onChunk = (event: Record<string, unknown>) => {
      const chunk = asChatChunk(event);
      reader.read(chunk, (parts) => {
        for (const part of parts)
          if (part.kind === 'call') continue;
          else if (forced && part.kind === 'text') forced.read(part.text).forEach(pushCall);
          else batcher.push(part.kind, part.text);
      });
      calls.read(chunk).forEach(pushCall);
      if (event.timings && typeof event.timings === 'object') timings = event.timings as Record<string, unknown>;
    };
    const send = async () => {
      if (served.plainChat && !hasMedia && !forced && plainReply(body)) {
        // Nothing in the reply for llama-server to parse (no tools, format or reasoning): the prompt rendered
        // by its template, then streamed as a completion, which spares llama-server its per-token chat parse
        // (a third of its throughput with four replies at once on two cores: bench parallel).
        const { prompt } = await postToServer<{ prompt: string }>(served.endpoint, '/apply-template', body, controller.signal);
        await streamFromServer(served.endpoint, '/v1/completions', completionBody(body, prompt), controller.signal, onChunk);
      } else
        await streamFromServer(served.endpoint, '/v1/chat/completions', body, controller.signal, onChunk).catch((error: unknown) => {
          // llama.cpp fails a prompt whose cached start ends between two images ("Chunk not found", a llama-server
          // bug): the same request once more, read afresh, answers it.
          if (!hasMedia || (error as { status?: number }).status !== 500 || reader.result('eos').text) throw error;
          this.options.log(`server engine: reading the prompt afresh after llama-server's error (${(error as Error).message})`);
          return streamFromServer(served.endpoint, '/v1/chat/completions', { ...body, cache_prompt: false }, controller.signal, onChunk);
        });
    };
    try {
      // Counted first only where an estimate says the prompt may leave the reply too little room.
      if (served.fitter.mayOverflow(input, model.contextSize)) fitted = await fit();
      if (fitted.dropped) body = bodyOf(fitted.input);
      for (let attempt = 0; ; attempt++)
        try {
          await send();
          break;
        } catch (error) {
          // Refused for its size: counted as llama-server reads it, older messages left out, and sent again.
          const refused = contextRefusal(error);
          if (!refused || attempt >= 2 || reader.result('eos').text) throw error;
          this.options.log(
            `server engine: the prompt (${refused.tokens ?? '?'} tokens) does not fit the slot; counting it to leave older messages out`,
          );
          fitted = await fit({ start: ContextFitter.startOf(input, fitted.dropped), tokens: refused.tokens });
          body = bodyOf(fitted.input);
        }
      const made = forced?.finish();
      made?.parts.forEach(pushCall);
      batcher.flush();
      if (controller.signal.aborted) throw controller.signal.reason;
      const toolCalls = made ? [made.call] : calls.result();
      result = reader.result(toolCalls.length ? 'tool-calls' : reader.stopReason());
      if (toolCalls.length) result.toolCalls = toolCalls;
      if (made) result.text = '';
    } catch (error) {
      batcher.flush();
      await this.failed(served, controller, error, 'reply', { input: 'messages', maxTokens });
      result = reader.result('abort');
      // A forced call cut short: its arguments went out as call deltas, not as text.
      if (forced) result.text = '';
    } finally {
      this.running.delete(input.requestId);
      served.slots.release(slot, result ? `${result.text}\u0000` : '');
    }
    speculativeStats(result.stats, timings);
    contextStats(result.stats, model.contextSize, fitted.dropped);
    // (Not for a reply stopped: counting re-reads the whole prompt, which would hold the stop up.)
    if (hasMedia && result.stats.stopReason !== 'abort') {
      const tokens = await mediaTokensOf(
        served.server,
        body as unknown as Record<string, unknown>,
        served.mediaMarker,
        result.stats.promptTokens,
      );
      if (tokens !== undefined) result.stats.mediaTokens = tokens;
    }
    if (result.stats.promptTokens > 0) served.fitter.learn(fitted.input, result.stats.promptTokens, result.stats.mediaTokens);
    return result;
  }

  /**
   * A failed request, explained: a server that died (its reason), a prompt
   * too long (the numbers), a request refused; an abort returns (the reply so
   * far is the caller's to return).
   */
  private async failed(
    served: Served,
    controller: AbortController,
    error: unknown,
    what: 'reply' | 'completion',
    overflow: { input: 'messages' | 'prompt'; maxTokens: number | undefined },
  ): Promise<true> {
    // A conversation that cannot fit, counted (server-context.ts): said as it is.
    if (error instanceof RpcError && error.code === 'context_length_exceeded') throw error;
    const server = served.server;
    // A dropped connection can come before the process's exit is seen: give the exit a moment to arrive.
    for (let i = 0; i < 20 && !server.exited && !controller.signal.aborted && !refusalOf(error); i++)
      await new Promise((r) => setTimeout(r, 50));
    if (server.exited && !server.stopRequested)
      throw new RpcError(
        'worker_crashed',
        what === 'reply'
          ? `llama.cpp's server stopped mid-reply, so the reply was cut short: ${server.exited}`
          : `llama.cpp's server stopped mid-completion, so it was cut short: ${server.exited}`,
      );
    if (controller.signal.aborted) return true;
    const tooLong = await contextOverflowOf(error, this.overflowContext(served, overflow.input, overflow.maxTokens));
    if (tooLong) throw tooLong;
    const refused = refusalOf(error);
    if (refused) throw refused;
    throw new RpcError('unavailable', `llama.cpp's server failed the ${what}: ${(error as Error).message}`);
  }

  /** What a context error says beside its counts: the slot's context, the trained one, and whether a larger one fits the memory free. */
  private overflowContext(served: Served, input: 'messages' | 'prompt', maxTokens: number | undefined): OverflowContext {
    return {
      input,
      maxTokens,
      contextSize: this.loaded?.contextSize ?? 0,
      trainContextSize: served.trainContextSize,
      fits: async (size) => {
        // One reply's context: the replies at once share a unified cache.
        const larger = {
          ...served.need,
          kvBytes: (served.need.kvBytes / served.need.contextTokens) * size,
          contextTokens: size,
        };
        // What this server holds now is free again when it loads with the larger context.
        const free = await (this.options.freeMemory ?? systemFreeMemory)();
        const held = serverFit(served.need, { ramFreeBytes: 0, vramFreeBytes: 0 }, 0).neededBytes;
        return serverFit(larger, { ...free, ramFreeBytes: free.ramFreeBytes + held }, served.gpuLayers).verdict !== 'no';
      },
    };
  }

  /** Plain text completion of `prompt` (no chat template), streamed to onDelta. */
  async complete(input: CompleteInput, onDelta: (delta: ChatDelta) => void): Promise<GenerateResult> {
    const { served, model } = this.current();
    const controller = this.begin(input.requestId);
    const slot = served.slots.take(undefined, input.prompt);
    const reader = new ReplyReader(input.requestId);
    const batcher = new DeltaBatcher(input.requestId, onDelta);
    const chat = serverRequestBody(model.name, { ...input, messages: [{ role: 'user', text: input.prompt }] }, slot) as unknown as Record<
      string,
      unknown
    >;
    const { messages: _messages, tools: _tools, tool_choice: _choice, ...rest } = chat;
    let timings: Record<string, unknown> | undefined;
    let result: GenerateResult | undefined;
    try {
      await streamFromServer(served.endpoint, '/v1/completions', { ...rest, prompt: input.prompt }, controller.signal, (event) => {
        reader.read(asChatChunk(event), (parts) => {
          for (const part of parts) if (part.kind !== 'call') batcher.push(part.kind, part.text);
        });
        if (event.timings && typeof event.timings === 'object') timings = event.timings as Record<string, unknown>;
      });
      batcher.flush();
      if (controller.signal.aborted) throw controller.signal.reason;
      result = reader.result(reader.stopReason());
    } catch (error) {
      batcher.flush();
      await this.failed(served, controller, error, 'completion', { input: 'prompt', maxTokens: input.sampling?.maxTokens });
      result = reader.result('abort');
    } finally {
      this.running.delete(input.requestId);
      served.slots.release(slot, result?.text ?? '');
    }
    speculativeStats(result.stats, timings);
    contextStats(result.stats, model.contextSize);
    return result;
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
    return this.served?.server.child.pid;
  }

  /** The server's log lines, for explaining a failure. */
  logLines(): string[] {
    return this.served?.server.lines() ?? [];
  }

  /** Ends the server and its replies. */
  async unload(): Promise<void> {
    const served = this.served;
    this.served = null;
    this.loaded = undefined;
    for (const run of this.running.values()) run.controller.abort();
    served?.endpoint.agent.destroy();
    served?.endpoint.shortAgent.destroy();
    await served?.server.stop();
  }
}
