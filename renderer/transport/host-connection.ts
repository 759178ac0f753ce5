import type { FreeholdBridge } from '../../shared/bridge';
import type { EventName, Events, HostApi, MethodName } from '../../shared/contract';
import { eventNames, methods } from '../../shared/contract';
import { RpcError } from '../../shared/errors';
import { createHostClient, type HostClient } from '../../shared/rpc/client';
import { BridgeTransport, BrowserWebSocketTransport } from './browser-transports';

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'connected'; via: 'desktop' | 'websocket' }
  | { kind: 'reconnecting'; attempt: number; retryInMs: number }
  | { kind: 'no-token' };

type Listener<E extends EventName> = (payload: Events[E]) => void;

/**
 * The renderer's one connection to the host. In the desktop app it uses the
 * preload bridge; in a browser, the headless host's WebSocket, reconnecting
 * with backoff. Event subscriptions survive reconnects.
 */
export class HostConnection {
  private client: HostClient | undefined;
  private stateValue: ConnectionState = { kind: 'connecting' };
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private readonly eventListeners = new Map<EventName, Set<Listener<EventName>>>();
  private readonly clientUnsubscribers: Array<() => void> = [];
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  readonly api: HostApi;

  constructor(private readonly target: { bridge: FreeholdBridge } | { wsUrl: string } | { noToken: true }) {
    const api = {} as Record<MethodName, (input?: unknown) => Promise<unknown>>;
    for (const name of Object.keys(methods) as MethodName[]) {
      api[name] = (input?: unknown) => {
        const client = this.client;
        if (!client || client.closed) return Promise.reject(new RpcError('disconnected', 'Not connected to the host.'));
        const call = client.api[name] as (input?: unknown) => Promise<unknown>;
        return input === undefined ? call() : call(input);
      };
    }
    this.api = api as unknown as HostApi;
    if ('noToken' in target) this.setState({ kind: 'no-token' });
    else this.connect();
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  on<E extends EventName>(event: E, listener: Listener<E>): () => void {
    let set = this.eventListeners.get(event);
    if (!set) this.eventListeners.set(event, (set = new Set()));
    set.add(listener as Listener<EventName>);
    return () => set.delete(listener as Listener<EventName>);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.retryTimer);
    this.client?.close();
  }

  private setState(state: ConnectionState): void {
    this.stateValue = state;
    for (const listener of [...this.stateListeners]) listener(state);
  }

  private attach(client: HostClient): void {
    this.client = client;
    for (const off of this.clientUnsubscribers.splice(0)) off();
    for (const name of eventNames) {
      this.clientUnsubscribers.push(
        client.on(name, (payload: Events[EventName]) => {
          for (const listener of this.eventListeners.get(name) ?? []) listener(payload);
        }),
      );
    }
  }

  private connect(): void {
    if (this.disposed) return;
    if ('bridge' in this.target) {
      this.attach(createHostClient(new BridgeTransport(this.target.bridge)));
      this.setState({ kind: 'connected', via: 'desktop' });
      return;
    }
    if (!('wsUrl' in this.target)) return;
    const socket = new WebSocket(this.target.wsUrl);
    const transport = new BrowserWebSocketTransport(socket);
    let opened = false;
    socket.addEventListener('open', () => {
      opened = true;
      this.attempt = 0;
      this.attach(createHostClient(transport));
      this.setState({ kind: 'connected', via: 'websocket' });
    });
    transport.onClose(() => {
      if (this.disposed) return;
      this.attempt = opened ? 1 : this.attempt + 1;
      const retryInMs = Math.min(30_000, 500 * 2 ** Math.min(this.attempt - 1, 6));
      this.setState({ kind: 'reconnecting', attempt: this.attempt, retryInMs });
      this.retryTimer = setTimeout(() => this.connect(), retryInMs);
    });
  }
}

const TOKEN_KEY = 'freehold.token';

/**
 * Picks the transport for where the UI runs. In a browser the launch secret
 * comes in the URL printed by `npm run serve`; it is kept for this tab only and
 * removed from the address bar.
 */
export function connectToHost(win: Window & { freehold?: FreeholdBridge }): HostConnection {
  if (win.freehold) return new HostConnection({ bridge: win.freehold });
  const url = new URL(win.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    win.sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    win.history.replaceState(null, '', url.toString());
  }
  const token = fromUrl ?? win.sessionStorage.getItem(TOKEN_KEY);
  if (!token) return new HostConnection({ noToken: true });
  const scheme = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return new HostConnection({ wsUrl: `${scheme}//${url.host}/rpc?token=${encodeURIComponent(token)}` });
}
