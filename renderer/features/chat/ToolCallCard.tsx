import { useState } from 'react';
import type { ToolCallRecord, ToolDecision } from '../../../shared/tools';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';

const statusText: Record<ToolCallRecord['status'], string> = {
  pending: 'Waiting for your approval',
  running: 'Running…',
  done: 'Done',
  error: 'Error',
  denied: 'Denied',
  invalid: 'Not run: the arguments do not match the tool’s schema',
};

const statusTone: Record<ToolCallRecord['status'], string> = {
  pending: 'tone-warn',
  running: 'muted',
  done: 'tone-ok',
  error: 'tone-bad',
  denied: 'tone-bad',
  invalid: 'tone-bad',
};

/** The arguments as the model wrote them, pretty-printed when they are JSON; all of them, never cut. */
export function prettyArguments(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

interface Props {
  call: ToolCallRecord;
  conversationId: string;
  messageId: string;
  /** The reply is still being written, so a call waiting for approval can be answered. */
  live: boolean;
}

/**
 * A tool call in a reply: the tool and its server, where the call stands, the
 * full arguments, the buttons to allow or deny it while it waits, and its
 * result. The result is the tool's output, which nobody vouches for: shown as
 * plain text only, folded.
 */
export function ToolCallCard({ call, conversationId, messageId, live }: Props) {
  const api = useHostApi();
  // The decision sent, until the stored call says what became of it.
  const [sent, setSent] = useState<{ callId: string; status: 'sending' | 'sent' } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const waiting = call.status === 'pending' && live;
  const sending = sent?.callId === call.id;
  const status = call.status === 'pending' && !live ? 'Not run: the reply ended' : statusText[call.status];

  const decide = (decision: ToolDecision['decision']) => {
    setError(null);
    setSent({ callId: call.id, status: 'sending' });
    api['chats.toolDecision']({ conversationId, messageId, callId: call.id, decision }).then(
      ({ decided }) => {
        if (decided) return setSent({ callId: call.id, status: 'sent' });
        setSent(null);
        setError('This call is no longer waiting for an answer.');
      },
      (e: unknown) => {
        setSent(null);
        setError(describeFailure(e, 'Could not send your answer'));
      },
    );
  };

  const failed = call.status === 'error' || call.status === 'denied' || call.status === 'invalid';
  return (
    <article className={`tool-call tool-call-${call.status}`} aria-label={`Tool call ${call.tool} on ${call.server}`}>
      <header className="tool-call-head">
        <span>
          <span className="tool-call-kind">Tool</span> <strong className="mono">{call.tool}</strong>{' '}
          <span className="muted">on {call.server}</span>
        </span>
        <span className={`tool-call-status ${statusTone[call.status]}`} role="status">
          {status}
        </span>
      </header>
      <pre className="tool-call-args" tabIndex={0} role="group" aria-label="Arguments">
        {prettyArguments(call.arguments)}
      </pre>
      {waiting && (
        <div className="tool-call-actions" role="group" aria-label={`Run ${call.tool}?`}>
          <button type="button" disabled={sending} onClick={() => decide('once')}>
            Allow once
          </button>
          <button
            type="button"
            className="secondary"
            aria-label={`Always allow ${call.tool}`}
            disabled={sending}
            onClick={() => decide('always')}
          >
            Always allow
          </button>
          <button type="button" className="secondary danger" disabled={sending} onClick={() => decide('deny')}>
            Deny
          </button>
        </div>
      )}
      {error && <p role="alert">{error}</p>}
      {call.result !== null && (
        // What the validator said is why the call did not run: shown open.
        <details className={failed ? 'tool-call-result tool-call-failed' : 'tool-call-result'} open={call.status === 'invalid'}>
          <summary>
            Result ({call.result.length.toLocaleString('en-US')} characters{call.truncated ? ', cut' : ''})
          </summary>
          <pre tabIndex={0} role="group" aria-label={failed ? 'Error text' : 'Result text'}>
            {call.result}
          </pre>
        </details>
      )}
    </article>
  );
}

/**
 * The reply's text while it is written: the stored content (read when the
 * conversation last changed, from which the calls' offsets count) with the
 * live text (every delta this view saw of the reply). Normally the live text
 * is the stored content and more; a view that came in mid-reply saw only the
 * later deltas, so they are joined where they overlap the stored text. The
 * stored content always stays the start, so the calls stay where they were made.
 */
export function mergeLiveText(stored: string, live: string): string {
  if (live.startsWith(stored)) return live;
  if (stored.startsWith(live) || stored.endsWith(live)) return stored;
  // The longest end of the stored text that the live text starts with.
  for (let at = stored.indexOf(live[0]!, Math.max(0, stored.length - live.length)); at >= 0; at = stored.indexOf(live[0]!, at + 1)) {
    if (live.startsWith(stored.slice(at))) return stored.slice(0, at) + live;
  }
  // No overlap: the view came in after the last stored text; what came between shows once the reply is read again.
  return stored + live;
}

export type ReplyPiece = { kind: 'text'; text: string; key: string } | { kind: 'call'; call: ToolCallRecord; key: string };

/**
 * The reply's text cut at each call's offset: text before, the call, text
 * after; calls made at the same point in the order they were made. An offset
 * beyond the text shown (not there yet) puts the call at the end.
 */
export function splitAtCalls(content: string, calls: readonly ToolCallRecord[]): ReplyPiece[] {
  const pieces: ReplyPiece[] = [];
  const ordered = calls.map((call, i) => ({ call, i })).sort((a, b) => a.call.textOffset - b.call.textOffset || a.i - b.i);
  let cursor = 0;
  for (const { call } of ordered) {
    const at = Math.min(Math.max(call.textOffset, cursor), content.length);
    if (at > cursor) pieces.push({ kind: 'text', text: content.slice(cursor, at), key: `text-${cursor}` });
    pieces.push({ kind: 'call', call, key: call.id });
    cursor = at;
  }
  if (cursor < content.length) pieces.push({ kind: 'text', text: content.slice(cursor), key: `text-${cursor}` });
  return pieces;
}
