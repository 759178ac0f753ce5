import { forwardRef, useState } from 'react';

interface ComposerProps {
  streaming: boolean;
  onSend: (text: string) => void;
  onStop: () => void;
  /** Why Send is unavailable (no model yet), shown under the box; null when it is available. */
  blockedReason?: string | null;
}

/** The message box: Enter sends, Shift+Enter adds a line; Stop while a reply streams. */
export const Composer = forwardRef<HTMLTextAreaElement, ComposerProps>(function Composer(
  { streaming, onSend, onStop, blockedReason = null },
  ref,
) {
  const [draft, setDraft] = useState('');
  const canSend = draft.trim().length > 0 && !blockedReason;
  return (
    <div className="composer-wrap">
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          if (!canSend) return;
          const text = draft;
          setDraft('');
          onSend(text);
        }}
      >
        <textarea
          ref={ref}
          aria-label="Message"
          aria-describedby={blockedReason ? 'composer-blocked' : undefined}
          placeholder="Message (Enter sends, Shift+Enter adds a line, Esc stops)"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }}
        />
        {streaming ? (
          <button type="button" className="danger-fill" onClick={onStop}>
            Stop
          </button>
        ) : (
          <button type="submit" disabled={!canSend}>
            Send
          </button>
        )}
      </form>
      {blockedReason && (
        <p id="composer-blocked" className="muted composer-note">
          {blockedReason}
        </p>
      )}
    </div>
  );
});
