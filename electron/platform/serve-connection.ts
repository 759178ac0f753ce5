import { z } from 'zod';
import {
  eventNames,
  methods,
  type ClientEvents,
  type EventName,
  type Events,
  type HostHandlers,
  type MethodName,
} from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import { createPeer } from '../../shared/rpc/peer';
import type { Transport } from '../../shared/rpc/transport';
import type { EventBus } from './events';

type Local = Record<MethodName, (...args: unknown[]) => Promise<unknown>>;

/**
 * Wraps each handler so that its input is validated against the contract's
 * schema at the boundary: a handler only ever sees parsed, typed input.
 */
export function validatedHandlers(handlers: HostHandlers): Local {
  const local = {} as Local;
  for (const name of Object.keys(methods) as MethodName[]) {
    const schema = methods[name].input as z.ZodType;
    local[name] = async (...args: unknown[]) => {
      if (args.length > 1) throw new RpcError('invalid_input', `${name} takes at most one argument.`);
      const parsed = schema.safeParse(args[0]);
      if (!parsed.success) {
        throw new RpcError('invalid_input', `Invalid input for ${name}: ${z.prettifyError(parsed.error)}`, {
          issues: parsed.error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })),
        });
      }
      return (handlers[name] as (input: unknown) => unknown)(parsed.data);
    };
  }
  return local;
}

export interface ServeOptions {
  onProtocolError?: (error: RpcError) => void;
  /** Largest message taken from the client (default MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
  /** What of each event this client may see: the payload to send (changed or not), or undefined to send nothing. */
  filterEvent?: <E extends EventName>(event: E, payload: Events[E]) => Events[E] | undefined;
}

/** Serves the host's handlers and events over one client connection. */
export function serveConnection(transport: Transport, handlers: HostHandlers, events: EventBus, options: ServeOptions = {}): void {
  const peer = createPeer<ClientEvents, Local>(transport, {
    local: validatedHandlers(handlers),
    remoteEventNames: eventNames,
    onProtocolError: options.onProtocolError,
    maxMessageBytes: options.maxMessageBytes,
  });
  const unsubscribe = events.subscribeAll((event: EventName, payload) => {
    if (transport.closed) return;
    const shown = options.filterEvent ? options.filterEvent(event, payload) : payload;
    if (shown === undefined) return;
    const send = peer[event] as unknown as { asEvent: (p: unknown) => Promise<void> };
    send.asEvent(shown).catch(() => undefined);
  });
  transport.onClose(unsubscribe);
}
