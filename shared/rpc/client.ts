import { RpcError } from '../errors';
import {
  eventNames,
  methods,
  type ClientEvents,
  type EventName,
  type Events,
  type HostApi,
  type HostHandlers,
  type MethodName,
} from '../contract';
import { createPeer } from './peer';
import { bytesOverLimit, MAX_MESSAGE_BYTES, MAX_TRUSTED_MESSAGE_BYTES, MEDIA_METHODS, mediaAllowance } from './protocol';
import type { Transport } from './transport';

export interface HostClient {
  api: HostApi;
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void;
  close(): void;
  readonly closed: boolean;
}

/** Room left in a message for its envelope (method name, call id) around the input. */
const ENVELOPE_BYTES = 1024;

/** A typed client of the host over any transport. */
export function createHostClient(
  transport: Transport,
  /** Bounds other than a UI's (a link between machines: 16 MiB each way). */
  limits: { outgoingBytes?: number; incomingBytes?: number } = {},
): HostClient {
  const maxOutgoing = limits.outgoingBytes ?? MAX_MESSAGE_BYTES;
  const listeners = new Map<EventName, Set<(payload: never) => void>>();

  const local = {} as ClientEvents;
  for (const name of eventNames) {
    (local as Record<EventName, (payload: unknown) => void>)[name] = (payload: unknown) => {
      for (const listener of listeners.get(name) ?? []) {
        try {
          (listener as (p: unknown) => void)(payload);
        } catch (error) {
          console.error(`Listener for ${name} failed`, error);
        }
      }
    };
  }

  // What the host sends (a long conversation, say) may be larger than what it takes from a client.
  const peer = createPeer<HostHandlers, ClientEvents>(transport, {
    local,
    maxMessageBytes: limits.incomingBytes ?? MAX_TRUSTED_MESSAGE_BYTES,
  });

  const api = {} as Record<MethodName, (input?: unknown) => Promise<unknown>>;
  for (const name of Object.keys(methods) as MethodName[]) {
    api[name] = (input?: unknown) => {
      if (transport.closed) return Promise.reject(new RpcError('disconnected', 'Not connected to the host.'));
      // The host refuses (and a WebSocket closes on) a message over the limit: say so here instead, and send nothing.
      // A message's images and audio (base64) come on top of the limit, up to the per-message media limit.
      const media = MEDIA_METHODS.has(name) ? mediaAllowance(input) : 0;
      const bytes = bytesOverLimit(input, maxOutgoing - ENVELOPE_BYTES + media);
      if (bytes !== null) {
        const size = Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(2)} MiB` : 'unencodable';
        const beside = media ? ' beside its images and audio' : '';
        return Promise.reject(
          new RpcError(
            'payload_too_large',
            `Too large to send (${size}): one request to Freehold carries at most ${maxOutgoing / 1024 / 1024} MiB${beside}.`,
          ),
        );
      }
      const call = (peer as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
      return input === undefined ? call!() : call!(input);
    };
  }

  return {
    api: api as unknown as HostApi,
    on(event, listener) {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(listener as (payload: never) => void);
      return () => set.delete(listener as (payload: never) => void);
    },
    close() {
      transport.close('client closed');
    },
    get closed() {
      return transport.closed;
    },
  };
}
