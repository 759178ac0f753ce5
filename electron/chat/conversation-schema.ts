/** The chat database's schema (its migrations) and rows: how they are read into the contract's types. */
import { randomBytes } from 'node:crypto';
import { RpcError } from '../../shared/errors';
import type { GenerationStats } from '../../shared/inference';
import {
  conversationSettingsSchema,
  type ChatMessageRecord,
  type Conversation,
  type MessageStatus,
  type ReplyFailure,
} from '../../shared/chat';
import type { ReplySources } from '../../shared/documents';
import type { ToolCallRecord } from '../../shared/tools';
import { DOCUMENTS_MIGRATION } from '../docs/doc-schema';
import type { SqliteDatabase } from './sqlite';

/** Each entry moves the schema one version on; applied in order, in a transaction, never edited once shipped. */
const migrations: string[] = [
  `CREATE TABLE conversations (
     id TEXT PRIMARY KEY,
     title TEXT NOT NULL,
     model_id TEXT,
     system_prompt TEXT NOT NULL DEFAULT '',
     settings TEXT NOT NULL DEFAULT '{}',
     pinned INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     active_leaf TEXT
   );
   CREATE TABLE messages (
     rowid INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
     parent_id TEXT,
     role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
     content TEXT NOT NULL,
     reasoning TEXT NOT NULL DEFAULT '',
     status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'streaming', 'interrupted', 'failed')),
     error TEXT,
     stats TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX messages_by_conversation ON messages (conversation_id, rowid);
   CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = 'messages', content_rowid = 'rowid');
   CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
     INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
   END;
   CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
     INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
   END;
   CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
     INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
     INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
   END;`,
  // Why a reply failed, with the numbers the chat view acts on (JSON: ReplyFailure).
  `ALTER TABLE messages ADD COLUMN failure TEXT;`,
  // The tools a reply called, with their arguments, status and results (JSON: ToolCallRecord[]).
  `ALTER TABLE messages ADD COLUMN tool_calls TEXT;`,
  // Images and audio sent with user messages (electron/chat/attachments.ts): the file as given and,
  // for WebP and GIF, the PNG the engine gets. They go with their message.
  `CREATE TABLE attachments (
     id TEXT PRIMARY KEY,
     message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
     position INTEGER NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('image', 'audio')),
     mime TEXT NOT NULL,
     name TEXT NOT NULL,
     bytes INTEGER NOT NULL,
     width INTEGER,
     height INTEGER,
     data BLOB NOT NULL,
     engine_mime TEXT,
     engine_data BLOB
   );
   CREATE INDEX attachments_by_message ON attachments (message_id, position);`,
  // The passages of documents a reply was given, and the ones it cites (JSON: ReplySources).
  `ALTER TABLE messages ADD COLUMN sources TEXT;`,
  // Documents, their chunks (FTS5-indexed) and collections (electron/docs/doc-schema.ts); vectors are added at runtime.
  DOCUMENTS_MIGRATION,
];

export const SCHEMA_VERSION = migrations.length;

/** Brings the database to SCHEMA_VERSION, one migration per transaction; refuses one from a newer Freehold. */
export function migrate(db: SqliteDatabase): void {
  const current = Number(db.pragma('user_version'));
  if (current > SCHEMA_VERSION) {
    throw new RpcError(
      'conflict',
      `The chat database is from a newer Freehold (schema ${current}; this version knows ${SCHEMA_VERSION}). Nothing was changed.`,
    );
  }
  for (let version = current; version < SCHEMA_VERSION; version += 1) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    });
  }
}

/**
 * A conversation's or message's id: 12 base64url characters, never starting
 * with "-" or "_" (an id given to the CLI must not read as an option:
 * `freehold chats export <id>`).
 */
export function newId(): string {
  for (;;) {
    const id = randomBytes(9).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}
export const now = () => new Date().toISOString();

export interface ConversationRow {
  id: string;
  title: string;
  model_id: string | null;
  system_prompt: string;
  settings: string;
  pinned: number;
  created_at: string;
  updated_at: string;
  active_leaf: string | null;
}

export interface MessageRow {
  id: string;
  conversation_id: string;
  parent_id: string | null;
  role: 'user' | 'assistant';
  content: string;
  reasoning: string;
  status: MessageStatus;
  error: string | null;
  failure: string | null;
  tool_calls: string | null;
  sources?: string | null;
  stats: string | null;
  created_at: string;
  updated_at: string;
}

export function toConversation(row: ConversationRow): Conversation {
  const settings = conversationSettingsSchema.safeParse(JSON.parse(row.settings));
  return {
    id: row.id,
    title: row.title,
    modelId: row.model_id,
    systemPrompt: row.system_prompt,
    settings: settings.success ? settings.data : {},
    pinned: row.pinned === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    activeLeafId: row.active_leaf,
  };
}

export function toMessage(row: MessageRow): ChatMessageRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    parentId: row.parent_id,
    role: row.role,
    content: row.content,
    reasoning: row.reasoning,
    status: row.status,
    error: row.error,
    ...(row.failure ? { failure: JSON.parse(row.failure) as ReplyFailure } : {}),
    ...(row.tool_calls ? { toolCalls: JSON.parse(row.tool_calls) as ToolCallRecord[] } : {}),
    ...(row.sources ? { sources: JSON.parse(row.sources) as ReplySources } : {}),
    stats: row.stats ? (JSON.parse(row.stats) as GenerationStats) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
