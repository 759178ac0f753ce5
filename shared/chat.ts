/** Conversations as stored and shown: a tree of messages, the active branch shown. */
import { z } from 'zod';
import { samplingSchema, thinkingSchema, type ContextOverflow, type GenerationStats } from './inference';
import {
  audioMimeTypes,
  base64Length,
  imageMimeTypes,
  MAX_AUDIO_BYTES,
  MAX_MEDIA_BYTES_PER_MESSAGE,
  MAX_MEDIA_PER_MESSAGE,
  type MediaKind,
  type MediaMimeType,
} from './media';
import { replySourcesSchema, type ReplySources } from './documents';
import type { ToolCallRecord } from './tools';

export type MessageStatus = 'complete' | 'streaming' | 'interrupted' | 'failed';

/** Why a reply failed, kept with the numbers so the chat view can offer a remedy (a larger context). */
export type ReplyFailure = { code: 'context_length_exceeded' } & ContextOverflow;

/** An image or audio clip sent with a user message (its bytes: chats.attachment). */
export interface ChatAttachment {
  id: string;
  kind: MediaKind;
  /** The file's own type (a WebP stays WebP here; the engine gets it as PNG). */
  mime: MediaMimeType;
  name: string;
  /** The file's size. */
  bytes: number;
  width?: number;
  height?: number;
}

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
  /** Images and audio sent with a user message, in the order given. */
  attachments?: ChatAttachment[];
  /** The passages of the documents this reply was given, and the ones it cites. */
  sources?: ReplySources;
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

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A file as the user attached it: its name and its bytes in base64 (checked in the main process before anything is stored). */
export const attachmentInputSchema = z
  .object({
    name: z.string().min(1).max(255),
    // Each file's own limit is checked with its message (electron/formats/media-check.ts); this bounds the message.
    data: z.string().min(4).max(base64Length(MAX_MEDIA_BYTES_PER_MESSAGE)).regex(base64, 'base64'),
  })
  .strict();
export type AttachmentInput = z.infer<typeof attachmentInputSchema>;

/** An attachment in an export: its bytes in base64; its type is read from the bytes again on import. */
const exportedAttachmentSchema = z
  .object({
    name: z.string().min(1).max(255),
    mime: z.enum([...imageMimeTypes, ...audioMimeTypes]),
    data: z.string().min(4).max(base64Length(MAX_AUDIO_BYTES)).regex(base64, 'base64'),
  })
  .strict();

/**
 * The exported JSON format (documented in the README); import accepts exactly this.
 * Version 1 throughout: `attachments` on a message is optional, so a file from before it
 * imports as it did, and an older Freehold imports a newer file without them.
 */
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
        attachments: z.array(exportedAttachmentSchema).max(MAX_MEDIA_PER_MESSAGE).optional(),
        sources: replySourcesSchema.optional(),
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
export const sendSchema = z
  .object({
    conversationId: id,
    parentId: id.nullable(),
    text: z.string().max(1_000_000),
    /** Images and audio with the text (at most MAX_MEDIA_PER_MESSAGE; their count and size are checked with a message). */
    attachments: z.array(attachmentInputSchema).max(64).optional(),
    /** An edited message keeps the attachments of the one it is a new version of. */
    attachmentsFrom: id.optional(),
  })
  .strict()
  .refine((input) => input.text.length > 0 || (input.attachments?.length ?? 0) > 0 || input.attachmentsFrom !== undefined, {
    message: 'A message needs text or an attachment.',
    path: ['text'],
  });
export type SendInput = z.infer<typeof sendSchema>;
export const attachmentIdSchema = z.object({ id }).strict();
/** An attachment's bytes, for the thread's thumbnails and the full-size view. */
export interface AttachmentData {
  id: string;
  name: string;
  mime: MediaMimeType;
  /** base64 */
  data: string;
}
export const regenerateSchema = z.object({ conversationId: id, messageId: id }).strict();
export const exportSchema = z.object({ id, format: z.enum(['md', 'json']) }).strict();
