import { useMemo, useState } from 'react';
import type { ChatMessageRecord } from '../../../shared/chat';
import type { Citer } from '../documents/citations';
import { PassageDialog, Sources } from '../documents/Sources';
import { ContextOverflowNotice } from './ContextOverflowNotice';
import { Markdown } from './Markdown';
import { MessageAttachments } from './MessageAttachments';
import { mergeLiveText, splitAtCalls, ToolCallCard } from './ToolCallCard';

function Stats({ message }: { message: ChatMessageRecord }) {
  const s = message.stats;
  if (!s) return null;
  return (
    <>
      <div className="stats muted" aria-label="Reply statistics">
        {s.generatedTokens} tokens · {s.tokensPerSecond.toFixed(1)} tokens/s · first token {s.timeToFirstTokenMs.toFixed(0)} ms
        {s.predictedTokens !== undefined && ` · ${s.acceptedPredictions ?? 0} of ${s.predictedTokens} predicted tokens accepted`}
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

/**
 * A reply's text with its tool calls where they were made (by their text
 * offsets): Markdown, a card, more Markdown. While the model goes on after its
 * calls, a line says so until its text comes.
 */
function ReplyWithTools({ message: m, content, cite }: { message: ChatMessageRecord; content: string; cite?: Citer }) {
  const calls = m.toolCalls ?? [];
  const pieces = splitAtCalls(content, calls);
  const live = m.status === 'streaming';
  const last = pieces[pieces.length - 1];
  const goingOn = live && last?.kind === 'call' && calls.every((c) => c.status !== 'pending' && c.status !== 'running');
  return (
    <>
      {pieces.map((piece) =>
        piece.kind === 'text' ? (
          <Markdown key={piece.key} text={piece.text} cite={cite} />
        ) : (
          <ToolCallCard key={piece.key} call={piece.call} conversationId={m.conversationId} messageId={m.id} live={live} />
        ),
      )}
      {goingOn && (
        <span className="muted" role="status">
          …
        </span>
      )}
    </>
  );
}

export interface MessageActions {
  /** Sends an edited message as a new version beside the original (with the original's attachments). */
  sendEdited: (text: string, parentId: string | null, attachmentsFrom?: string) => void;
  regenerate: (messageId: string) => void;
  deleteMessage: (messageId: string) => void;
  /** Shows another version: the sibling `messageId` and the newest reply under it. */
  showVersion: (messageId: string) => void;
  retryWithContext: (messageId: string, contextSize: number) => void;
}

interface Props {
  message: ChatMessageRecord;
  /** The message as shown: with the streamed text while its reply is being written. */
  shown: Pick<ChatMessageRecord, 'content' | 'reasoning'>;
  /** The versions of this message (itself included), oldest first. */
  versions: ChatMessageRecord[];
  /** Some reply in the conversation is being written: actions wait. */
  streaming: boolean;
  /** The model is answering the local API: a reply waits its turn. */
  apiBusy: boolean;
  /** The other machine that writes the reply, if it is not this one. */
  remoteName: string | null;
  /** The edit field's text while this message is being edited. */
  editing: string | null;
  onEditing: (text: string | null) => void;
  actions: MessageActions;
  /** The virtualizer measures each row. */
  measureRef: (element: HTMLLIElement | null) => void;
  index: number;
  /** Where the virtualizer places it, in pixels from the top of the thread. */
  top: number;
}

/** One message in the thread: its versions, reasoning, text, failure, statistics and actions. */
export function MessageItem({
  message: m,
  shown,
  versions,
  streaming,
  apiBusy,
  remoteName,
  editing,
  onEditing,
  actions,
  measureRef,
  index,
  top,
}: Props) {
  const version = versions.findIndex((s) => s.id === m.id);
  // While a reply is written, the text shown joins what is stored (where its tool calls are placed) with the streamed text.
  const content = m.role === 'assistant' && m.status === 'streaming' ? mergeLiveText(m.content, shown.content) : shown.content;
  // The passage of the documents open now (a citation or the sources list clicked), by its number.
  const [passageOpen, setPassageOpen] = useState<number | null>(null);
  const sources = m.role === 'assistant' ? m.sources : undefined;
  const cite = useMemo(() => (sources ? { sources, open: setPassageOpen } : undefined), [sources]);
  const passage = sources?.passages.find((p) => p.n === passageOpen);
  return (
    <li
      ref={measureRef}
      data-index={index}
      style={{ transform: `translateY(${top}px)` }}
      className={`message message-${m.role} status-${m.status}`}
      aria-label={m.role === 'user' ? 'You' : 'Assistant'}
    >
      {versions.length > 1 && (
        <div className="branches" aria-label="Versions">
          <button
            type="button"
            className="secondary"
            aria-label="Previous version"
            disabled={version === 0}
            onClick={() => actions.showVersion(versions[version - 1]!.id)}
          >
            ‹
          </button>
          <span>
            {version + 1}/{versions.length}
          </span>
          <button
            type="button"
            className="secondary"
            aria-label="Next version"
            disabled={version === versions.length - 1}
            onClick={() => actions.showVersion(versions[version + 1]!.id)}
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
      {editing !== null ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onEditing(null);
            actions.sendEdited(editing, m.parentId, m.attachments?.length ? m.id : undefined);
          }}
        >
          <textarea aria-label="Edit message" value={editing} onChange={(e) => onEditing(e.target.value)} />
          <button type="submit">Send edited message</button>
          <button type="button" className="secondary" onClick={() => onEditing(null)}>
            Cancel
          </button>
        </form>
      ) : m.role === 'user' ? (
        <div className="bubble">
          <MessageAttachments attachments={m.attachments} />
          {shown.content}
        </div>
      ) : (
        <div className="bubble markdown">
          {m.toolCalls?.length ? (
            <ReplyWithTools message={m} content={content} cite={cite} />
          ) : content ? (
            <Markdown text={content} cite={cite} />
          ) : m.status === 'streaming' ? (
            <span className="muted" role="status">
              {apiBusy
                ? 'Waiting for its turn: the model is answering a request from the local API…'
                : remoteName
                  ? `Waiting for ${remoteName}…`
                  : '…'}
            </span>
          ) : null}
        </div>
      )}
      {m.status === 'failed' &&
        (m.failure?.code === 'context_length_exceeded' ? (
          <ContextOverflowNotice
            failure={m.failure}
            busy={streaming}
            onUseContext={(contextSize) => actions.retryWithContext(m.id, contextSize)}
          />
        ) : (
          <p role="alert">The reply failed: {m.error}</p>
        ))}
      {m.status === 'interrupted' && <p className="muted">This reply was interrupted (the app or the engine stopped).</p>}
      {sources && <Sources sources={sources} onOpen={setPassageOpen} />}
      {passage && <PassageDialog passage={passage} onClose={() => setPassageOpen(null)} />}
      <Stats message={m} />
      {m.status !== 'streaming' && !streaming && (
        <div className="message-actions">
          {m.role === 'user' ? (
            <button type="button" className="secondary" aria-label="Edit message" onClick={() => onEditing(m.content)}>
              Edit
            </button>
          ) : (
            <button
              type="button"
              className="secondary"
              aria-label={m.status === 'failed' ? 'Retry' : 'Regenerate'}
              onClick={() => actions.regenerate(m.id)}
            >
              {m.status === 'failed' ? 'Retry' : 'Regenerate'}
            </button>
          )}
          <button type="button" className="secondary danger" aria-label="Delete message" onClick={() => actions.deleteMessage(m.id)}>
            Delete
          </button>
        </div>
      )}
    </li>
  );
}
