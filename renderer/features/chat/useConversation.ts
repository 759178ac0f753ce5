import { useCallback, useEffect, useState } from 'react';
import type { ConversationDetail } from '../../../shared/chat';
import { useHostApi, useHostEvent } from '../../app/host-context';

/**
 * One conversation with its messages, read again when the host says it
 * changed. The last one read stays while another loads (no flash of empty).
 */
export function useConversation(id: string | null, onError: (error: unknown) => void) {
  const api = useHostApi();
  const [detail, setDetail] = useState<ConversationDetail | null>(null);
  const reload = useCallback(
    (conversationId: string | null) => {
      if (!conversationId) return;
      api['chats.get']({ id: conversationId }).then(setDetail, onError);
    },
    [api, onError],
  );
  useEffect(() => {
    reload(id);
  }, [id, reload]);
  useHostEvent(
    'onConversationChanged',
    useCallback((changed: { id: string }) => changed.id === id && reload(id), [id, reload]),
  );
  return { detail, setDetail, reload };
}
