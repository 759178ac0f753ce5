import type { ChatMessageRecord } from '../../../shared/chat';

/** How full the model's context is after the last reply. */
export function ContextGauge({ thread }: { thread: ChatMessageRecord[] }) {
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
