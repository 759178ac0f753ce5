/**
 * The client end of a link to a paired Freehold: the TLS connection with the
 * certificate checked against the pinned fingerprint, the first message
 * (pair, auth, unpair) and its answer. What is done over an open link is the
 * machine's (freehold-machine.ts); a split model's tunnel is the engines'
 * (engines/rpc-tunnel.ts).
 */
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { RpcError } from '../../shared/errors';
import { fingerprintOf } from './certificate';
import {
  answerSchema,
  CLOSE_RATE_LIMITED,
  CLOSE_REFUSED,
  LINK_PATH,
  MAX_LINK_MESSAGE_BYTES,
  type Answer,
  type Hello,
} from './link-protocol';
import type { PairingCode } from './pairing-code';

/** A paired Freehold as stored on this machine: where it is, the fingerprint it must show, and this pairing's key. */
export interface PairedMachineRecord {
  id: string;
  kind: 'freehold';
  name: string;
  host: string;
  port: number;
  fingerprint: string;
  pairingId: string;
  key: string;
  order: number;
  addedAt: string;
}

/** How long a link may take to connect and be welcomed. */
export const CONNECT_TIMEOUT_MS = 8000;

/** The machine refused the link (a revoked pairing, a different certificate, too many attempts): retrying will not help. */
export class LinkRefused extends RpcError {}

export const addressOf = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Opens a link: TLS, with the certificate checked against the pinned
 * fingerprint before anything but the request line is sent, then the hello.
 * Resolves with the open socket and the answer.
 */
export function openLink(
  target: { host: string; port: number; fingerprint: string; name: string },
  hello: Hello,
  timeoutMs: number,
): Promise<{ ws: WebSocket; answer: Answer }> {
  return new Promise((resolve, reject) => {
    const where = `${target.name} (${addressOf(target.host, target.port)})`;
    const ws = new WebSocket(`wss://${addressOf(target.host, target.port)}${LINK_PATH}`, {
      // No CA is involved: the certificate is trusted by its fingerprint alone, checked below.
      rejectUnauthorized: false,
      maxPayload: MAX_LINK_MESSAGE_BYTES,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    let settled = false;
    const fail = (error: RpcError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new RpcError('disconnected', `${where} did not answer within ${Math.round(timeoutMs / 1000)} s.`)),
      timeoutMs,
    );
    ws.on('upgrade', (response) => {
      const socket = response.socket as TLSSocket;
      const raw = socket.getPeerCertificate?.()?.raw;
      if (!raw || fingerprintOf(raw) !== target.fingerprint) {
        fail(
          new LinkRefused(
            'refused',
            `${where} presented a different certificate from the one paired, so the link was refused: something on the network may be intercepting it, or ${target.name}'s data folder was replaced. If you trust it, remove the machine and pair again.`,
          ),
        );
      }
    });
    ws.on('open', () => {
      if (settled) return;
      ws.send(JSON.stringify(hello));
    });
    ws.once('message', (data) => {
      if (settled) return;
      let answer: Answer;
      try {
        const parsed = answerSchema.safeParse(JSON.parse(String(data)));
        if (!parsed.success) throw new Error('unreadable');
        answer = parsed.data;
      } catch {
        return fail(new RpcError('bad_message', `${where} answered with something that is not a Freehold link message.`));
      }
      if (answer.t === 'refused') {
        return fail(new LinkRefused(answer.code === 'rate_limited' ? 'rate_limited' : 'refused', answer.message));
      }
      settled = true;
      clearTimeout(timer);
      resolve({ ws, answer });
    });
    ws.on('close', (code, reason) => {
      if (code === CLOSE_REFUSED || code === CLOSE_RATE_LIMITED)
        return fail(new LinkRefused('refused', `${where} refused the link (${reason.toString()}).`));
      fail(new RpcError('disconnected', `${where} closed the connection.`));
    });
    ws.on('error', (error) => fail(new RpcError('disconnected', `${where} could not be reached: ${error.message}`)));
  });
}

/** Pairs with the machine a code names: the one-time secret for a key of this pairing's own. */
export async function pairWithCode(
  code: PairingCode,
  me: { name: string; machineId: string },
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<{ machineId: string; name: string; pairingId: string; key: string }> {
  const { ws, answer } = await openLink(
    { host: code.host, port: code.port, fingerprint: code.fingerprint, name: code.name || 'The machine' },
    { t: 'pair', v: 1, secret: code.secret, name: me.name, machineId: me.machineId },
    timeoutMs,
  );
  ws.close(1000, 'paired');
  if (answer.t !== 'paired') throw new RpcError('bad_message', `${code.name} did not complete the pairing.`);
  return { machineId: answer.machine.id, name: answer.machine.name, pairingId: answer.pairingId, key: answer.key };
}

/** Asks the machine to forget this pairing's key. True when it did; false when it could not be reached (it will refuse the key anyway once revoked there). */
export async function unpair(record: PairedMachineRecord, timeoutMs = 3000): Promise<boolean> {
  try {
    const { ws, answer } = await openLink(record, { t: 'unpair', v: 1, pairingId: record.pairingId, key: record.key }, timeoutMs);
    ws.close();
    return answer.t === 'unpaired';
  } catch {
    return false;
  }
}
