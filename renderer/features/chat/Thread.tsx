import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef, useState } from 'react';
import type { ChatMessageRecord } from '../../../shared/chat';
import { MessageItem, type MessageActions } from './MessageItem';
import type { LiveReply } from './useLiveReply';

interface Props {
  conversationId: string;
  /** Every message of the conversation, all versions. */
  messages: ChatMessageRecord[];
  /** The messages on the path shown, oldest first. */
  thread: ChatMessageRecord[];
  live: LiveReply | null;
  streaming: boolean;
  apiBusy: boolean;
  /** The machine that writes the replies, when it is another one: "Waiting for tower…". */
  remoteName: string | null;
  actions: MessageActions;
}

/**
 * The messages of the path shown. Only those in view are in the DOM, so a
 * conversation of thousands opens and scrolls smoothly. The `<ol>` is the
 * full-height sizer inside the scroll container, so that its `<li>` (placed
 * where the virtualizer measured them) are its only children.
 */
export function Thread({ conversationId, messages, thread, live, streaming, apiBusy, remoteName, actions }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: thread.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 120,
    overscan: 6,
    getItemKey: (index) => thread[index]?.id ?? index,
  });
  const lastLength = live?.text.length ?? 0;
  useEffect(() => {
    if (thread.length > 0) virtualizer.scrollToIndex(thread.length - 1, { align: 'end' });
  }, [thread.length, lastLength, conversationId, virtualizer]);

  const versionsOf = (m: ChatMessageRecord) => messages.filter((x) => x.parentId === m.parentId && x.role === m.role);

  return (
    <div className="thread" ref={scroller}>
      <ol aria-label="Messages" style={{ height: virtualizer.getTotalSize() }}>
        {virtualizer.getVirtualItems().map((row) => {
          const m = thread[row.index]!;
          const shown = live && live.replyId === m.id && m.status === 'streaming' ? { content: live.text, reasoning: live.reasoning } : m;
          return (
            <MessageItem
              key={m.id}
              message={m}
              shown={shown}
              versions={versionsOf(m)}
              streaming={streaming}
              apiBusy={apiBusy}
              remoteName={remoteName}
              editing={editing?.id === m.id ? editing.text : null}
              onEditing={(text) => setEditing(text === null ? null : { id: m.id, text })}
              actions={actions}
              measureRef={virtualizer.measureElement}
              index={row.index}
              top={row.start}
            />
          );
        })}
      </ol>
    </div>
  );
}
