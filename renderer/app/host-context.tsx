import { createContext, useCallback, useContext, useEffect, useState, useSyncExternalStore, type ReactNode } from 'react';
import type { EventName, Events, HostApi, MethodName, MethodOutput } from '../../shared/contract';
import type { ConnectionState, HostConnection } from '../transport/host-connection';
import { isDisconnected, useReportProblem } from './problems';

const HostContext = createContext<HostConnection | null>(null);

export function HostProvider({ connection, children }: { connection: HostConnection; children: ReactNode }) {
  return <HostContext.Provider value={connection}>{children}</HostContext.Provider>;
}

export function useHost(): HostConnection {
  const connection = useContext(HostContext);
  if (!connection) throw new Error('useHost outside HostProvider');
  return connection;
}

export function useHostApi(): HostApi {
  return useHost().api;
}

export function useConnectionState(): ConnectionState {
  const connection = useHost();
  return useSyncExternalStore(
    (notify) => connection.onState(notify),
    () => connection.state,
  );
}

export function useHostEvent<E extends EventName>(event: E, listener: (payload: Events[E]) => void): void {
  const connection = useHost();
  useEffect(() => connection.on(event, listener), [connection, event, listener]);
}

export type QueryState<T> = { status: 'loading' } | { status: 'ready'; data: T } | { status: 'error'; message: string };

/** `downloads.list` → "downloads list": which read failed, in a few words. */
function describeMethod(method: string): string {
  return method.replace(/[.]/g, ' ').replace(/([a-z])([A-Z])/g, (_, a: string, b: string) => `${a} ${b.toLowerCase()}`);
}

type NoInputMethod = {
  [M in MethodName]: Parameters<HostApi[M]>['length'] extends 0 ? M : never;
}[MethodName];

/**
 * Calls a no-input method when connected (again after each reconnect, and
 * after each `refreshOn` event); events may also update the value directly.
 * A failure is reported in the app's Problems unless the caller shows the
 * error state itself (`showsError`); one cut short by a lost connection is
 * not (the status bar says so, and the query runs again on reconnect).
 */
export function useHostQuery<M extends NoInputMethod>(
  method: M,
  refreshOn?: EventName,
  { showsError = false }: { showsError?: boolean } = {},
): [QueryState<MethodOutput<M>>, (update: MethodOutput<M> | ((previous: MethodOutput<M> | undefined) => MethodOutput<M>)) => void] {
  const connection = useHost();
  const report = useReportProblem();
  const state = useConnectionState();
  const [query, setQuery] = useState<QueryState<MethodOutput<M>>>({ status: 'loading' });
  const connected = state.kind === 'connected';
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (!refreshOn) return;
    return connection.on(refreshOn, () => setGeneration((g) => g + 1));
  }, [connection, refreshOn]);
  useEffect(() => {
    if (!connected) return;
    let cancelled = false;
    (connection.api[method] as () => Promise<MethodOutput<M>>)().then(
      (data) => !cancelled && setQuery({ status: 'ready', data }),
      (error: unknown) => {
        if (cancelled) return;
        setQuery({ status: 'error', message: (error as Error).message });
        if (!showsError && !isDisconnected(error)) report(error, `Could not read ${describeMethod(method)}`);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [connection, method, connected, generation, showsError, report]);
  const update = useCallback(
    (next: MethodOutput<M> | ((previous: MethodOutput<M> | undefined) => MethodOutput<M>)) =>
      setQuery((previous) => ({
        status: 'ready',
        data:
          typeof next === 'function'
            ? (next as (p: MethodOutput<M> | undefined) => MethodOutput<M>)(previous.status === 'ready' ? previous.data : undefined)
            : next,
      })),
    [],
  );
  return [query, update];
}
