import type { EventName, Events } from '../../shared/contract';

type AnyListener = <E extends EventName>(event: E, payload: Events[E]) => void;

/** The host's typed event bus; every connection forwards it to its client. */
export class EventBus {
  private readonly listeners = new Set<AnyListener>();

  emit<E extends EventName>(event: E, payload: Events[E]): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event, payload);
      } catch (error) {
        console.error(`Event listener for ${event} failed`, error);
      }
    }
  }

  subscribeAll(listener: AnyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
