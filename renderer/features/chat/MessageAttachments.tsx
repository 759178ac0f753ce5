import { useEffect, useRef, useState } from 'react';
import type { AttachmentData, ChatAttachment } from '../../../shared/chat';
import { mediaTypeLabels } from '../../../shared/media';
import { useHostApi } from '../../app/host-context';
import { dataUrl } from './attachment-files';

/** Bytes already fetched, by attachment id (rows of the virtualized thread come and go as it scrolls). */
const cache = new Map<string, Promise<AttachmentData>>();
const CACHE_SIZE = 16;

function useAttachmentUrl(attachment: ChatAttachment): { url: string | null; error: string | null } {
  const api = useHostApi();
  const [state, setState] = useState<{ url: string | null; error: string | null }>({ url: null, error: null });
  useEffect(() => {
    let cancelled = false;
    let loading = cache.get(attachment.id);
    if (!loading) {
      loading = api['chats.attachment']({ id: attachment.id });
      cache.set(attachment.id, loading);
      if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
      loading.catch(() => cache.delete(attachment.id));
    }
    loading.then(
      (data) => !cancelled && setState({ url: dataUrl(data.mime, data.data), error: null }),
      (error: unknown) => !cancelled && setState({ url: null, error: (error as Error).message }),
    );
    return () => {
      cancelled = true;
    };
  }, [api, attachment.id]);
  return state;
}

/** An image at full size in a modal dialog: Escape, Close or a click outside it closes it. */
function ImageDialog({ name, url, small, onClose }: { name: string; url: string; small: boolean; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (typeof element.showModal === 'function') element.showModal();
    else element.setAttribute('open', '');
    return () => {
      if (typeof element.close === 'function') element.close();
    };
  }, []);
  return (
    <dialog
      ref={dialog}
      className="image-dialog"
      aria-label={name}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          e.stopPropagation();
          onClose();
        }
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <img src={url} alt={name} className={small ? 'pixelated' : undefined} />
      <div className="image-dialog-bar">
        <span>{name}</span>
        <button type="button" className="secondary" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
    </dialog>
  );
}

function ImageThumbnail({ attachment }: { attachment: ChatAttachment }) {
  const { url, error } = useAttachmentUrl(attachment);
  const [open, setOpen] = useState(false);
  const size = attachment.width ? `, ${attachment.width}×${attachment.height}` : '';
  const small = (attachment.width ?? 1000) < 128;
  return (
    <li className="message-attachment">
      <button
        type="button"
        className="thumbnail"
        aria-label={`Open ${attachment.name} full size`}
        title={`${attachment.name} (${mediaTypeLabels[attachment.mime]}${size})`}
        disabled={!url}
        onClick={() => setOpen(true)}
      >
        {url ? (
          <img src={url} alt={attachment.name} className={small ? 'pixelated' : undefined} />
        ) : (
          <span className="muted">{error ? 'Not available' : '…'}</span>
        )}
      </button>
      {open && url && <ImageDialog name={attachment.name} url={url} small={small} onClose={() => setOpen(false)} />}
    </li>
  );
}

function AudioChip({ attachment }: { attachment: ChatAttachment }) {
  const { url, error } = useAttachmentUrl(attachment);
  return (
    <li className="message-attachment audio-attachment">
      <span className="attachment-chip" aria-hidden="true">
        ♪
      </span>
      <span className="attachment-name">{attachment.name}</span>
      {url ? (
        <audio controls src={url} aria-label={`Play ${attachment.name}`} preload="metadata" />
      ) : (
        <span className="muted">{error ? 'Not available' : '…'}</span>
      )}
    </li>
  );
}

/** A message's images (thumbnails that open full size) and audio clips (a named player each). */
export function MessageAttachments({ attachments }: { attachments: ChatAttachment[] | undefined }) {
  if (!attachments?.length) return null;
  return (
    <ul className="message-attachments" aria-label="Attachments">
      {attachments.map((a) =>
        a.kind === 'image' ? <ImageThumbnail key={a.id} attachment={a} /> : <AudioChip key={a.id} attachment={a} />,
      )}
    </ul>
  );
}
