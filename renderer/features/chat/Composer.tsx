import { forwardRef, useEffect, useImperativeHandle, useRef, useState, type DragEvent, type Ref } from 'react';
import { DOCUMENT_ACCEPT, isDocumentFile } from '../documents/doc-files';
import { ACCEPTED_TYPES, addingProblem, readAttachment, type PendingAttachment } from './attachment-files';
import { AttachmentPreviews } from './AttachmentPreviews';

interface ComposerProps {
  streaming: boolean;
  /** Sends the message; resolves to why it was refused (nothing was sent: the text and files come back), or null. */
  onSend: (text: string, attachments: PendingAttachment[]) => Promise<string | null> | void;
  onStop: () => void;
  /** Why Send is unavailable (no model yet), shown under the box; null when it is available. */
  blockedReason?: string | null;
  /** What attaching does with the conversation's model (it sees; or it takes text only and which models see). */
  attachNote?: string;
  /** The files attached now (for the context gauge's estimate). */
  onAttachmentsChange?: (attachments: PendingAttachment[]) => void;
  /** Attaches files as documents of the conversation (read for its replies), not to one message. */
  onAttachDocuments?: (files: File[]) => void;
  /** Set to what attaches images and audio to the message (files dropped elsewhere in the view). */
  attachRef?: Ref<(files: File[]) => void>;
}

export const hasFiles = (event: DragEvent) => [...event.dataTransfer.types].includes('Files');

/**
 * The message box: Enter sends, Shift+Enter adds a line; Stop while a reply
 * streams. Images and audio attach by the button, by a drop on the box or by
 * pasting; each is shown with Remove until the message is sent. A refusal
 * (a file's type, size or contents, or a model that takes text only) is shown
 * here, and the message stays to be changed.
 */
export const Composer = forwardRef<HTMLTextAreaElement, ComposerProps>(function Composer(
  { streaming, onSend, onStop, blockedReason = null, attachNote, onAttachmentsChange, onAttachDocuments, attachRef },
  ref,
) {
  const [draft, setDraft] = useState('');
  const [pending, setPending] = useState<PendingAttachment[]>([]);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [over, setOver] = useState(false);
  const picker = useRef<HTMLInputElement>(null);
  const documentPicker = useRef<HTMLInputElement>(null);
  const canSend = (draft.trim().length > 0 || pending.length > 0) && !blockedReason;

  useEffect(() => onAttachmentsChange?.(pending), [pending, onAttachmentsChange]);

  const add = (files: File[]) => {
    if (files.length === 0) return;
    const problem = addingProblem(pending, files);
    if (problem) {
      setRefusal(`Not attached: ${problem}.`);
      return;
    }
    setRefusal(null);
    Promise.all(files.map(readAttachment)).then(
      (read) => setPending((list) => [...list, ...read]),
      (error: unknown) => setRefusal(`Could not read the file: ${(error as Error).message}`),
    );
  };

  // Documents go to the conversation; images and audio to this message.
  const take = (files: File[]) => {
    const documents = onAttachDocuments ? files.filter(isDocumentFile) : [];
    if (documents.length) onAttachDocuments?.(documents);
    add(files.filter((f) => !documents.includes(f)));
  };
  useImperativeHandle(attachRef, () => add);

  const submit = () => {
    if (!canSend) return;
    const text = draft;
    const files = pending;
    setDraft('');
    setPending([]);
    setRefusal(null);
    void Promise.resolve(onSend(text, files)).then((refused) => {
      if (!refused) return;
      // Nothing was sent: the message comes back as it was, with the reason.
      setDraft((now) => now || text);
      setPending((now) => (now.length ? now : files));
      setRefusal(refused);
    });
  };

  const describedBy = [blockedReason ? 'composer-blocked' : '', refusal ? 'composer-refusal' : ''].filter(Boolean).join(' ');
  return (
    <div
      className={`composer-wrap${over ? ' drop-target-over' : ''}`}
      onDragOver={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        if (!hasFiles(e)) return;
        e.preventDefault();
        e.stopPropagation();
        setOver(false);
        take([...e.dataTransfer.files]);
      }}
    >
      <AttachmentPreviews pending={pending} onRemove={(key) => setPending((list) => list.filter((a) => a.key !== key))} />
      <form
        className="composer"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <input
          ref={picker}
          type="file"
          multiple
          hidden
          accept={ACCEPTED_TYPES}
          aria-label="Image or audio files to attach"
          onChange={(e) => {
            add([...(e.target.files ?? [])]);
            e.target.value = '';
          }}
        />
        <button
          type="button"
          className="secondary attach-button"
          aria-label="Attach image"
          aria-describedby={attachNote ? 'composer-attach-note' : undefined}
          title={attachNote}
          onClick={() => picker.current?.click()}
        >
          Attach
        </button>
        {onAttachDocuments && (
          <>
            <input
              ref={documentPicker}
              type="file"
              multiple
              hidden
              accept={DOCUMENT_ACCEPT}
              aria-label="Documents to attach to this chat"
              onChange={(e) => {
                onAttachDocuments([...(e.target.files ?? [])]);
                e.target.value = '';
              }}
            />
            <button
              type="button"
              className="secondary attach-button"
              aria-label="Attach documents"
              title="PDF, Word, Markdown, text, HTML, CSV and code files: read for every reply in this chat"
              onClick={() => documentPicker.current?.click()}
            >
              Documents
            </button>
          </>
        )}
        <textarea
          ref={ref}
          aria-label="Message"
          aria-describedby={describedBy || undefined}
          placeholder="Message (Enter sends, Shift+Enter adds a line, Esc stops; drop files to attach them)"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onPaste={(e) => {
            const files = [...(e.clipboardData?.files ?? [])];
            if (files.length === 0) return;
            e.preventDefault();
            add(files);
          }}
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
      {attachNote && (
        <span id="composer-attach-note" className="visually-hidden">
          {attachNote}
        </span>
      )}
      {refusal && (
        <p id="composer-refusal" role="alert" className="composer-refusal">
          {refusal}
        </p>
      )}
      {blockedReason && (
        <p id="composer-blocked" className="muted composer-note">
          {blockedReason}
        </p>
      )}
    </div>
  );
});
