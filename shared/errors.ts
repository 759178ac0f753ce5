/**
 * Errors that cross the contract. Anything thrown by a service reaches the
 * other side as an RpcError with one of these codes, never as a raw Error
 * (which loses its fields on JSON or structured clone).
 */
export const errorCodes = [
  'invalid_input',
  'unknown_method',
  'bad_message',
  'payload_too_large',
  'not_found',
  'conflict',
  'unavailable',
  'disconnected',
  'invalid_model',
  'out_of_memory',
  /** The prompt does not fit in the loaded context; details: ContextOverflow (shared/inference). */
  'context_length_exceeded',
  'no_model_loaded',
  'worker_crashed',
  'busy',
  'aborted',
  /** Not allowed from this caller (a paired machine, a browser UI not on 127.0.0.1). */
  'forbidden',
  /** Another machine refused: a revoked or unknown pairing, a used code, a certificate that is not the paired one. */
  'refused',
  /** Too many attempts (pairing): wait and try again. */
  'rate_limited',
  /** Another machine's own error (an OpenAI-compatible server's message, with its HTTP status). */
  'remote_error',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface WireError {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }

  toWire(): WireError {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isWireError(value: unknown): value is WireError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.message === 'string' && typeof v.code === 'string' && (errorCodes as readonly string[]).includes(v.code);
}

/** Turns anything thrown into a WireError without leaking stack traces. */
export function toWireError(error: unknown): WireError {
  if (error instanceof RpcError) return error.toWire();
  if (isWireError(error)) return { code: error.code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'internal', message };
}

export function fromWireError(value: unknown): RpcError {
  if (isWireError(value)) return new RpcError(value.code, value.message, value.details);
  return new RpcError('internal', 'The host answered with an unreadable error.');
}
