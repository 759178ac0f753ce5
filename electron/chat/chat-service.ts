import path from 'node:path';
import { RpcError } from '../../shared/errors';
import type { ChatMessageRecord, ReplyFailure } from '../../shared/chat';
import { isContextOverflow, type ChatDelta, type ChatMessage, type ContextOverflow } from '../../shared/inference';
import type { InferenceService } from '../inference/inference-service';
import type { ModelLibrary } from '../library/model-library';
import type { EventBus } from '../services/events';
import type { ConversationStore } from './conversation-store';
import type { MachinesService } from '../machines/machines-service';
import { parseModelRef } from '../../shared/machines';

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

  private changed(conversationId: string): void {
    this.events.emit('onConversationChanged', { id: conversationId });
  }

  async send(
    conversationId: string,
    parentId: string | null,
    text: string,
  ): Promise<{ userMessage: ChatMessageRecord; reply: ChatMessageRecord }> {
    if (this.active.has(conversationId)) throw new RpcError('busy', 'This conversation is already generating a reply.');
    const userMessage = this.store.addMessage(conversationId, parentId, 'user', text);
    // A new chat is named after its first message until the user renames it.
    const { conversation } = this.store.get(conversationId);
    if (parentId === null && conversation.title === 'New chat') {
      const title = text.replace(/\s+/g, ' ').trim();
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
    return this.reply(conversationId, parent);
  }

  stop(conversationId: string): { stopped: boolean } {
    const replyId = this.active.get(conversationId);
    if (!replyId) return { stopped: false };
    const remote = this.remote.get(replyId);
    if (remote) remote.abort();
    else void this.inference.abort(replyId);
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
      if (m.role === 'assistant' && (m.status === 'failed' || m.content === '')) continue;
      thread.unshift({ role: m.role, text: m.content });
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
        else reasoning += part.text;
      }
    });
    try {
      const input = {
        system: conversation.systemPrompt || undefined,
        messages: this.history(conversationId, parentId),
        sampling: (({ contextSize: _contextSize, ...sampling }) => sampling)(conversation.settings),
      };
      let modelId = conversation.modelId;
      if (modelId && parseModelRef(modelId)) {
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
              { ...input, contextSize: conversation.settings.contextSize },
              (parts) => this.events.emit('onChatDelta', { requestId: reply.id, parts }),
              controller.signal,
            );
            flush();
            return this.store.finishReply(reply.id, 'complete', result.stats, null);
          } finally {
            this.remote.delete(reply.id);
          }
        }
        modelId = placement.modelId;
      }
      const modelPath = await this.modelFile(modelId);
      // The model load and the reply are one turn in the queue that the UI shares with the
      // local API, so that an API request cannot swap the model in between.
      const result = await this.inference.run(
        'ui',
        reply.id,
        { path: modelPath, contextSize: conversation.settings.contextSize },
        { kind: 'generate', input },
      );
      flush();
      return this.store.finishReply(reply.id, 'complete', result.stats, null);
    } catch (error) {
      flush();
      if (error instanceof RpcError && error.code === 'context_length_exceeded' && isContextOverflow(error.details)) {
        // Kept with its numbers, so the chat view can offer a larger context.
        const failure: ReplyFailure = { code: 'context_length_exceeded', ...error.details };
        return this.store.finishReply(reply.id, 'failed', null, describeContextOverflow(error.details), failure);
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

  /** Where the database lives, for the README and `cli info`. */
  static file(dataDir: string): string {
    return path.join(dataDir, 'chats.sqlite');
  }
}
