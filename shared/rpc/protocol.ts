import { z } from 'zod';
import { fromWireError, RpcError, toWireError, type WireError } from '../errors';

/** Largest message either side accepts (1 MiB). Bulk data never travels over RPC. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

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
  | { ok: false; error: RpcError; requestId?: string };

function approximateBytes(message: unknown): number {
  try {
    return JSON.stringify(message)?.length ?? 0;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Checks a raw incoming message before the RPC layer sees it. */
export function parseMessage(message: unknown, byteLength?: number): ParsedMessage {
  const requestId = extractRequestId(message);
  const size = byteLength ?? approximateBytes(message);
  if (size > MAX_MESSAGE_BYTES) {
    return {
      ok: false,
      requestId,
      error: new RpcError('payload_too_large', `Message of ${size} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit.`),
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
