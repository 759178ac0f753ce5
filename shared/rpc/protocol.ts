import { z } from 'zod';
import { fromWireError, RpcError, toWireError, type WireError } from '../errors';
import { base64Length, MAX_MEDIA_BYTES_PER_MESSAGE } from '../media';

/**
 * Largest message the host accepts from a UI connection (WebSocket or the
 * desktop app's IPC): 1 MiB. Bulk data never travels over RPC; the UI checks
 * what it sends against this before sending (see client.ts).
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Largest message on the host's channel to its own inference worker, and
 * what a UI accepts from its host. Both ends are Freehold's own processes, so
 * the bound is only against runaway sizes: it holds a whole conversation and
 * the largest API request (8 MiB of JSON, which re-encodes no larger) with room
 * to spare, and a reply past it fails its call with `payload_too_large`.
 */
export const MAX_TRUSTED_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * What images and audio add to a UI message's limit: a chats.send carries its
 * files in base64 (`attachments[].data`) beside the 1 MiB for everything else,
 * up to the per-message media limit (shared/media.ts); a conversation import
 * (`data.messages[].attachments[].data`) the same.
 */
export const MAX_MEDIA_ALLOWANCE_BYTES = base64Length(MAX_MEDIA_BYTES_PER_MESSAGE);

/** The largest WebSocket frame a UI may send: a message with media; every other is held to its own limit (mediaAllowance). */
export const MAX_UI_FRAME_BYTES = MAX_MESSAGE_BYTES + MAX_MEDIA_ALLOWANCE_BYTES + 64 * 1024;

function attachmentBytes(list: unknown): number {
  if (!Array.isArray(list)) return 0;
  let bytes = 0;
  for (const item of list) {
    const data = (item as { data?: unknown } | null)?.data;
    if (typeof data === 'string') bytes += data.length;
  }
  return bytes;
}

/** What a call's input may carry beyond the limit: the base64 of its attachments (ASCII: a byte a character), at most the media allowance. */
export function mediaAllowance(input: unknown): number {
  if (typeof input !== 'object' || input === null) return 0;
  const record = input as { attachments?: unknown; data?: { messages?: unknown } };
  let bytes = attachmentBytes(record.attachments);
  const messages = typeof record.data === 'object' && record.data !== null ? record.data.messages : undefined;
  if (Array.isArray(messages)) for (const m of messages) bytes += attachmentBytes((m as { attachments?: unknown } | null)?.attachments);
  return Math.min(bytes, MAX_MEDIA_ALLOWANCE_BYTES);
}

/** The only calls that carry files: a message sent with its attachments, a conversation imported with them. */
export const MEDIA_METHODS: ReadonlySet<string> = new Set(['chats.send', 'chats.import']);

/** The same for a raw incoming message: a request's input's attachments; nothing for anything else. */
export function messageMediaAllowance(message: unknown): number {
  if (typeof message !== 'object' || message === null) return 0;
  const record = message as { t?: unknown; m?: unknown; a?: unknown };
  return record.t === 'q' && MEDIA_METHODS.has(record.m as string) && Array.isArray(record.a) ? mediaAllowance(record.a[0]) : 0;
}

const requestSchema = z.object({
  t: z.literal('q'),
  m: z.string().min(1).max(200),
  a: z.array(z.unknown()).max(8),
  i: z.string().min(1).max(100).optional(),
  o: z.boolean().optional(),
});

const responseSchema = z.object({
  t: z.literal('s'),
  i: z.string().min(1).max(100),
  r: z.unknown().optional(),
  e: z.unknown().optional(),
});

export const envelopeSchema = z.discriminatedUnion('t', [requestSchema, responseSchema]);
export type Envelope = z.infer<typeof envelopeSchema>;

export type ParsedMessage =
  | { ok: true; envelope: Envelope }
  /** requestId: a call to answer with the error; responseTo: a call of ours whose answer was refused. */
  | { ok: false; error: RpcError; requestId?: string; responseTo?: string };

function approximateBytes(message: unknown): number {
  try {
    return JSON.stringify(message)?.length ?? 0;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Checks a raw incoming message before the RPC layer sees it. */
export function parseMessage(message: unknown, byteLength?: number, maxBytes = MAX_MESSAGE_BYTES): ParsedMessage {
  const requestId = extractRequestId(message);
  const size = byteLength ?? approximateBytes(message);
  if (size > maxBytes && size > maxBytes + messageMediaAllowance(message)) {
    return {
      ok: false,
      requestId,
      responseTo: extractResponseId(message),
      error: new RpcError('payload_too_large', `Message of ${size} bytes exceeds the ${maxBytes}-byte limit.`),
    };
  }
  const parsed = envelopeSchema.safeParse(message);
  if (!parsed.success) {
    return { ok: false, requestId, error: new RpcError('bad_message', 'Malformed RPC message.') };
  }
  return { ok: true, envelope: parsed.data };
}

function extractRequestId(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const record = message as Record<string, unknown>;
  const id = record.i;
  return record.t === 'q' && typeof id === 'string' && id.length > 0 && id.length <= 100 ? id : undefined;
}

function extractResponseId(message: unknown): string | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  const record = message as Record<string, unknown>;
  const id = record.i;
  return record.t === 's' && typeof id === 'string' && id.length > 0 && id.length <= 100 ? id : undefined;
}

/**
 * The size of a message as a WebSocket frame carries it (UTF-8 JSON) when
 * that is over `maxBytes`, else null. Infinity if it cannot be encoded.
 */
export function bytesOverLimit(message: unknown, maxBytes = MAX_MESSAGE_BYTES): number | null {
  let text: string | undefined;
  try {
    text = JSON.stringify(message);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
  // A UTF-16 unit is at most 3 bytes of UTF-8: encode only when the limit could be crossed.
  if (text === undefined || text.length * 3 <= maxBytes) return null;
  const bytes = new TextEncoder().encode(text).byteLength;
  return bytes > maxBytes ? bytes : null;
}

/** Outgoing: errors become plain WireErrors so every transport carries them intact. */
export function encodeOutgoing(message: unknown): unknown {
  if (typeof message === 'object' && message !== null && (message as { t?: unknown }).t === 's') {
    const response = message as { t: 's'; i: string; r?: unknown; e?: unknown };
    if (response.e !== undefined) return { t: 's', i: response.i, e: toWireError(response.e) };
  }
  return message;
}

/** Incoming: WireErrors become RpcError instances again. */
export function decodeIncoming(envelope: Envelope): Envelope {
  if (envelope.t === 's' && envelope.e !== undefined) return { ...envelope, e: fromWireError(envelope.e) };
  return envelope;
}

export function errorResponse(requestId: string, error: WireError | RpcError): unknown {
  return { t: 's', i: requestId, e: error instanceof RpcError ? error.toWire() : error };
}
