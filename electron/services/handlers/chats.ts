import type { ChatService } from '../../chat/chat-service';
import type { ConversationStore } from '../../chat/conversation-store';
import type { EventBus } from '../../platform/events';
import type { HandlerSlice } from './handler-slice';

export interface ChatHandlerDeps {
  chats: ConversationStore;
  chat: ChatService;
  events: EventBus;
  /** A deleted conversation's attached documents go with it. */
  deleted?: (id: string) => void;
}

/** Conversations: stored, searched, exported, and replied to. Every change is announced. */
export function chatHandlers({ chats, chat, events, deleted }: ChatHandlerDeps): HandlerSlice<'chats'> {
  const changed = (id: string) => events.emit('onConversationChanged', { id });
  return {
    'chats.list': () => chats.list(),
    'chats.create': (input) => chats.create(input),
    'chats.get': ({ id }) => chats.get(id),
    'chats.update': ({ id, ...change }) => {
      const updated = chats.update(id, change);
      changed(id);
      return updated;
    },
    'chats.delete': ({ id }) => {
      chats.delete(id);
      deleted?.(id);
      changed(id);
      return { deleted: true };
    },
    'chats.search': ({ query }) => chats.search(query),
    'chats.export': ({ id, format }) => {
      const title =
        chats
          .get(id)
          .conversation.title.replace(/[^\w -]+/g, '')
          .trim()
          .slice(0, 60) || 'conversation';
      return format === 'md'
        ? { content: chats.exportMarkdown(id), fileName: `${title}.md` }
        : { content: JSON.stringify(chats.exportJson(id), null, 2), fileName: `${title}.json` };
    },
    // Each attachment in the file is checked as a sent one is, before anything is stored.
    'chats.import': ({ data }) => chats.importChecked(data),
    'chats.send': ({ conversationId, parentId, text, attachments, attachmentsFrom }) =>
      chat.send(conversationId, parentId, text, { attachments, attachmentsFrom }),
    'chats.regenerate': ({ conversationId, messageId }) => chat.regenerate(conversationId, messageId),
    'chats.stop': ({ id }) => chat.stop(id),
    'chats.toolDecision': (input) => chat.decide(input),
    'chats.deleteMessage': ({ id }) => {
      const message = chats.message(id);
      chats.deleteMessage(id);
      changed(message.conversationId);
      return chats.get(message.conversationId);
    },
    'chats.attachment': ({ id }) => chats.attachment(id),
  };
}
