/** Conversations out of and into the app: export as JSON (the whole tree) or Markdown (the thread), import of a JSON export. */
import { RpcError } from '../../shared/errors';
import { exportedConversationSchema, type ChatMessageRecord, type ConversationDetail, type ExportedConversation } from '../../shared/chat';
import { mediaTypeLabels } from '../../shared/media';
import type { ToolCallRecord } from '../../shared/tools';
import { checkAttachments, exportedAttachments, insertAttachments, type NewAttachment } from './attachments';
import { newId, now } from './conversation-schema';
import type { SqliteDatabase } from './sqlite';

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

/** A conversation as a Freehold export file: every branch, with its tool calls and attachments (base64). */
export function exportJson({ conversation, messages }: ConversationDetail, db: SqliteDatabase): ExportedConversation {
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
      ...(m.attachments?.length ? { attachments: exportedAttachments(db, m.id) } : {}),
      ...(m.sources ? { sources: m.sources } : {}),
      createdAt: m.createdAt,
    })),
  };
}

/** A message's attachments named in Markdown (the files themselves are in the JSON export). */
function markdownAttachments(m: ChatMessageRecord): string[] {
  if (!m.attachments?.length) return [];
  const named = m.attachments.map((a) => {
    const size = a.width !== undefined ? `, ${a.width}×${a.height}` : '';
    return `${a.name} (${mediaTypeLabels[a.mime]} ${a.kind}${size})`;
  });
  return [`_Attached: ${named.join('; ')}_`, ''];
}

/** The branch on screen (the thread), as Markdown. */
export function exportMarkdown({ conversation, messages, thread }: ConversationDetail): string {
  const byId = new Map(messages.map((m) => [m.id, m]));
  const lines = [`# ${conversation.title}`, ''];
  if (conversation.systemPrompt) lines.push(`> System: ${conversation.systemPrompt.replace(/\n/g, '\n> ')}`, '');
  for (const messageId of thread) {
    const m = byId.get(messageId)!;
    lines.push(`## ${m.role === 'user' ? 'You' : 'Assistant'}`, '', ...markdownAttachments(m));
    if (m.reasoning) lines.push('<details><summary>Reasoning</summary>', '', m.reasoning, '', '</details>', '');
    lines.push(...markdownWithCalls(m), '');
    if (m.status !== 'complete') lines.push(`_(${m.status}${m.error ? `: ${m.error}` : ''})_`, '');
  }
  return lines.join('\n');
}

function parseExport(data: unknown): ExportedConversation {
  const parsed = exportedConversationSchema.safeParse(data);
  if (!parsed.success)
    throw new RpcError(
      'invalid_input',
      `Not a Freehold conversation export: ${parsed.error.issues[0]?.path.join('.') || 'top level'} ${parsed.error.issues[0]?.message ?? ''}`,
    );
  return parsed.data;
}

/** An export read and its attachments checked as a message's are when sent: what importConversation stores. */
export interface CheckedImport {
  parsed: ExportedConversation;
  /** By the file's message id. */
  attachments: Map<string, NewAttachment[]>;
}

/** Reads an export and checks every attachment in it (type from the bytes, size, every pixel decoded); refuses with the reason. */
export async function checkImport(data: unknown): Promise<CheckedImport> {
  const parsed = parseExport(data);
  const attachments = new Map<string, NewAttachment[]>();
  for (const m of parsed.messages) {
    if (!m.attachments?.length) continue;
    if (m.role !== 'user')
      throw new RpcError('invalid_input', `Message ${m.id} is a reply with attachments; only your messages carry them.`);
    try {
      attachments.set(m.id, await checkAttachments(m.attachments));
    } catch (error) {
      throw new RpcError('invalid_input', `Not imported: in message ${m.id}, ${(error as Error).message}`);
    }
  }
  return { parsed, attachments };
}

/**
 * Imports an exported conversation as a new one (fresh ids), in one transaction; refuses anything not in
 * the format. A file with attachments is stored only as checked (checkImport). Returns its id.
 */
export function importConversation(db: SqliteDatabase, data: unknown, checked?: CheckedImport): string {
  const input = checked?.parsed ?? parseExport(data);
  if (!checked && input.messages.some((m) => m.attachments?.length))
    throw new RpcError('invalid_input', 'This file carries attachments: they are checked before they are stored (importChecked).');
  const ids = new Map(input.messages.map((m) => [m.id, newId()]));
  for (const m of input.messages)
    if (m.parentId !== null && !ids.has(m.parentId))
      throw new RpcError('invalid_input', `Message ${m.id} refers to a parent that is not in the file.`);
  const id = newId();
  const insertMessage =
    'INSERT INTO messages (id, conversation_id, parent_id, role, content, reasoning, status, error, tool_calls, sources, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
  db.transaction(() => {
    db.run(
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
        db.run(
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
          m.sources ? JSON.stringify(m.sources) : null,
          m.createdAt,
          now(),
        );
        insertAttachments(db, ids.get(m.id)!, checked?.attachments.get(m.id) ?? []);
        inserted.add(m.id);
        pending.splice(i, 1);
      }
      if (pending.length === before) throw new RpcError('invalid_input', 'The messages in the file form a loop.');
    }
  });
  return id;
}
