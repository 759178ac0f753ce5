import { randomBytes } from 'node:crypto';
import { RpcError } from '../../shared/errors';
import type { GenerationStats } from '../../shared/inference';
import {
  conversationSettingsSchema,
  exportedConversationSchema,
  type ChatMessageRecord,
  type Conversation,
  type ConversationDetail,
  type ConversationSettings,
  type ConversationSummary,
  type ExportedConversation,
  type MessageStatus,
  type ReplyFailure,
  type SearchHit,
} from '../../shared/chat';
import type { ToolCallRecord } from '../../shared/tools';
import { loadSqliteBinding, SqliteDatabase, type SqliteBinding } from './sqlite';

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
];

export const SCHEMA_VERSION = migrations.length;

const newId = () => randomBytes(9).toString('base64url');
const now = () => new Date().toISOString();

interface ConversationRow {
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

interface MessageRow {
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
  stats: string | null;
  created_at: string;
  updated_at: string;
}

function toConversation(row: ConversationRow): Conversation {
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

function toMessage(row: MessageRow): ChatMessageRecord {
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
    stats: row.stats ? (JSON.parse(row.stats) as GenerationStats) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A call left waiting or running (the app quit, the file was exported mid-reply) did not happen. */
export function settledCall(call: ToolCallRecord): ToolCallRecord {
  if (call.status !== 'pending' && call.status !== 'running') return call;
  return { ...call, status: 'error', result: call.result ?? 'The reply ended before this call finished.' };
}

/** A reply in Markdown with its tool calls where they were made: the arguments and the result, in code blocks. */
function markdownWithCalls(m: ChatMessageRecord): string[] {
  const calls = m.toolCalls ?? [];
  if (calls.length === 0) return [m.content];
  const fence = (text: string) => {
    const ticks = '`'.repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((r) => r[0].length + 1)));
    return [ticks, text, ticks];
  };
  const lines: string[] = [];
  let at = 0;
  for (const call of calls) {
    const offset = Math.min(Math.max(call.textOffset, at), m.content.length);
    if (offset > at) lines.push(m.content.slice(at, offset), '');
    at = offset;
    lines.push(`**Tool call** \`${call.tool}\` on ${call.server} (${call.status}):`, '', ...fence(call.arguments), '');
    if (call.result !== null) lines.push('<details><summary>Result</summary>', '', ...fence(call.result), '', '</details>', '');
  }
  if (at < m.content.length) lines.push(m.content.slice(at));
  return lines;
}

/**
 * Conversations in SQLite (WAL, synchronous FULL: a committed message survives a
 * power cut), with a versioned schema and full-text search. Messages form a
 * tree: editing or regenerating adds a sibling, so earlier versions stay.
 */
export class ConversationStore {
  readonly db: SqliteDatabase;

  /** `loadBinding` loads (and checks) libsql; tests put a failing one in its place. */
  constructor(file: string, loadBinding: () => SqliteBinding = loadSqliteBinding) {
    this.db = new SqliteDatabase(file, loadBinding());
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('busy_timeout = 5000');
      this.migrate();
      // A reply that was streaming when the app or the worker died is kept, marked interrupted.
      this.db.run(`UPDATE messages SET status = 'interrupted', updated_at = ? WHERE status = 'streaming'`, now());
    } catch (error) {
      // A refused database (from a newer Freehold) is not held open while the app runs without chats.
      this.db.close();
      throw error;
    }
  }

  private migrate(): void {
    const current = Number(this.db.pragma('user_version'));
    if (current > SCHEMA_VERSION) {
      throw new RpcError(
        'conflict',
        `The chat database is from a newer Freehold (schema ${current}; this version knows ${SCHEMA_VERSION}). Nothing was changed.`,
      );
    }
    for (let version = current; version < SCHEMA_VERSION; version += 1) {
      this.db.transaction(() => {
        this.db.exec(migrations[version]!);
        this.db.pragma(`user_version = ${version + 1}`);
      });
    }
  }

  close(): void {
    this.db.close();
  }

  private row(id: string): ConversationRow {
    const row = this.db.get<ConversationRow>('SELECT * FROM conversations WHERE id = ?', id);
    if (!row) throw new RpcError('not_found', 'No such conversation.');
    return row;
  }

  create(input: { title?: string; modelId?: string | null; systemPrompt?: string; settings?: ConversationSettings } = {}): Conversation {
    const id = newId();
    const at = now();
    this.db.run(
      'INSERT INTO conversations (id, title, model_id, system_prompt, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      id,
      input.title ?? 'New chat',
      input.modelId ?? null,
      input.systemPrompt ?? '',
      JSON.stringify(input.settings ?? {}),
      at,
      at,
    );
    return toConversation(this.row(id));
  }

  list(): ConversationSummary[] {
    const rows = this.db.all<{ id: string; title: string; pinned: number; updated_at: string; model_id: string | null; count: number }>(
      `SELECT c.id, c.title, c.pinned, c.updated_at, c.model_id, (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS count
       FROM conversations c ORDER BY c.pinned DESC, c.updated_at DESC`,
    );
    return rows.map((r) => ({
      id: r.id,
      title: r.title,
      pinned: r.pinned === 1,
      updatedAt: r.updated_at,
      messageCount: r.count,
      modelId: r.model_id,
    }));
  }

  get(id: string): ConversationDetail {
    const conversation = toConversation(this.row(id));
    const messages = this.db.all<MessageRow>('SELECT * FROM messages WHERE conversation_id = ? ORDER BY rowid', id).map(toMessage);
    const byId = new Map(messages.map((m) => [m.id, m]));
    const thread: string[] = [];
    for (
      let cursor = conversation.activeLeafId ? byId.get(conversation.activeLeafId) : undefined;
      cursor;
      cursor = cursor.parentId ? byId.get(cursor.parentId) : undefined
    ) {
      thread.unshift(cursor.id);
    }
    return { conversation, messages, thread };
  }

  update(
    id: string,
    change: {
      title?: string;
      pinned?: boolean;
      systemPrompt?: string;
      modelId?: string | null;
      settings?: ConversationSettings;
      activeLeafId?: string;
    },
  ): Conversation {
    const row = this.row(id);
    if (change.activeLeafId !== undefined) {
      const leaf = this.db.get<{ conversation_id: string }>('SELECT conversation_id FROM messages WHERE id = ?', change.activeLeafId);
      if (leaf?.conversation_id !== id) throw new RpcError('invalid_input', 'That message is not in this conversation.');
    }
    this.db.run(
      'UPDATE conversations SET title = ?, pinned = ?, system_prompt = ?, model_id = ?, settings = ?, active_leaf = ?, updated_at = ? WHERE id = ?',
      change.title ?? row.title,
      change.pinned === undefined ? row.pinned : change.pinned ? 1 : 0,
      change.systemPrompt ?? row.system_prompt,
      change.modelId === undefined ? row.model_id : change.modelId,
      change.settings ? JSON.stringify(change.settings) : row.settings,
      change.activeLeafId ?? row.active_leaf,
      now(),
      id,
    );
    return toConversation(this.row(id));
  }

  delete(id: string): void {
    this.row(id);
    this.db.run('DELETE FROM conversations WHERE id = ?', id);
  }

  /** Adds a message under `parentId` (null: the first) and makes it the active leaf, in one transaction. */
  addMessage(
    conversationId: string,
    parentId: string | null,
    role: 'user' | 'assistant',
    content: string,
    status: MessageStatus = 'complete',
  ): ChatMessageRecord {
    const id = newId();
    const at = now();
    this.db.transaction(() => {
      this.row(conversationId);
      if (parentId) {
        const parent = this.db.get<{ conversation_id: string }>('SELECT conversation_id FROM messages WHERE id = ?', parentId);
        if (parent?.conversation_id !== conversationId)
          throw new RpcError('invalid_input', 'The parent message is not in this conversation.');
      }
      this.db.run(
        'INSERT INTO messages (id, conversation_id, parent_id, role, content, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        id,
        conversationId,
        parentId,
        role,
        content,
        status,
        at,
        at,
      );
      this.db.run('UPDATE conversations SET active_leaf = ?, updated_at = ? WHERE id = ?', id, at, conversationId);
    });
    return this.message(id);
  }

  message(id: string): ChatMessageRecord {
    const row = this.db.get<MessageRow>('SELECT * FROM messages WHERE id = ?', id);
    if (!row) throw new RpcError('not_found', 'No such message.');
    return toMessage(row);
  }

  /** Appends streamed text to a reply (called in batches while it streams). */
  appendToReply(id: string, text: string, reasoning: string): void {
    this.db.run(
      'UPDATE messages SET content = content || ?, reasoning = reasoning || ?, updated_at = ? WHERE id = ?',
      text,
      reasoning,
      now(),
      id,
    );
  }

  /** The reply's tool calls as they stand (each change of status or result is written). */
  setToolCalls(id: string, calls: ToolCallRecord[]): void {
    this.db.run('UPDATE messages SET tool_calls = ?, updated_at = ? WHERE id = ?', calls.length ? JSON.stringify(calls) : null, now(), id);
  }

  finishReply(
    id: string,
    status: MessageStatus,
    stats: GenerationStats | null,
    error: string | null,
    failure?: ReplyFailure,
  ): ChatMessageRecord {
    this.db.run(
      'UPDATE messages SET status = ?, stats = ?, error = ?, failure = ?, updated_at = ? WHERE id = ?',
      status,
      stats ? JSON.stringify(stats) : null,
      error,
      failure ? JSON.stringify(failure) : null,
      now(),
      id,
    );
    return this.message(id);
  }

  /** Deletes a message and everything after it on its branch; the parent becomes the active leaf. */
  deleteMessage(id: string): void {
    const target = this.message(id);
    this.db.transaction(() => {
      const doomed = [id];
      for (let i = 0; i < doomed.length; i += 1) {
        for (const child of this.db.all<{ id: string }>('SELECT id FROM messages WHERE parent_id = ?', doomed[i]!)) doomed.push(child.id);
      }
      for (const doomedId of doomed.reverse()) this.db.run('DELETE FROM messages WHERE id = ?', doomedId);
      this.db.run('UPDATE conversations SET active_leaf = ?, updated_at = ? WHERE id = ?', target.parentId, now(), target.conversationId);
    });
  }

  search(text: string, limit = 50): SearchHit[] {
    const query = text
      .split(/\s+/)
      .filter(Boolean)
      .map((word) => `"${word.replaceAll('"', '""')}"`)
      .join(' ');
    if (!query) return [];
    return this.db
      .all<{ conversation_id: string; title: string; id: string; snippet: string }>(
        `SELECT m.conversation_id, c.title, m.id, snippet(messages_fts, 0, '[', ']', '…', 12) AS snippet
         FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid JOIN conversations c ON c.id = m.conversation_id
         WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?`,
        query,
        limit,
      )
      .map((r) => ({ conversationId: r.conversation_id, conversationTitle: r.title, messageId: r.id, snippet: r.snippet }));
  }

  exportJson(id: string): ExportedConversation {
    const { conversation, messages } = this.get(id);
    return {
      format: 'freehold-conversation',
      version: 1,
      conversation: {
        title: conversation.title,
        systemPrompt: conversation.systemPrompt,
        settings: conversation.settings,
        modelId: conversation.modelId,
        pinned: conversation.pinned,
        createdAt: conversation.createdAt,
        activeLeafId: conversation.activeLeafId,
      },
      messages: messages.map((m) => ({
        id: m.id,
        parentId: m.parentId,
        role: m.role,
        content: m.content,
        reasoning: m.reasoning,
        status: m.status,
        error: m.error,
        ...(m.toolCalls?.length ? { toolCalls: m.toolCalls } : {}),
        createdAt: m.createdAt,
      })),
    };
  }

  exportMarkdown(id: string): string {
    const { conversation, messages, thread } = this.get(id);
    const byId = new Map(messages.map((m) => [m.id, m]));
    const lines = [`# ${conversation.title}`, ''];
    if (conversation.systemPrompt) lines.push(`> System: ${conversation.systemPrompt.replace(/\n/g, '\n> ')}`, '');
    for (const messageId of thread) {
      const m = byId.get(messageId)!;
      lines.push(`## ${m.role === 'user' ? 'You' : 'Assistant'}`, '');
      if (m.reasoning) lines.push('<details><summary>Reasoning</summary>', '', m.reasoning, '', '</details>', '');
      lines.push(...markdownWithCalls(m), '');
      if (m.status !== 'complete') lines.push(`_(${m.status}${m.error ? `: ${m.error}` : ''})_`, '');
    }
    return lines.join('\n');
  }

  /** Imports an exported conversation as a new one (fresh ids); refuses anything not in the format. */
  importJson(data: unknown): Conversation {
    const parsed = exportedConversationSchema.safeParse(data);
    if (!parsed.success)
      throw new RpcError(
        'invalid_input',
        `Not a Freehold conversation export: ${parsed.error.issues[0]?.path.join('.') || 'top level'} ${parsed.error.issues[0]?.message ?? ''}`,
      );
    const input = parsed.data;
    const ids = new Map(input.messages.map((m) => [m.id, newId()]));
    for (const m of input.messages)
      if (m.parentId !== null && !ids.has(m.parentId))
        throw new RpcError('invalid_input', `Message ${m.id} refers to a parent that is not in the file.`);
    const id = newId();
    const insertMessage =
      'INSERT INTO messages (id, conversation_id, parent_id, role, content, reasoning, status, error, tool_calls, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
    this.db.transaction(() => {
      this.db.run(
        'INSERT INTO conversations (id, title, model_id, system_prompt, settings, pinned, created_at, updated_at, active_leaf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        id,
        input.conversation.title,
        input.conversation.modelId,
        input.conversation.systemPrompt,
        JSON.stringify(input.conversation.settings),
        input.conversation.pinned ? 1 : 0,
        input.conversation.createdAt,
        now(),
        input.conversation.activeLeafId ? (ids.get(input.conversation.activeLeafId) ?? null) : null,
      );
      // Parents before children, whatever order the file lists them in.
      const pending = [...input.messages];
      const inserted = new Set<string>();
      while (pending.length > 0) {
        const before = pending.length;
        for (let i = pending.length - 1; i >= 0; i -= 1) {
          const m = pending[i]!;
          if (m.parentId !== null && !inserted.has(m.parentId)) continue;
          this.db.run(
            insertMessage,
            ids.get(m.id)!,
            id,
            m.parentId ? ids.get(m.parentId)! : null,
            m.role,
            m.content,
            m.reasoning,
            m.status === 'streaming' ? 'interrupted' : m.status,
            m.error,
            m.toolCalls?.length ? JSON.stringify(m.toolCalls.map(settledCall)) : null,
            m.createdAt,
            now(),
          );
          inserted.add(m.id);
          pending.splice(i, 1);
        }
        if (pending.length === before) throw new RpcError('invalid_input', 'The messages in the file form a loop.');
      }
    });
    return toConversation(this.row(id));
  }

  integrityCheck(): string {
    return String(this.db.pragma('integrity_check'));
  }
}

/**
 * Opens the store for a host. If it cannot be opened (no usable SQLite binding,
 * a database from a newer Freehold, an unreadable file), the host still starts:
 * the reason is reported once, and every chat call answers with it.
 */
export function openConversationStore(
  file: string,
  report: (reason: string) => void,
  loadBinding?: () => SqliteBinding,
): ConversationStore {
  try {
    return new ConversationStore(file, loadBinding);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    report(reason);
    const refuse = () => {
      throw new RpcError('unavailable', reason);
    };
    // Stands in for the store: every method throws the reason; closing it is a no-op.
    return new Proxy({} as ConversationStore, {
      get: (_target, key) => (key === 'close' ? () => undefined : typeof key === 'string' && key !== 'then' ? refuse : undefined),
    });
  }
}
