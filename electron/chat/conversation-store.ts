import { RpcError } from '../../shared/errors';
import type { GenerationStats } from '../../shared/inference';
import type {
  AttachmentData,
  ChatMessageRecord,
  Conversation,
  ConversationDetail,
  ConversationSettings,
  ConversationSummary,
  ExportedConversation,
  MessageStatus,
  ReplyFailure,
  SearchHit,
} from '../../shared/chat';
import type { ReplySources } from '../../shared/documents';
import type { MediaPart } from '../../shared/media';
import type { ToolCallRecord } from '../../shared/tools';
import {
  attachmentData,
  attachmentsOfConversation,
  attachmentsOfMessage,
  insertAttachments,
  mediaOfMessage,
  storedAttachments,
  type NewAttachment,
} from './attachments';
import { migrate, newId, now, toConversation, toMessage, type ConversationRow, type MessageRow } from './conversation-schema';
import { checkImport, exportJson, exportMarkdown, importConversation } from './conversation-transfer';
import { loadSqliteBinding, SqliteDatabase, type SqliteBinding } from './sqlite';

export { SCHEMA_VERSION } from './conversation-schema';
export { settledCall } from './conversation-transfer';

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
      migrate(this.db);
      // A reply that was streaming when the app or the worker died is kept, marked interrupted.
      this.db.run(`UPDATE messages SET status = 'interrupted', updated_at = ? WHERE status = 'streaming'`, now());
    } catch (error) {
      // A refused database (from a newer Freehold) is not held open while the app runs without chats.
      this.db.close();
      throw error;
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
    const attachments = attachmentsOfConversation(this.db, id);
    const messages = this.db.all<MessageRow>('SELECT * FROM messages WHERE conversation_id = ? ORDER BY rowid', id).map((row) => {
      const message = toMessage(row);
      const own = attachments.get(message.id);
      return own ? { ...message, attachments: own } : message;
    });
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

  /** Adds a message under `parentId` (null: the first), with its attachments (checked), and makes it the active leaf, in one transaction. */
  addMessage(
    conversationId: string,
    parentId: string | null,
    role: 'user' | 'assistant',
    content: string,
    status: MessageStatus = 'complete',
    attachments: readonly NewAttachment[] = [],
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
      insertAttachments(this.db, id, attachments);
      this.db.run('UPDATE conversations SET active_leaf = ?, updated_at = ? WHERE id = ?', id, at, conversationId);
    });
    return this.message(id);
  }

  message(id: string): ChatMessageRecord {
    const row = this.db.get<MessageRow>('SELECT * FROM messages WHERE id = ?', id);
    if (!row) throw new RpcError('not_found', 'No such message.');
    const attachments = attachmentsOfMessage(this.db, id);
    return attachments.length ? { ...toMessage(row), attachments } : toMessage(row);
  }

  /** One attachment's bytes (base64), for the thread. */
  attachment(id: string): AttachmentData {
    return attachmentData(this.db, id);
  }

  /** A message's images and audio as the engine takes them. */
  mediaOf(messageId: string): MediaPart[] {
    return mediaOfMessage(this.db, messageId);
  }

  /** A message's attachments as stored, to store with another message (an edited version keeps them). */
  attachmentsToCopy(messageId: string): NewAttachment[] {
    return storedAttachments(this.db, messageId);
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

  /** The passages a reply was given and the ones it cites. */
  setSources(id: string, sources: ReplySources | null): void {
    this.db.run('UPDATE messages SET sources = ?, updated_at = ? WHERE id = ?', sources ? JSON.stringify(sources) : null, now(), id);
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

  /** The whole conversation, every branch, as a Freehold export (conversation-transfer.ts). */
  exportJson(id: string): ExportedConversation {
    return exportJson(this.get(id), this.db);
  }

  /** The branch on screen, as Markdown. */
  exportMarkdown(id: string): string {
    return exportMarkdown(this.get(id));
  }

  /**
   * Imports an exported conversation as a new one (fresh ids); refuses anything not in the format.
   * A file with attachments needs their check, which takes a moment: importChecked.
   */
  importJson(data: unknown): Conversation {
    return toConversation(this.row(importConversation(this.db, data)));
  }

  /** importJson, with each attachment checked (its type from its bytes, its size, every pixel decoded) first. */
  async importChecked(data: unknown): Promise<Conversation> {
    const checked = await checkImport(data);
    return toConversation(this.row(importConversation(this.db, data, checked)));
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
