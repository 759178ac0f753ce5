import { useState } from 'react';
import type { ConversationSummary, SearchHit } from '../../../shared/chat';
import { useHostApi } from '../../app/host-context';

/** The conversations, newest first (or the search hits): New, Import and a search over all of them. */
export function ConversationList({
  conversations,
  current,
  onSelect,
  onNew,
  onError,
}: {
  conversations: ConversationSummary[];
  current: string | null;
  onSelect: (id: string) => void;
  onNew: () => void;
  onError: (error: unknown, doing?: string) => void;
}) {
  const api = useHostApi();
  const [search, setSearch] = useState('');
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const shown = hits
    ? hits.map((h) => ({ id: h.conversationId, title: `${h.conversationTitle}: ${h.snippet}`, pinned: false }))
    : conversations;

  return (
    <aside className="chat-list" aria-label="Conversations">
      <div className="chat-list-head">
        <h1 id="chat-title">Chat</h1>
        <button type="button" onClick={onNew} aria-label="New chat (Ctrl+N)">
          New
        </button>
        <label className="file-button">
          Import
          <input
            type="file"
            accept=".json,application/json"
            aria-label="Import a conversation (JSON)"
            onChange={(event) => {
              const file = event.target.files?.[0];
              event.target.value = '';
              if (!file) return;
              file
                .text()
                .then((text) => api['chats.import']({ data: JSON.parse(text) as unknown }))
                .then(
                  (imported) => onSelect(imported.id),
                  (e: unknown) => onError(e, `Could not import ${file.name}`),
                );
            }}
          />
        </label>
      </div>
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const query = search.trim();
          if (!query) return setHits(null);
          api['chats.search']({ query }).then(setHits, (error: unknown) => onError(error, 'Could not search the conversations'));
        }}
      >
        <input
          type="search"
          aria-label="Search conversations"
          placeholder="Search all chats"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
      </form>
      <ul>
        {shown.map((c) => (
          <li key={c.id}>
            <button
              type="button"
              className={c.id === current ? 'chat-item active' : 'chat-item'}
              aria-current={c.id === current ? 'true' : undefined}
              onClick={() => onSelect(c.id)}
            >
              {c.pinned ? '★ ' : ''}
              {c.title}
            </button>
          </li>
        ))}
      </ul>
    </aside>
  );
}
