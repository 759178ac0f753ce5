import { z } from 'zod';
import { RpcError } from '../../shared/errors';

/** What a pairing code carries: where the machine listens, its certificate's fingerprint, and a one-time secret. */
export interface PairingCode {
  host: string;
  port: number;
  fingerprint: string;
  secret: string;
  /** The sharing machine's name, shown before the pairing is made. */
  name: string;
}

const PREFIX = 'FH1-';

const codeSchema = z
  .object({
    h: z.string().min(1).max(255),
    p: z.number().int().min(1).max(65535),
    f: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
    s: z.string().regex(/^[A-Za-z0-9_-]{22,86}$/),
    n: z.string().max(60),
  })
  .strict();

export function encodePairingCode(code: PairingCode): string {
  const json = JSON.stringify({ h: code.host, p: code.port, f: code.fingerprint, s: code.secret, n: code.name });
  return PREFIX + Buffer.from(json, 'utf8').toString('base64url');
}

/** Reads a code as pasted (spaces and line breaks from a chat message or an e-mail are ignored). */
export function decodePairingCode(text: string): PairingCode {
  const compact = text.replace(/\s+/g, '');
  const bad = () =>
    new RpcError(
      'invalid_input',
      'That is not a Freehold pairing code: copy the whole code shown under "Share this machine" (it begins with FH1-).',
    );
  if (!compact.startsWith(PREFIX) || compact.length > 1000) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(compact.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const result = codeSchema.safeParse(parsed);
  if (!result.success) throw bad();
  const { h, p, f, s, n } = result.data;
  return { host: h, port: p, fingerprint: f, secret: s, name: n };
}
