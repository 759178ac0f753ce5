/**
 * The first message on a link, before any RPC: a pairing (with the one-time
 * secret from the code), a session (with the pairing's own key), or a request
 * to forget the pairing. Everything after a welcome is the host contract.
 */
import { z } from 'zod';

export const LINK_PATH = '/link';
/** A split model's RPC traffic: the TLS connection itself, upgraded with the pairing's id and key in headers. */
export const TUNNEL_PATH = '/tunnel';
export const TUNNEL_PROTOCOL = 'freehold-rpc';
/** Largest message either side takes on a link (a long conversation on its way to a reply). */
export const MAX_LINK_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Close codes: refused (revoked, unknown, wrong secret), rate-limited. */
export const CLOSE_REFUSED = 4403;
export const CLOSE_RATE_LIMITED = 4429;

const name = z.string().trim().min(1).max(60);
const token = z.string().regex(/^[A-Za-z0-9_-]{16,100}$/);

export const helloSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('pair'), v: z.literal(1), secret: token, name, machineId: token }).strict(),
  z.object({ t: z.literal('auth'), v: z.literal(1), pairingId: token, key: token }).strict(),
  z.object({ t: z.literal('unpair'), v: z.literal(1), pairingId: token, key: token }).strict(),
]);
export type Hello = z.infer<typeof helloSchema>;

export const answerSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('paired'), pairingId: token, key: token, machine: z.object({ id: token, name }).strict() }).strict(),
  z.object({ t: z.literal('welcome'), machine: z.object({ id: token, name }).strict() }).strict(),
  z.object({ t: z.literal('unpaired') }).strict(),
  z
    .object({
      t: z.literal('refused'),
      code: z.enum(['refused', 'rate_limited', 'bad_message']),
      message: z.string().max(500),
    })
    .strict(),
]);
export type Answer = z.infer<typeof answerSchema>;

/** A machine's id as others know it: derived from its certificate, so it is stable and cannot be claimed by another. */
export function machineIdOf(fingerprint: string): string {
  return fingerprint
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 16)
    .padEnd(16, '0');
}
