import type { ChatMessageRecord } from '../../../shared/chat';

interface Props {
  thread: ChatMessageRecord[];
  /** Images attached to the message being written, and what one costs with this model (null: it depends on the image). */
  pendingImages?: { count: number; tokensEach: number | null };
}

/** How full the model's context is after the last reply, with what the images in it took (and will take, before sending). */
export function ContextGauge({ thread, pendingImages }: Props) {
  const last = [...thread].reverse().find((m) => m.stats?.contextSize);
  // What the images took in the last reply's prompt (an engine may not say how full its context is).
  const mediaTokens = [...thread].reverse().find((m) => m.stats)?.stats?.mediaTokens ?? 0;
  const pending = pendingImages && pendingImages.count > 0 ? pendingImages : null;
  const estimate = pending && pending.tokensEach !== null ? pending.count * pending.tokensEach : null;
  const images = [
    mediaTokens > 0 ? `images: ${mediaTokens.toLocaleString()} tokens` : '',
    pending
      ? estimate !== null
        ? `attached: about ${estimate.toLocaleString()} tokens`
        : `attached: ${pending.count} image${pending.count > 1 ? 's' : ''}, tokens counted when sent`
      : '',
  ]
    .filter(Boolean)
    .join(' · ');
  if (!last?.stats?.contextSize || last.stats.contextTokens === undefined) {
    return images ? (
      <div className="context-gauge">
        <span className="muted context-images">{images}</span>
      </div>
    ) : null;
  }
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
      {images && <span className="muted context-images">{images}</span>}
    </div>
  );
}
