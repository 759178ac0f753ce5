/** The renderer tests' set-up: the app over a fake host, each test at its route, and what happy-dom lacks (layout, window.confirm, a clipboard to read). */
import { cleanup, render } from '@testing-library/react';
import { afterEach, beforeEach, vi } from 'vitest';
import { App } from '../../renderer/app/App';
import { HostConnection } from '../../renderer/transport/host-connection';
import type { EventName, Events, HostHandlers } from '../../shared/contract';
import { createFakeHost } from './fake-host';

export type FakeHost = ReturnType<typeof createFakeHost>;

/** Each test in this file starts at this route (`''`: the first view), and what it rendered is unmounted after it. */
export function eachTestAt(hash: string) {
  beforeEach(() => {
    window.location.hash = hash;
  });
  afterEach(cleanup);
}

/**
 * Lists that are virtualized render no rows where nothing is laid out, as in happy-dom:
 * during each test, every element is 800 px high and wide.
 */
export function giveElementsASize() {
  const layout = ['clientHeight', 'clientWidth', 'offsetHeight', 'offsetWidth'] as const;
  const own = layout.map((key) => Object.getOwnPropertyDescriptor(HTMLElement.prototype, key));
  beforeEach(() => {
    for (const key of layout) Object.defineProperty(HTMLElement.prototype, key, { configurable: true, get: () => 800 });
  });
  afterEach(() => {
    layout.forEach((key, i) => {
      if (own[i]) Object.defineProperty(HTMLElement.prototype, key, own[i]);
      else delete (HTMLElement.prototype as unknown as Record<string, unknown>)[key];
    });
  });
}

/** Renders the app over this host (set up before, if the test needs more than its defaults); the connection it uses. */
export function renderApp(host: FakeHost): HostConnection {
  const connection = new HostConnection({ bridge: host.bridge });
  render(<App connection={connection} />);
  return connection;
}

/** The app over a new fake host, `overrides` replacing some of its handlers; the host, to drive and to read what the UI asked. */
export function startApp(overrides: Partial<HostHandlers> = {}): FakeHost {
  const host = createFakeHost(overrides);
  renderApp(host);
  return host;
}

/**
 * A connection to the host whose event listeners, as the UI subscribes them, a test can call itself:
 * `emit` tells the UI an event the fake host does not send (or not when the test wants it).
 */
export function connectWithEvents(host: FakeHost) {
  const connection = new HostConnection({ bridge: host.bridge });
  const listeners = new Map<EventName, Set<(payload: never) => void>>();
  const on = connection.on.bind(connection);
  connection.on = ((event: EventName, listener: (payload: never) => void) => {
    if (!listeners.has(event)) listeners.set(event, new Set());
    listeners.get(event)!.add(listener);
    const off = on(event, listener as never);
    return () => {
      listeners.get(event)?.delete(listener);
      off();
    };
  }) as typeof connection.on;
  const emit = <E extends EventName>(event: E, payload: Events[E]) => {
    for (const listener of listeners.get(event) ?? []) (listener as (p: Events[E]) => void)(payload);
  };
  return { connection, emit };
}

/** happy-dom has no window.confirm: answers the questions asked, in turn. */
export function mockConfirm(...answers: boolean[]) {
  const confirm = vi.fn((_question?: string) => answers.shift() ?? false);
  Object.defineProperty(window, 'confirm', { value: confirm, configurable: true, writable: true });
  return confirm;
}

/** Replaces navigator.clipboard with one that keeps what the UI writes: the texts written, in order. */
export function mockClipboard(): string[] {
  const written: string[] = [];
  Object.defineProperty(navigator, 'clipboard', {
    value: { writeText: async (text: string) => void written.push(text) },
    configurable: true,
  });
  return written;
}
