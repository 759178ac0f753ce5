import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { AttachmentInput, ChatMessageRecord, ConversationSettings, ReplyFailure } from '../../shared/chat';
import { cannotTakeMessage, type MediaKind } from '../../shared/media';
import type { Settings } from '../../shared/settings';
import {
  isContextOverflow,
  type ChatDelta,
  type ChatMessage,
  type ContextOverflow,
  type GenerateInput,
  type GenerationStats,
} from '../../shared/inference';
import { TOOL_LIMITS, type ToolCallRecord, type ToolDecision } from '../../shared/tools';
import type { InferenceService } from '../inference/inference-service';
import type { ModelLibrary } from '../library/model-library';
import type { EventBus } from '../platform/events';
import type { ConversationStore } from './conversation-store';
import type { MachinesService } from '../machines/machines-service';
import { parseModelRef } from '../../shared/machines';
import { checkAttachments, refusal, type NewAttachment } from './attachments';
import { capableModels, conversationModel, fitMedia, kindsOf, loadedAbilities, refuseUnlessTaken, TEXT_ONLY } from './chat-media';
import { REMOTE_CONTEXT_GUESS, ReplyDocuments, type DocumentsProvider } from './reply-documents';
import { argumentsProblem, functionName, historyCalls, offerTools, parseArguments, type ToolProvider } from './tool-offer';

export { offerTools, type ToolProvider } from './tool-offer';

export type { DocumentsProvider } from './reply-documents';

const DENIED = 'The user denied this tool call.';
const STOPPED = 'The reply was stopped before this call ran.';

/** How often streamed text is written to the store while a reply streams. */
const FLUSH_MS = 250;

const n = (value: number) => value.toLocaleString('en-US');

/** A message too long for the context, in the chat's words, with the numbers and what to do. */
export function describeContextOverflow(o: ContextOverflow): string {
  const what =
    `This message is longer than the model's context: with the system prompt it comes to ${n(o.requiredTokens)} tokens, ` +
    `and the ${n(o.contextSize)}-token context has room for ${n(o.maxPromptTokens)} beside a reply.`;
  if (o.largerContextSize !== null) return `${what} A ${n(o.largerContextSize)}-token context would hold it.`;
  if (o.largerContextLimit === 'memory')
    return `${what} A context large enough needs more memory than is free now: shorten the message, or free memory and retry.`;
  return `${what} The model was trained for ${n(o.trainContextSize)} tokens at most, so a larger context would not help: shorten the message.`;
}

/**
 * Conversations over the inference worker: the user's message is stored
 * before generation starts, the reply is stored as it streams (in batches) and
 * finished with its stats, or marked failed with the reason; nothing else in
 * the conversation is touched by a failure.
 */
export class ChatService {
  private readonly active = new Map<string, string>(); // conversation id → reply id
  /** Replies running on another machine, by reply id: stopping one aborts this. */
  private readonly remote = new Map<string, AbortController>();
  private machines: MachinesService | null = null;
  private tools: ToolProvider | null = null;
  /** Replies in their tool phase (waiting for approval, or a call running), by reply id: stopping one aborts this. */
  private readonly toolPhase = new Map<string, AbortController>();
  /** Calls waiting for the user's decision, by `${messageId}/${callId}`. */
  private readonly waiting = new Map<string, (decision: ToolDecision['decision']) => void>();
  /** The settings (the engine set per model decides whether a model with a projector sees). */
  private settings: (() => Settings) | null = null;
  /** The documents attached to conversations and their collections (docs/docs-service.ts). */
  private documents: DocumentsProvider | null = null;

  constructor(
    private readonly store: ConversationStore,
    private readonly inference: InferenceService,
    private readonly library: ModelLibrary,
    private readonly events: EventBus,
  ) {}

  /** Conversations on models of other machines run there (machines/machines-service.ts). */
  useMachines(machines: MachinesService): void {
    this.machines = machines;
  }

  /** Tools of the MCP servers, offered in replies on models of this machine (tools/mcp-service.ts). */
  useTools(tools: ToolProvider): void {
    this.tools = tools;
  }

  /** Documents given to replies: whole when they fit, else the passages retrieved for the recent turns. */
  useDocuments(documents: DocumentsProvider): void {
    this.documents = documents;
  }

  /** The settings: a model pinned to node-llama-cpp runs text only, though it has a projector (until set: Auto). */
  useSettings(settings: () => Settings): void {
    this.settings = settings;
  }

  private readonly engineOf = (modelId: string) => this.settings?.().inference.engines?.[modelId];

  /** The library's models that take `kind`, by name (for a refusal). */
  private capable = (kind: MediaKind) => capableModels(this.library.snapshot().models, this.engineOf, kind);

  /** Refuses media of kinds the conversation's model cannot take, before anything is stored or sent. */
  private refuseMediaFor(modelId: string | null, kinds: Set<MediaKind>): void {
    if (!modelId || kinds.size === 0) return;
    const model = conversationModel(modelId, this.library.snapshot().models, this.engineOf, this.inference.status().model);
    refuseUnlessTaken(model, kinds, this.capable);
  }

  /** The user's answer to a call waiting in the approval card. */
  decide(input: ToolDecision): { decided: boolean } {
    const message = this.store.message(input.messageId);
    if (message.conversationId !== input.conversationId) throw new RpcError('invalid_input', 'That message is not in this conversation.');
    const resolve = this.waiting.get(`${input.messageId}/${input.callId}`);
    if (!resolve) throw new RpcError('not_found', 'That tool call is not waiting for a decision (it was decided, or the reply ended).');
    resolve(input.decision);
    return { decided: true };
  }

  private changed(conversationId: string): void {
    this.events.emit('onConversationChanged', { id: conversationId });
  }

  /**
   * The user's message (with its images and audio, checked first: any refusal
   * stores and sends nothing), then the reply to it. `attachmentsFrom`: an
   * edited message keeps the attachments of the one it is a new version of.
   */
  async send(
    conversationId: string,
    parentId: string | null,
    text: string,
    extra: { attachments?: AttachmentInput[]; attachmentsFrom?: string } = {},
  ): Promise<{ userMessage: ChatMessageRecord; reply: ChatMessageRecord }> {
    if (this.active.has(conversationId)) throw new RpcError('busy', 'This conversation is already generating a reply.');
    const { conversation } = this.store.get(conversationId);
    let attachments: NewAttachment[] = [];
    if (extra.attachmentsFrom) {
      const original = this.store.message(extra.attachmentsFrom);
      if (original.conversationId !== conversationId) throw new RpcError('invalid_input', 'That message is not in this conversation.');
      attachments = this.store.attachmentsToCopy(original.id);
    }
    if (extra.attachments?.length) {
      if (attachments.length) throw refusal('An edited message keeps its attachments; attach new files to a new message.', 'too_many');
      attachments = await checkAttachments(extra.attachments);
    }
    this.refuseMediaFor(conversation.modelId, kindsOf(attachments));
    if (!text && attachments.length === 0) throw new RpcError('invalid_input', 'A message needs text or an attachment.');
    if (this.active.has(conversationId)) throw new RpcError('busy', 'This conversation is already generating a reply.');
    const userMessage = this.store.addMessage(conversationId, parentId, 'user', text, 'complete', attachments);
    // A new chat is named after its first message (or its first file) until the user renames it.
    if (parentId === null && conversation.title === 'New chat') {
      const title = (text || attachments[0]!.name).replace(/\s+/g, ' ').trim();
      this.store.update(conversationId, { title: title.length > 60 ? `${title.slice(0, 57)}…` : title });
    }
    this.changed(conversationId);
    const reply = await this.reply(conversationId, userMessage.id);
    return { userMessage, reply };
  }

  /** A new reply to the user message before `messageId` (an assistant message), kept beside the old one. */
  async regenerate(conversationId: string, messageId: string): Promise<ChatMessageRecord> {
    const message = this.store.message(messageId);
    if (message.conversationId !== conversationId) throw new RpcError('invalid_input', 'That message is not in this conversation.');
    const parent = message.role === 'assistant' ? message.parentId : message.id;
    if (!parent) throw new RpcError('invalid_input', 'Nothing to regenerate from.');
    // The images of the message answered go again; a model that cannot take them says so, and nothing runs.
    const answered = this.store.message(parent);
    this.refuseMediaFor(this.store.get(conversationId).conversation.modelId, kindsOf(answered.attachments ?? []));
    return this.reply(conversationId, parent);
  }

  stop(conversationId: string): { stopped: boolean } {
    const replyId = this.active.get(conversationId);
    if (!replyId) return { stopped: false };
    const remote = this.remote.get(replyId);
    if (remote) remote.abort();
    else void this.inference.abort(replyId);
    this.toolPhase.get(replyId)?.abort();
    return { stopped: true };
  }

  /** The conversation's model file, checked: a file deleted or changed since it was listed is said so, and its entry brought up to date. */
  private async modelFile(modelId: string | null): Promise<string> {
    if (!modelId) throw new RpcError('no_model_loaded', 'Choose a model for this conversation first.');
    if (!this.library.get(modelId)) throw new RpcError('not_found', 'The model of this conversation is no longer in the library.');
    const model = await this.library.checkBeforeLoad(modelId);
    return model.files[0]!;
  }

  private history(conversationId: string, leafId: string): ChatMessage[] {
    const { messages } = this.store.get(conversationId);
    const byId = new Map(messages.map((m) => [m.id, m]));
    const thread: ChatMessage[] = [];
    for (let m = byId.get(leafId); m; m = m.parentId ? byId.get(m.parentId) : undefined) {
      const calls = m.role === 'assistant' && m.toolCalls?.length ? historyCalls(m.toolCalls, (call) => functionName(call.tool)) : [];
      if (m.role === 'assistant' && (m.status === 'failed' || (m.content === '' && calls.length === 0))) continue;
      const media = m.role === 'user' && m.attachments?.length ? this.store.mediaOf(m.id) : [];
      thread.unshift(
        m.role === 'assistant' && calls.length
          ? { role: 'assistant', text: m.content, calls }
          : media.length
            ? { role: 'user', text: m.content, media }
            : { role: m.role, text: m.content },
      );
    }
    return thread;
  }

  private async reply(conversationId: string, parentId: string): Promise<ChatMessageRecord> {
    const { conversation } = this.store.get(conversationId);
    const reply = this.store.addMessage(conversationId, parentId, 'assistant', '', 'streaming');
    this.active.set(conversationId, reply.id);
    this.changed(conversationId);
    let text = '';
    let reasoning = '';
    const flush = () => {
      if (!text && !reasoning) return;
      this.store.appendToReply(reply.id, text, reasoning);
      text = '';
      reasoning = '';
    };
    const timer = setInterval(flush, FLUSH_MS);
    const off = this.events.subscribeAll((event, payload) => {
      if (event !== 'onChatDelta') return;
      const delta = payload as ChatDelta;
      if (delta.requestId !== reply.id) return;
      for (const part of delta.parts) {
        if (part.kind === 'text') text += part.text;
        else if (part.kind === 'reasoning') reasoning += part.text;
      }
    });
    try {
      const { contextSize: _contextSize, thinking, tools: _tools, ...sampling } = conversation.settings;
      const input = {
        system: conversation.systemPrompt || undefined,
        messages: this.history(conversationId, parentId),
        sampling,
      };
      // The documents' passages go in the system prompt, chosen for the context of the model as loaded.
      const documents = await ReplyDocuments.prepare(this.documents, conversationId, input.messages);
      let modelId = conversation.modelId;
      if (modelId && parseModelRef(modelId)) {
        // Images and audio go only to models on this machine: earlier ones are left out (a new one was refused).
        input.messages = fitMedia(input.messages, TEXT_ONLY, (kind) => {
          throw refusal(cannotTakeMessage(modelId!, kind, this.capable(kind)), 'model');
        });
        if (!this.machines) throw new RpcError('unavailable', 'Models on other machines are not available here.');
        const placement = this.machines.place(modelId, (sha) => this.library.snapshot().models.find((m) => m.sha256 === sha)?.id ?? null);
        if (placement.fallbackFrom)
          this.events.emit('onNotice', {
            id: `fallback-${reply.id}`,
            level: 'info',
            message: `${placement.fallbackFrom} is offline: this reply runs on ${placement.kind === 'local' ? 'this machine' : placement.machineName}, which has the same model file.`,
            at: new Date().toISOString(),
          });
        if (placement.kind === 'remote') {
          const controller = new AbortController();
          this.remote.set(reply.id, controller);
          try {
            const result = await this.machines.generate(
              placement,
              reply.id,
              {
                ...documents.apply(input, conversation.settings.contextSize ?? REMOTE_CONTEXT_GUESS, null),
                contextSize: conversation.settings.contextSize,
              },
              (parts) => this.events.emit('onChatDelta', { requestId: reply.id, parts }),
              controller.signal,
            );
            flush();
            documents.keep(this.store, reply.id);
            return this.store.finishReply(reply.id, 'complete', result.stats, null);
          } finally {
            this.remote.delete(reply.id);
          }
        }
        modelId = placement.modelId;
      }
      const modelPath = await this.modelFile(modelId);
      const stats = await this.runWithTools(
        reply.id,
        conversation.settings,
        { ...input, slotKey: conversationId, ...(thinking ? { thinking } : {}) },
        (run) => {
          // The model load and each round of the reply are one turn in the queue that the UI shares
          // with the local API, so that an API request cannot swap the model in between.
          const attempt = () =>
            this.inference.run(
              'ui',
              reply.id,
              { path: modelPath, contextSize: conversation.settings.contextSize },
              // The thread's media as the loaded model takes them (the last guard: checked before sending too).
              {
                kind: 'generate',
                input: (loaded) =>
                  documents.apply(
                    {
                      ...run,
                      messages: fitMedia(run.messages, loadedAbilities(loaded), (kind) => {
                        throw refusal(cannotTakeMessage(loaded.name, kind, this.capable(kind)), 'model');
                      }),
                    },
                    loaded.contextSize,
                    modelPath,
                  ),
              },
            );
          // Passages estimated short for this model's tokenizer: once more with the estimate corrected.
          return attempt()
            .catch((error: unknown) => {
              if (!documents.corrected(error, modelPath)) throw error;
              return attempt();
            })
            .finally(flush);
        },
      );
      documents.keep(this.store, reply.id);
      return this.store.finishReply(reply.id, 'complete', stats, null);
    } catch (error) {
      flush();
      if (error instanceof RpcError && error.code === 'context_length_exceeded' && isContextOverflow(error.details)) {
        // Kept with its numbers, so the chat view can offer a larger context.
        const failure: ReplyFailure = { code: 'context_length_exceeded', ...error.details };
        // After tool calls, what no longer fits is what the tools returned.
        const called = this.store.message(reply.id).toolCalls?.length;
        const message = called
          ? `The tool results do not fit in the model's context: the conversation with them comes to ${n(error.details.requiredTokens)} tokens, and the ${n(error.details.contextSize)}-token context has room for ${n(error.details.maxPromptTokens)} beside a reply.${error.details.largerContextSize !== null ? ` A ${n(error.details.largerContextSize)}-token context would hold them.` : ' Ask for less, or use a tool that returns less.'}`
          : describeContextOverflow(error.details);
        return this.store.finishReply(reply.id, 'failed', null, message, failure);
      }
      const message = (error as Error).message;
      return this.store.finishReply(reply.id, 'failed', null, message);
    } finally {
      clearInterval(timer);
      off();
      this.active.delete(conversationId);
      this.changed(conversationId);
    }
  }

  /**
   * A reply on this machine's model, with the MCP servers' tools offered: when
   * the model calls tools, each call waits for the user's approval (unless the
   * tool is always allowed), runs, and its result (or error, or the denial)
   * goes back to the model, which goes on from there, for at most
   * TOOL_LIMITS.maxRounds rounds; then it must answer without tools. Calls
   * and results are stored with the reply as they happen.
   */
  private async runWithTools(
    replyId: string,
    settings: ConversationSettings,
    input: Omit<GenerateInput, 'requestId'>,
    generate: (
      input: Omit<GenerateInput, 'requestId'>,
    ) => Promise<{ stats: GenerationStats; toolCalls?: Array<{ name: string; arguments: string }> }>,
  ): Promise<GenerationStats> {
    const offered = this.tools && settings.tools !== false ? offerTools(this.tools.availableTools()) : null;
    if (!offered?.definitions.length) return (await generate(input)).stats;
    const tools = this.tools!;
    const nameOf = new Map([...offered.byName].map(([name, t]) => [`${t.server}/${t.tool}`, name]));
    const modelName = (call: ToolCallRecord) => nameOf.get(`${call.server}/${call.tool}`) ?? functionName(call.tool);
    const controller = new AbortController();
    this.toolPhase.set(replyId, controller);
    const calls: ToolCallRecord[] = [];
    const save = (conversationId: string) => {
      this.store.setToolCalls(replyId, calls);
      this.changed(conversationId);
    };
    try {
      for (let round = 0; ; round += 1) {
        const message = this.store.message(replyId);
        const messages: ChatMessage[] = calls.length
          ? [...input.messages, { role: 'assistant', text: message.content, calls: historyCalls(calls, modelName) }]
          : input.messages;
        const result = await generate({
          ...input,
          messages,
          tools: offered.definitions,
          // The last round answers in words: the number of rounds is bounded.
          toolChoice: round >= TOOL_LIMITS.maxRounds ? 'none' : 'auto',
        });
        if (!result.toolCalls?.length || controller.signal.aborted) return result.stats;
        const textOffset = this.store.message(replyId).content.length;
        const fresh: ToolCallRecord[] = [];
        for (const call of result.toolCalls) {
          const target = offered.byName.get(call.name);
          if (!target) continue;
          // Arguments that do not match the tool's schema are not run (nor asked about): the model is told why.
          const problem = await argumentsProblem(tools, target.server, target.tool, call.arguments);
          fresh.push({
            id: `call_${randomBytes(6).toString('base64url')}`,
            server: target.server,
            tool: target.tool,
            arguments: call.arguments,
            status: problem ? 'invalid' : tools.isAlwaysAllowed(target.server, target.tool) ? 'running' : 'pending',
            result: problem,
            truncated: false,
            textOffset,
            startedAt: null,
            endedAt: problem ? new Date().toISOString() : null,
          });
        }
        if (fresh.length === 0) return result.stats;
        calls.push(...fresh);
        save(message.conversationId);
        for (const call of fresh) {
          if (call.status === 'invalid') continue;
          if (controller.signal.aborted) {
            Object.assign(call, { status: 'error', result: STOPPED, endedAt: new Date().toISOString() });
            continue;
          }
          if (call.status === 'pending') {
            const decision = await this.decision(replyId, call.id, controller.signal);
            if (decision === 'always') await tools.setTool(call.server, call.tool, { alwaysAllow: true });
            if (decision === 'deny' || decision === 'stopped') {
              Object.assign(call, {
                status: decision === 'deny' ? 'denied' : 'error',
                result: decision === 'deny' ? DENIED : STOPPED,
                endedAt: new Date().toISOString(),
              });
              save(message.conversationId);
              continue;
            }
          }
          Object.assign(call, { status: 'running', startedAt: new Date().toISOString() });
          save(message.conversationId);
          const outcome = await this.callTool(tools, call, controller.signal);
          Object.assign(call, {
            status: outcome.ok ? 'done' : 'error',
            result: outcome.text,
            truncated: outcome.truncated,
            endedAt: new Date().toISOString(),
          });
          save(message.conversationId);
        }
        if (controller.signal.aborted) return { ...result.stats, stopReason: 'abort' };
      }
    } finally {
      this.toolPhase.delete(replyId);
      for (const key of [...this.waiting.keys()]) if (key.startsWith(`${replyId}/`)) this.waiting.delete(key);
      const unsettled = calls.filter((call) => call.status === 'pending' || call.status === 'running');
      if (unsettled.length) {
        for (const call of unsettled) Object.assign(call, { status: 'error', result: call.result ?? STOPPED });
        this.store.setToolCalls(replyId, calls);
      }
    }
  }

  /** The user's decision on a call, or "stopped" when the reply is stopped first. */
  private decision(replyId: string, callId: string, signal: AbortSignal): Promise<ToolDecision['decision'] | 'stopped'> {
    return new Promise((resolve) => {
      const key = `${replyId}/${callId}`;
      const onAbort = () => {
        this.waiting.delete(key);
        resolve('stopped');
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(key, (decision) => {
        signal.removeEventListener('abort', onAbort);
        this.waiting.delete(key);
        resolve(decision);
      });
    });
  }

  /** Runs one call; arguments that are not a JSON object are the model's error, returned to it. */
  private async callTool(
    tools: ToolProvider,
    call: ToolCallRecord,
    signal: AbortSignal,
  ): Promise<{ ok: boolean; text: string; truncated: boolean }> {
    const args = parseArguments(call.arguments);
    if (typeof args === 'string') return { ok: false, text: args, truncated: false };
    try {
      return await tools.call(call.server, call.tool, args, signal);
    } catch (error) {
      return { ok: false, text: (error as Error).message, truncated: false };
    }
  }

  /** Where the database lives, for the README and `cli info`. */
  static file(dataDir: string): string {
    return path.join(dataDir, 'chats.sqlite');
  }
}
