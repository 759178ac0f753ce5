import { dataUrl, isAudioType, isImageType, type PendingAttachment } from './attachment-files';

function size(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The files attached to the message being written: a thumbnail (or a named chip for audio and others) and Remove for each. */
export function AttachmentPreviews({ pending, onRemove }: { pending: PendingAttachment[]; onRemove: (key: string) => void }) {
  if (pending.length === 0) return null;
  return (
    <ul className="attachment-previews" aria-label="Attached files">
      {pending.map((a) => (
        <li key={a.key} className="attachment-preview" aria-label={a.name}>
          {isImageType(a.mime) ? (
            <img src={dataUrl(a.mime, a.data)} alt={a.name} />
          ) : (
            <span className="attachment-chip" aria-hidden="true">
              {isAudioType(a.mime) ? '♪' : '?'}
            </span>
          )}
          <span className="attachment-name" title={a.name}>
            {a.name}
            <span className="muted"> · {size(a.size)}</span>
          </span>
          <button type="button" className="secondary attachment-remove" aria-label={`Remove ${a.name}`} onClick={() => onRemove(a.key)}>
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}
