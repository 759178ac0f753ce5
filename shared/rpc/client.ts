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
import type { Transport } from './transport';

export interface HostClient {
  api: HostApi;
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void;
  close(): void;
  readonly closed: boolean;
}

/** A typed client of the host over any transport. */
export function createHostClient(transport: Transport): HostClient {
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

  const peer = createPeer<HostHandlers, ClientEvents>(transport, { local });

  const api = {} as Record<MethodName, (input?: unknown) => Promise<unknown>>;
  for (const name of Object.keys(methods) as MethodName[]) {
    api[name] = (input?: unknown) => {
      if (transport.closed) return Promise.reject(new RpcError('disconnected', 'Not connected to the host.'));
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
