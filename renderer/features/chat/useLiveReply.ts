import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatDelta } from '../../../shared/inference';
import { useHostEvent } from '../../app/host-context';

/** The text of the reply being written, ahead of the stored message. */
export interface LiveReply {
  replyId: string;
  text: string;
  reasoning: string;
}

/**
 * Follows `onChatDelta`. Deltas arrive at 1,000+ tokens/s: they are gathered
 * and painted once per animation frame.
 */
export function useLiveReply(): { live: LiveReply | null; reset: () => void } {
  const [live, setLive] = useState<LiveReply | null>(null);
  const pending = useRef<LiveReply | null>(null);
  const frame = useRef<number | null>(null);
  useHostEvent(
    'onChatDelta',
    useCallback((delta: ChatDelta) => {
      const base = pending.current?.replyId === delta.requestId ? pending.current : { replyId: delta.requestId, text: '', reasoning: '' };
      for (const part of delta.parts) {
        if (part.kind === 'text') base.text += part.text;
        else if (part.kind === 'reasoning') base.reasoning += part.text;
      }
      pending.current = base;
      frame.current ??= requestAnimationFrame(() => {
        frame.current = null;
        setLive(pending.current ? { ...pending.current } : null);
      });
    }, []),
  );
  useEffect(
    () => () => {
      if (frame.current !== null) cancelAnimationFrame(frame.current);
    },
    [],
  );
  const reset = useCallback(() => {
    pending.current = null;
    setLive(null);
  }, []);
  return { live, reset };
}
