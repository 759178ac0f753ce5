/** Conversations as stored and shown: a tree of messages, the active branch shown. */
import { z } from 'zod';
import { samplingSchema, thinkingSchema, type ContextOverflow, type GenerationStats } from './inference';
import type { ToolCallRecord } from './tools';

export type MessageStatus = 'complete' | 'streaming' | 'interrupted' | 'failed';

/** Why a reply failed, kept with the numbers so the chat view can offer a remedy (a larger context). */
export type ReplyFailure = { code: 'context_length_exceeded' } & ContextOverflow;

export interface ChatMessageRecord {
  id: string;
  conversationId: string;
  parentId: string | null;
  role: 'user' | 'assistant';
  content: string;
  reasoning: string;
  status: MessageStatus;
  error: string | null;
  /** A failure the chat view can act on; absent for other failures. */
  failure?: ReplyFailure;
  stats: GenerationStats | null;
  /** The tools this reply called, in order, each placed in the text by its textOffset. */
  toolCalls?: ToolCallRecord[];
  createdAt: string;
  updatedAt: string;
}

export const conversationSettingsSchema = samplingSchema
  .extend({
    contextSize: z.number().int().min(256).max(1_048_576).optional(),
    /** Thinking for models that reason: off, or on with a budget of thought tokens. Unset: as the model does. */
    thinking: thinkingSchema.optional(),
    /** Whether the tools of the MCP servers are offered in this conversation (default: yes). */
    tools: z.boolean().optional(),
  })
  .strict();
export type ConversationSettings = z.infer<typeof conversationSettingsSchema>;

export interface Conversation {
  id: string;
  title: string;
  modelId: string | null;
  systemPrompt: string;
  settings: ConversationSettings;
  pinned: boolean;
  createdAt: string;
  updatedAt: string;
  /** The last message of the branch being shown. */
  activeLeafId: string | null;
}

export interface ConversationSummary {
  id: string;
  title: string;
  pinned: boolean;
  updatedAt: string;
  messageCount: number;
  modelId: string | null;
}

export interface ConversationDetail {
  conversation: Conversation;
  /** Every message, all branches. */
  messages: ChatMessageRecord[];
  /** Ids from the root to the active leaf. */
  thread: string[];
}

export interface SearchHit {
  conversationId: string;
  conversationTitle: string;
  messageId: string;
  snippet: string;
}

const toolCallRecordSchema = z
  .object({
    id: z.string().min(1).max(100),
    server: z.string().max(200),
    tool: z.string().max(200),
    arguments: z.string().max(5_000_000),
    status: z.enum(['pending', 'running', 'done', 'error', 'denied', 'invalid']),
    result: z.string().max(5_000_000).nullable(),
    truncated: z.boolean(),
    textOffset: z.number().int().min(0),
    startedAt: z.string().max(40).nullable(),
    endedAt: z.string().max(40).nullable(),
  })
  .strict();

/** The exported JSON format (documented in the README); import accepts exactly this. */
export const exportedConversationSchema = z.object({
  format: z.literal('freehold-conversation'),
  version: z.literal(1),
  conversation: z.object({
    title: z.string().max(500),
    systemPrompt: z.string().max(200_000),
    settings: conversationSettingsSchema,
    modelId: z.string().max(300).nullable(),
    pinned: z.boolean(),
    createdAt: z.string().max(40),
    activeLeafId: z.string().max(100).nullable(),
  }),
  messages: z
    .array(
      z.object({
        id: z.string().min(1).max(100),
        parentId: z.string().max(100).nullable(),
        role: z.enum(['user', 'assistant']),
        content: z.string().max(5_000_000),
        reasoning: z.string().max(5_000_000),
        status: z.enum(['complete', 'streaming', 'interrupted', 'failed']),
        error: z.string().max(10_000).nullable(),
        toolCalls: z.array(toolCallRecordSchema).max(1000).optional(),
        createdAt: z.string().max(40),
      }),
    )
    .max(100_000),
});
export type ExportedConversation = z.infer<typeof exportedConversationSchema>;

const id = z.string().min(1).max(100);
/** A library model's id, or a model on another machine ("@machine/model": see shared/machines.ts). */
const modelRef = z.string().min(1).max(300);
export const chatIdSchema = z.object({ id }).strict();
export const createChatSchema = z
  .object({
    title: z.string().max(500).optional(),
    modelId: modelRef.nullable().optional(),
    systemPrompt: z.string().max(200_000).optional(),
    settings: conversationSettingsSchema.optional(),
  })
  .strict();
export const updateChatSchema = z
  .object({
    id,
    title: z.string().min(1).max(500).optional(),
    pinned: z.boolean().optional(),
    systemPrompt: z.string().max(200_000).optional(),
    modelId: modelRef.nullable().optional(),
    settings: conversationSettingsSchema.optional(),
    activeLeafId: id.optional(),
  })
  .strict();
export const sendSchema = z.object({ conversationId: id, parentId: id.nullable(), text: z.string().min(1).max(1_000_000) }).strict();
export const regenerateSchema = z.object({ conversationId: id, messageId: id }).strict();
export const exportSchema = z.object({ id, format: z.enum(['md', 'json']) }).strict();
