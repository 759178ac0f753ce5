/**
 * Images and audio sent with user messages, in the chat database: the file as
 * the user gave it (shown in the thread, exported), and for a WebP or GIF the
 * PNG the engine gets (converted once, when it was checked). Rows go with
 * their message (ON DELETE CASCADE): deleting a message or a conversation
 * deletes its attachments.
 */
import { RpcError } from '../../shared/errors';
import type { AttachmentData, AttachmentInput, ChatAttachment } from '../../shared/chat';
import type { MediaKind, MediaMimeType, MediaPart } from '../../shared/media';
import { checkMedia, checkMediaCount, MediaError, type MediaProblem } from '../formats/media-check';
import { newId } from './conversation-schema';
import type { SqliteDatabase } from './sqlite';

/** An attachment checked and ready to store: what the user sent, and what the engine gets. */
export interface NewAttachment {
  name: string;
  kind: MediaKind;
  mime: MediaMimeType;
  bytes: number;
  width?: number;
  height?: number;
  data: Buffer;
  /** The engine's copy where it differs from the file (WebP and GIF become PNG). */
  enginePart: MediaPart | null;
}

interface AttachmentRow {
  id: string;
  message_id: string;
  position: number;
  kind: MediaKind;
  mime: MediaMimeType;
  name: string;
  bytes: number;
  width: number | null;
  height: number | null;
}

/** What a refusal of attachments carries, so that the UI shows it beside them (the composer) rather than as a failure. */
export interface AttachmentRefusal {
  attachments: true;
  problem: MediaProblem | 'model';
}

export function refusal(message: string, problem: AttachmentRefusal['problem']): RpcError {
  return new RpcError('invalid_input', message, { attachments: true, problem } satisfies AttachmentRefusal);
}

/**
 * Checks the files of one message as the user sent them (count and size together
 * first, then each: its type from its bytes, its size, every pixel decoded).
 * Throws the refusal with the reason; nothing is stored.
 */
export async function checkAttachments(inputs: ReadonlyArray<Pick<AttachmentInput, 'name' | 'data'>>): Promise<NewAttachment[]> {
  const files = inputs.map((input) => ({ name: input.name, data: Buffer.from(input.data, 'base64') }));
  try {
    checkMediaCount(files.map((f) => f.data.length));
    const checked: NewAttachment[] = [];
    for (const file of files) {
      const media = await checkMedia(file.data, file.name);
      const converted = media.part.mime !== media.mime;
      checked.push({
        name: file.name,
        kind: media.kind,
        mime: media.mime,
        bytes: media.bytes,
        ...(media.width !== undefined ? { width: media.width, height: media.height } : {}),
        data: file.data,
        enginePart: converted ? media.part : null,
      });
    }
    return checked;
  } catch (error) {
    if (error instanceof MediaError) throw refusal(error.message, error.problem);
    throw error;
  }
}

/** Stores a message's attachments, in order (inside the caller's transaction). */
export function insertAttachments(db: SqliteDatabase, messageId: string, attachments: readonly NewAttachment[]): void {
  attachments.forEach((a, position) => {
    db.run(
      `INSERT INTO attachments (id, message_id, position, kind, mime, name, bytes, width, height, data, engine_mime, engine_data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      newId(),
      messageId,
      position,
      a.kind,
      a.mime,
      a.name,
      a.bytes,
      a.width ?? null,
      a.height ?? null,
      a.data,
      a.enginePart?.mime ?? null,
      a.enginePart ? Buffer.from(a.enginePart.data, 'base64') : null,
    );
  });
}

/** A message's attachments as they were stored, to store again with another message (an edited version keeps them). */
export function storedAttachments(db: SqliteDatabase, messageId: string): NewAttachment[] {
  return db
    .all<AttachmentRow & { data: Uint8Array; engine_mime: MediaMimeType | null; engine_data: Uint8Array | null }>(
      'SELECT * FROM attachments WHERE message_id = ? ORDER BY position',
      messageId,
    )
    .map((row) => ({
      name: row.name,
      kind: row.kind,
      mime: row.mime,
      bytes: row.bytes,
      ...(row.width !== null ? { width: row.width, height: row.height ?? 0 } : {}),
      data: Buffer.from(row.data),
      enginePart:
        row.engine_mime && row.engine_data
          ? { kind: row.kind, mime: row.engine_mime, data: Buffer.from(row.engine_data).toString('base64') }
          : null,
    }));
}

function toAttachment(row: AttachmentRow): ChatAttachment {
  return {
    id: row.id,
    kind: row.kind,
    mime: row.mime,
    name: row.name,
    bytes: row.bytes,
    ...(row.width !== null ? { width: row.width } : {}),
    ...(row.height !== null ? { height: row.height } : {}),
  };
}

const COLUMNS = 'a.id, a.message_id, a.position, a.kind, a.mime, a.name, a.bytes, a.width, a.height';

/** The attachments of every message of a conversation (without their bytes), by message id. */
export function attachmentsOfConversation(db: SqliteDatabase, conversationId: string): Map<string, ChatAttachment[]> {
  const rows = db.all<AttachmentRow>(
    `SELECT ${COLUMNS} FROM attachments a JOIN messages m ON m.id = a.message_id
     WHERE m.conversation_id = ? ORDER BY a.message_id, a.position`,
    conversationId,
  );
  const byMessage = new Map<string, ChatAttachment[]>();
  for (const row of rows) {
    const list = byMessage.get(row.message_id) ?? [];
    list.push(toAttachment(row));
    byMessage.set(row.message_id, list);
  }
  return byMessage;
}

/** One message's attachments (without their bytes). */
export function attachmentsOfMessage(db: SqliteDatabase, messageId: string): ChatAttachment[] {
  return db
    .all<AttachmentRow>(`SELECT ${COLUMNS} FROM attachments a WHERE a.message_id = ? ORDER BY a.position`, messageId)
    .map(toAttachment);
}

/** One attachment's bytes, for the thread. */
export function attachmentData(db: SqliteDatabase, id: string): AttachmentData {
  const row = db.get<{ id: string; name: string; mime: MediaMimeType; data: Uint8Array }>(
    'SELECT id, name, mime, data FROM attachments WHERE id = ?',
    id,
  );
  if (!row) throw new RpcError('not_found', 'No such attachment (its message was deleted?).');
  return { id: row.id, name: row.name, mime: row.mime, data: Buffer.from(row.data).toString('base64') };
}

/** A message's attachments as the engine takes them (WebP and GIF as their PNG), in order. */
export function mediaOfMessage(db: SqliteDatabase, messageId: string): MediaPart[] {
  return db
    .all<{ kind: MediaKind; mime: MediaMimeType; data: Uint8Array; engine_mime: MediaMimeType | null; engine_data: Uint8Array | null }>(
      'SELECT kind, mime, data, engine_mime, engine_data FROM attachments WHERE message_id = ? ORDER BY position',
      messageId,
    )
    .map((row) =>
      row.engine_mime && row.engine_data
        ? { kind: row.kind, mime: row.engine_mime, data: Buffer.from(row.engine_data).toString('base64') }
        : { kind: row.kind, mime: row.mime, data: Buffer.from(row.data).toString('base64') },
    );
}

/** A message's attachments as an export carries them: name, type and the file in base64. */
export function exportedAttachments(db: SqliteDatabase, messageId: string): Array<{ name: string; mime: MediaMimeType; data: string }> {
  return db
    .all<{ name: string; mime: MediaMimeType; data: Uint8Array }>(
      'SELECT name, mime, data FROM attachments WHERE message_id = ? ORDER BY position',
      messageId,
    )
    .map((row) => ({ name: row.name, mime: row.mime, data: Buffer.from(row.data).toString('base64') }));
}
