import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ChatMessageRecord, ConversationDetail, SearchHit } from '../../../shared/chat';
import type { ChatDelta } from '../../../shared/inference';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { FirstRunCard } from '../first-run/FirstRunCard';
import { useLocation, useSearch } from 'wouter';
import { Composer } from './Composer';
import { ModelPicker } from './ModelPicker';
import { ContextOverflowNotice } from './ContextOverflowNotice';
import { ConversationSettings } from './ConversationSettings';
import { Markdown } from './Markdown';

interface Live {
  replyId: string;
  text: string;
  reasoning: string;
}

/** Latest leaf under a message: follow the newest child each step. */
function deepestLeaf(messages: ChatMessageRecord[], fromId: string): string {
  let current = fromId;
  for (;;) {
    const children = messages.filter((m) => m.parentId === current);
    if (children.length === 0) return current;
    current = children[children.length - 1]!.id;
  }
}

function Stats({ message }: { message: ChatMessageRecord }) {
  const s = message.stats;
  if (!s) return null;
  return (
    <>
      <div className="stats muted" aria-label="Reply statistics">
        {s.generatedTokens} tokens · {s.tokensPerSecond.toFixed(1)} tokens/s · first token {s.timeToFirstTokenMs.toFixed(0)} ms
        {s.stopReason === 'abort' ? ' · stopped' : s.stopReason === 'max-tokens' ? ' · hit the length limit' : ''}
      </div>
      {s.droppedMessages ? (
        <div className="notice notice-info" role="status">
          This conversation outgrew the model's context: the {s.droppedMessages} oldest message{s.droppedMessages === 1 ? ' was' : 's were'}{' '}
          left out of this reply (the system prompt was kept).
        </div>
      ) : null}
    </>
  );
}

/** How full the model's context is after the last reply. */
function ContextGauge({ thread }: { thread: ChatMessageRecord[] }) {
  const last = [...thread].reverse().find((m) => m.stats?.contextSize);
  if (!last?.stats?.contextSize || last.stats.contextTokens === undefined) return null;
  const { contextTokens, contextSize } = last.stats;
  const percent = Math.min(100, Math.round((contextTokens / contextSize) * 100));
  return (
    <div className="context-gauge" title={`${contextTokens} of ${contextSize} tokens`}>
      <span className="muted">Context</span>
      <div
        role="meter"
        aria-label="Context used"
        aria-valuemin={0}
        aria-valuemax={contextSize}
        aria-valuenow={contextTokens}
        className={`bar${percent > 85 ? ' bar-warn' : ''}`}
      >
        <div style={{ width: `${percent}%` }} />
      </div>
      <span className="muted">
        {contextTokens.toLocaleString()} / {contextSize.toLocaleString()}
      </span>
    </div>
  );
}

export function ChatView() {
  const api = useHostApi();
  const [list, setList] = useHostQuery('chats.list', 'onConversationChanged');
  const [library] = useHostQuery('models.list', 'onLibraryChanged');
  const [inference, setInference] = useHostQuery('inference.status');
  useHostEvent('onInferenceStatus', setInference);
  const apiBusy = inference.status === 'ready' && inference.data.queue?.running === 'api';
  const [, navigate] = useLocation();
  const [selected, setSelected] = useState<string | null>(null);
  // A new conversation not yet written: the message box is there at once, and the first message creates it.
  const [drafting, setDrafting] = useState(false);
  const [draftModel, setDraftModel] = useState<string | null>(null);
  const [ready, setReady] = useState<string | null>(null);
  const [firstRun, setFirstRun] = useState(false);
  const [detail, setDetail] = useState<ConversationDetail | null>(null);
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  const [renaming, setRenaming] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [live, setLive] = useState<Live | null>(null);
  const [loading, setLoading] = useState<{
    name: string;
    progress: number;
  } | null>(null);
  useHostEvent(
    'onLoadProgress',
    useCallback(
      (p: { modelPath: string; progress: number }) =>
        setLoading(
          p.progress >= 1
            ? null
            : {
                name: p.modelPath.split(/[\\/]/).pop() ?? 'model',
                progress: p.progress,
              },
        ),
      [],
    ),
  );
  const pending = useRef<Live | null>(null);
  const frame = useRef<number | null>(null);
  const composer = useRef<HTMLTextAreaElement>(null);
  const scroller = useRef<HTMLOListElement>(null);

  const conversations = useMemo(() => (list.status === 'ready' ? list.data : []), [list]);
  const current = drafting ? null : (selected ?? conversations[0]?.id ?? null);

  const reload = useCallback(
    (id: string | null) => {
      if (!id) return;
      api['chats.get']({ id }).then(setDetail, (e: Error) => setError(e.message));
    },
    [api],
  );
  useEffect(() => {
    reload(current);
  }, [current, reload]);
  useHostEvent(
    'onConversationChanged',
    useCallback(({ id }: { id: string }) => id === current && reload(id), [current, reload]),
  );
  // Deltas arrive at 1,000+ tokens/s: gather them and paint once per animation frame.
  useHostEvent(
    'onChatDelta',
    useCallback((delta: ChatDelta) => {
      const base = pending.current?.replyId === delta.requestId ? pending.current : { replyId: delta.requestId, text: '', reasoning: '' };
      for (const part of delta.parts) {
        if (part.kind === 'text') base.text += part.text;
        else base.reasoning += part.text;
      }
      pending.current = base;
      frame.current ??= requestAnimationFrame(() => {
        frame.current = null;
        setLive(pending.current ? { ...pending.current } : null);
      });
    }, []),
  );

  const byId = useMemo(() => new Map((detail?.messages ?? []).map((m) => [m.id, m])), [detail]);
  const thread = (current ? (detail?.thread ?? []) : []).map((id) => byId.get(id)!).filter(Boolean);
  const streaming = thread.some((m) => m.status === 'streaming');
  // Only the messages in view are in the DOM, so a conversation of thousands opens and scrolls smoothly.
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
  }, [thread.length, lastLength, detail?.conversation.id, virtualizer]);
  const models = useMemo(() => (library.status === 'ready' ? library.data.models : []), [library]);

  // The last model used (this conversation's, else the most recent conversation's that is still in the library), else the only or first one.
  const lastUsedModel = useMemo(() => {
    const inLibrary = (id: string | null | undefined) => (id && models.some((m) => m.id === id) ? id : null);
    return inLibrary(detail?.conversation.modelId) ?? conversations.map((c) => inLibrary(c.modelId)).find(Boolean) ?? models[0]?.id ?? null;
  }, [detail, conversations, models]);
  const newModel = draftModel && models.some((m) => m.id === draftModel) ? draftModel : lastUsedModel;

  // "Chat" on a model in the library opens #/chat?model=<id>: a new conversation with that model.
  const requestedModel = new URLSearchParams(useSearch()).get('model');
  const requestReady = requestedModel !== null && models.some((m) => m.id === requestedModel);
  if (requestReady && (draftModel !== requestedModel || !drafting)) {
    setDraftModel(requestedModel);
    setDrafting(true);
    setSelected(null);
  }
  useEffect(() => {
    if (requestReady) navigate('~/chat?', { replace: true });
  }, [requestReady, navigate]);

  const newChat = useCallback(() => {
    setDraftModel(lastUsedModel);
    setDrafting(true);
    setSelected(null);
    setReady(null);
    composer.current?.focus();
  }, [lastUsedModel]);

  const onModelReady = useCallback((modelId: string) => {
    setDraftModel(modelId);
    setDrafting(true);
    setFirstRun(false);
    setReady(modelId);
    composer.current?.focus();
  }, []);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 'n') {
        event.preventDefault();
        newChat();
      }
      if (event.key === 'Escape' && current) void api['chats.stop']({ id: current });
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [api, current, newChat]);

  const send = async (text: string, parentId: string | null, conversationId = current) => {
    if (!conversationId || !text.trim()) return;
    setError(null);
    pending.current = null;
    setLive(null);
    try {
      await api['chats.send']({ conversationId, parentId, text });
    } catch (e) {
      setError((e as Error).message);
    }
    reload(conversationId);
  };

  /** The first message of a new conversation: create it with the chosen model, then send. */
  const sendFirst = async (text: string) => {
    setError(null);
    try {
      const created = await api['chats.create']({ modelId: newModel, settings: { temperature: 0.7, maxTokens: 512 } });
      setList((l = []) => [
        { id: created.id, title: created.title, pinned: false, updatedAt: created.updatedAt, messageCount: 0, modelId: created.modelId },
        ...l.filter((c) => c.id !== created.id),
      ]);
      setSelected(created.id);
      setDrafting(false);
      setReady(null);
      await send(text, null, created.id);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  /** "Use a larger context": the conversation's context size, then the failed reply again. */
  const retryWithContext = async (messageId: string, contextSize: number) => {
    if (!current || !detail) return;
    setError(null);
    try {
      await api['chats.update']({ id: current, settings: { ...detail.conversation.settings, contextSize } });
      await api['chats.regenerate']({ conversationId: current, messageId });
    } catch (e) {
      setError((e as Error).message);
    }
    reload(current);
  };

  const siblings = (m: ChatMessageRecord) => (detail?.messages ?? []).filter((x) => x.parentId === m.parentId && x.role === m.role);

  return (
    <section className="view chat-view" aria-labelledby="chat-title">
      <aside className="chat-list" aria-label="Conversations">
        <div className="chat-list-head">
          <h1 id="chat-title">Chat</h1>
          <button type="button" onClick={newChat} aria-label="New chat (Ctrl+N)">
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
                void file
                  .text()
                  .then((text) => api['chats.import']({ data: JSON.parse(text) as unknown }))
                  .then((imported) => {
                    setSelected(imported.id);
                    setDrafting(false);
                  })
                  .catch((e: Error) => setError(`Could not import ${file.name}: ${e.message}`));
              }}
            />
          </label>
        </div>
        <form
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            if (search.trim()) void api['chats.search']({ query: search.trim() }).then(setHits);
            else setHits(null);
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
          {(hits
            ? hits.map((h) => ({
                id: h.conversationId,
                title: `${h.conversationTitle}: ${h.snippet}`,
                pinned: false,
              }))
            : conversations
          ).map((c) => (
            <li key={c.id}>
              <button
                type="button"
                className={c.id === current ? 'chat-item active' : 'chat-item'}
                aria-current={c.id === current ? 'true' : undefined}
                onClick={() => {
                  setSelected(c.id);
                  setDrafting(false);
                }}
              >
                {c.pinned ? '★ ' : ''}
                {c.title}
              </button>
            </li>
          ))}
        </ul>
      </aside>
      <div className="chat-main">
        {!detail || !current ? (
          <div className="chat-new">
            <div className="chat-toolbar">
              <ModelPicker
                models={models}
                value={newModel}
                onChange={setDraftModel}
                emptyLabel={models.length === 0 ? 'No model yet' : null}
              />
            </div>
            {library.status === 'ready' && (models.length === 0 || firstRun) ? (
              <FirstRunCard onReady={onModelReady} onStarted={() => setFirstRun(true)} onBrowse={() => navigate('~/models')} />
            ) : ready ? (
              <div className="empty-state" role="status">
                <h2>{models.find((m) => m.id === ready)?.name ?? 'Your model'} is ready</h2>
                <p>Downloaded and verified. Say hello: type below and press Enter.</p>
              </div>
            ) : (
              <div className="empty-state">
                <h2>New conversation</h2>
                <p>Type a message below to start; the conversation begins with the model above.</p>
              </div>
            )}
          </div>
        ) : (
          <>
            <div className="chat-toolbar">
              <ModelPicker
                models={models}
                value={detail.conversation.modelId}
                emptyLabel="Choose a model…"
                onChange={(modelId) =>
                  void api['chats.update']({ id: current, modelId }).then(
                    () => reload(current),
                    (e: Error) => setError(e.message),
                  )
                }
              />
              <button
                type="button"
                className="secondary"
                aria-label="Pin conversation"
                onClick={() =>
                  void api['chats.update']({
                    id: current,
                    pinned: !detail.conversation.pinned,
                  })
                }
              >
                {detail.conversation.pinned ? 'Unpin' : 'Pin'}
              </button>
              {renaming === null ? (
                <button
                  type="button"
                  className="secondary"
                  aria-label="Rename conversation"
                  onClick={() => setRenaming(detail.conversation.title)}
                >
                  Rename
                </button>
              ) : (
                // An inline field: Electron has no window.prompt.
                <form
                  className="rename-form"
                  onSubmit={(e) => {
                    e.preventDefault();
                    const title = renaming.trim();
                    setRenaming(null);
                    if (title) void api['chats.update']({ id: current, title });
                  }}
                >
                  <input
                    aria-label="New title"
                    value={renaming}
                    autoFocus
                    onChange={(e) => setRenaming(e.target.value)}
                    onKeyDown={(e) => e.key === 'Escape' && setRenaming(null)}
                  />
                  <button type="submit">Save title</button>
                </form>
              )}
              <button
                type="button"
                className="secondary"
                aria-label="Export as Markdown"
                onClick={() =>
                  void api['chats.export']({ id: current, format: 'md' }).then(({ content, fileName }) => {
                    const link = document.createElement('a');
                    link.href = URL.createObjectURL(new Blob([content], { type: 'text/markdown' }));
                    link.download = fileName;
                    link.click();
                  })
                }
              >
                Export
              </button>
              <button
                type="button"
                className="secondary danger"
                aria-label="Delete conversation"
                onClick={() => {
                  if (window.confirm('Delete this conversation?')) void api['chats.delete']({ id: current }).then(() => setSelected(null));
                }}
              >
                Delete
              </button>
            </div>
            <ConversationSettings
              key={`settings-${detail.conversation.id}-${detail.conversation.settings.contextSize ?? ''}`}
              value={detail.conversation.settings}
              onSave={(settings) => void api['chats.update']({ id: current, settings }).catch((e: Error) => setError(e.message))}
            />
            {loading && (
              <div
                role="progressbar"
                aria-label={`Loading ${loading.name}`}
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={Math.round(loading.progress * 100)}
                className="bar"
              >
                <div style={{ width: `${loading.progress * 100}%` }} />
              </div>
            )}
            <details className="system-prompt">
              <summary>System prompt{detail.conversation.systemPrompt ? '' : ' (none)'}</summary>
              <textarea
                aria-label="System prompt"
                defaultValue={detail.conversation.systemPrompt}
                key={detail.conversation.id}
                onBlur={(e) =>
                  void api['chats.update']({
                    id: current,
                    systemPrompt: e.target.value,
                  })
                }
              />
            </details>
            <ol className="thread" aria-label="Messages" ref={scroller}>
              <div
                style={{
                  height: virtualizer.getTotalSize(),
                  position: 'relative',
                }}
              >
                {virtualizer.getVirtualItems().map((row) => {
                  const m = thread[row.index]!;
                  const shown =
                    live && live.replyId === m.id && m.status === 'streaming' ? { ...m, content: live.text, reasoning: live.reasoning } : m;
                  const sibs = siblings(m);
                  const index = sibs.findIndex((s) => s.id === m.id);
                  return (
                    <li
                      key={m.id}
                      ref={virtualizer.measureElement}
                      data-index={row.index}
                      style={{
                        position: 'absolute',
                        top: 0,
                        left: 0,
                        right: 0,
                        transform: `translateY(${row.start}px)`,
                      }}
                      className={`message message-${m.role} status-${m.status}`}
                      aria-label={m.role === 'user' ? 'You' : 'Assistant'}
                    >
                      {sibs.length > 1 && (
                        <div className="branches" aria-label="Versions">
                          <button
                            type="button"
                            className="secondary"
                            aria-label="Previous version"
                            disabled={index === 0}
                            onClick={() =>
                              void api['chats.update']({
                                id: current,
                                activeLeafId: deepestLeaf(detail.messages, sibs[index - 1]!.id),
                              })
                            }
                          >
                            ‹
                          </button>
                          <span>
                            {index + 1}/{sibs.length}
                          </span>
                          <button
                            type="button"
                            className="secondary"
                            aria-label="Next version"
                            disabled={index === sibs.length - 1}
                            onClick={() =>
                              void api['chats.update']({
                                id: current,
                                activeLeafId: deepestLeaf(detail.messages, sibs[index + 1]!.id),
                              })
                            }
                          >
                            ›
                          </button>
                        </div>
                      )}
                      {shown.reasoning && (
                        <details className="reasoning">
                          <summary>
                            {m.status === 'streaming'
                              ? 'Thinking…'
                              : m.stats?.reasoningMs !== undefined
                                ? `Thought for ${Math.max(1, Math.round(m.stats.reasoningMs / 1000))} s`
                                : `Reasoning (${shown.reasoning.length} characters)`}
                          </summary>
                          <div className="reasoning-text">{shown.reasoning}</div>
                        </details>
                      )}
                      {editing?.id === m.id ? (
                        <form
                          onSubmit={(e) => {
                            e.preventDefault();
                            const text = editing.text;
                            setEditing(null);
                            void send(text, m.parentId);
                          }}
                        >
                          <textarea
                            aria-label="Edit message"
                            value={editing.text}
                            onChange={(e) => setEditing({ id: m.id, text: e.target.value })}
                          />
                          <button type="submit">Send edited message</button>
                          <button type="button" className="secondary" onClick={() => setEditing(null)}>
                            Cancel
                          </button>
                        </form>
                      ) : m.role === 'user' ? (
                        <div className="bubble">{shown.content}</div>
                      ) : (
                        <div className="bubble markdown">
                          {shown.content ? (
                            <Markdown text={shown.content} />
                          ) : m.status === 'streaming' ? (
                            <span className="muted" role="status">
                              {apiBusy ? 'Waiting for its turn: the model is answering a request from the local API…' : '…'}
                            </span>
                          ) : null}
                        </div>
                      )}
                      {m.status === 'failed' &&
                        (m.failure?.code === 'context_length_exceeded' ? (
                          <ContextOverflowNotice
                            failure={m.failure}
                            busy={streaming}
                            onUseContext={(contextSize) => void retryWithContext(m.id, contextSize)}
                          />
                        ) : (
                          <p role="alert">The reply failed: {m.error}</p>
                        ))}
                      {m.status === 'interrupted' && <p className="muted">This reply was interrupted (the app or the engine stopped).</p>}
                      <Stats message={m} />
                      {m.status !== 'streaming' && !streaming && (
                        <div className="message-actions">
                          {m.role === 'user' ? (
                            <button
                              type="button"
                              className="secondary"
                              aria-label="Edit message"
                              onClick={() => setEditing({ id: m.id, text: m.content })}
                            >
                              Edit
                            </button>
                          ) : (
                            <button
                              type="button"
                              className="secondary"
                              aria-label={m.status === 'failed' ? 'Retry' : 'Regenerate'}
                              onClick={() =>
                                void api['chats.regenerate']({
                                  conversationId: current,
                                  messageId: m.id,
                                }).catch((e: Error) => setError(e.message))
                              }
                            >
                              {m.status === 'failed' ? 'Retry' : 'Regenerate'}
                            </button>
                          )}
                          <button
                            type="button"
                            className="secondary danger"
                            aria-label="Delete message"
                            onClick={() =>
                              void api['chats.deleteMessage']({
                                id: m.id,
                              }).then(setDetail)
                            }
                          >
                            Delete
                          </button>
                        </div>
                      )}
                    </li>
                  );
                })}
              </div>
            </ol>
            <ContextGauge thread={thread} />
          </>
        )}
        {error && <p role="alert">{error}</p>}
        <Composer
          ref={composer}
          streaming={streaming}
          onStop={() => current && void api['chats.stop']({ id: current })}
          onSend={(text) => void (current && detail ? send(text, detail.conversation.activeLeafId) : sendFirst(text))}
          blockedReason={
            current && detail
              ? null
              : library.status !== 'ready'
                ? 'Loading the library…'
                : models.length === 0
                  ? 'Send is available once a model is in the library: download the one above, or add your own in Models.'
                  : null
          }
        />
      </div>
    </section>
  );
}
