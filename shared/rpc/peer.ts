import { createBirpc, type BirpcReturn } from 'birpc';
import { RpcError } from '../errors';
import { decodeIncoming, encodeOutgoing, errorResponse, MAX_MESSAGE_BYTES, parseMessage, type Envelope } from './protocol';
import type { Transport } from './transport';

export interface PeerOptions<Local extends object> {
  /** Functions the other side may call, keyed by name. */
  local: Local;
  /** Remote names that are fire-and-forget events rather than calls. */
  remoteEventNames?: readonly string[];
  /** Called when the other side sends something unusable; the message is dropped. */
  onProtocolError?: (error: RpcError) => void;
  /** Largest message accepted from the other side (default MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
}

export type Peer<Remote extends object, Local extends object> = BirpcReturn<Remote, Local>;

/**
 * One end of an RPC connection: birpc over a Transport, with every incoming
 * message checked before birpc sees it, only declared functions callable
 * (a message naming "constructor" or "__proto__" reaches nothing), no
 * timeouts on long calls, and pending calls failed when the transport closes.
 */
export function createPeer<Remote extends object, Local extends object>(
  transport: Transport,
  options: PeerOptions<Local>,
): Peer<Remote, Local> {
  const { local, onProtocolError } = options;
  let birpcHandler: ((data: Envelope) => Promise<void> | void) | undefined;

  const report = (error: unknown) => {
    onProtocolError?.(error instanceof RpcError ? error : new RpcError('internal', String(error)));
  };

  const rpc = createBirpc<Remote, Local>(local, {
    post: (data) => {
      if (transport.closed) return;
      transport.send(encodeOutgoing(data));
    },
    on: (handler) => {
      birpcHandler = handler as (data: Envelope) => Promise<void> | void;
    },
    eventNames: (options.remoteEventNames ?? []) as (keyof Remote)[],
    bind: 'functions',
    // Long calls (a model load, a download) must not time out while their work
    // continues; a dead connection fails them instead (see onClose below).
    timeout: -1,
    resolver: (name, fn) => {
      if (Object.hasOwn(local, name) && typeof fn === 'function') return fn;
      return () => {
        throw new RpcError('unknown_method', `Unknown method "${String(name).slice(0, 100)}".`);
      };
    },
    // birpc routes two kinds of failure here: a reply that could not be sent
    // (it names the function: report and carry on) and a call of ours that
    // failed (no name: it must reach the caller as a rejection, so not handled).
    onGeneralError: (error, functionName) => {
      if (functionName === undefined) return false;
      report(error);
      return true;
    },
  });

  const maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  transport.onMessage((raw, byteLength) => {
    const parsed = parseMessage(raw, byteLength, maxBytes);
    if (!parsed.ok) {
      if (parsed.requestId && !transport.closed) transport.send(errorResponse(parsed.requestId, parsed.error));
      report(parsed.error);
      // An answer too large to take still ends its call, with the error, rather than leaving it waiting forever.
      if (parsed.responseTo) void Promise.resolve(birpcHandler?.({ t: 's', i: parsed.responseTo, e: parsed.error })).catch(report);
      return;
    }
    try {
      void Promise.resolve(birpcHandler?.(decodeIncoming(parsed.envelope))).catch(report);
    } catch (error) {
      report(error);
    }
  });

  transport.onClose((reason) => {
    rpc.$close(new RpcError('disconnected', `Connection to the host closed (${reason}).`));
  });

  return rpc;
}
