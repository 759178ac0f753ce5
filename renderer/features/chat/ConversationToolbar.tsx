import { useState, type ReactNode } from 'react';
import type { Conversation } from '../../../shared/chat';
import type { ModelEntry } from '../../../shared/library';
import type { MachineInfo } from '../../../shared/machines';
import { useHostApi } from '../../app/host-context';
import { ConversationSettings } from './ConversationSettings';
import { ModelPicker } from './ModelPicker';

interface Props {
  conversation: Conversation;
  models: ModelEntry[];
  machines: MachineInfo[];
  machinesReady: boolean;
  /** Said under the toolbar: where the replies come from, when another machine writes them. */
  note?: ReactNode;
  /** The conversation changed in a way its change event does not bring (the model). */
  onChanged: () => void;
  onDeleted: () => void;
  onError: (error: unknown, doing?: string) => void;
}

/** One conversation's model, pin, title, export, delete, and its sampling settings. */
export function ConversationToolbar({ conversation, models, machines, machinesReady, note, onChanged, onDeleted, onError }: Props) {
  const api = useHostApi();
  const [renaming, setRenaming] = useState<string | null>(null);
  const id = conversation.id;
  const update = (patch: Omit<Parameters<(typeof api)['chats.update']>[0], 'id'>, doing: string) =>
    api['chats.update']({ id, ...patch }).catch((e: unknown) => onError(e, doing));

  return (
    <>
      <div className="chat-toolbar">
        <ModelPicker
          models={models}
          machines={machines}
          machinesReady={machinesReady}
          value={conversation.modelId}
          emptyLabel="Choose a model…"
          onChange={(modelId) => void update({ modelId }, 'Could not change the model').then(onChanged)}
        />
        <button
          type="button"
          className="secondary"
          aria-label="Pin conversation"
          onClick={() => void update({ pinned: !conversation.pinned }, conversation.pinned ? 'Could not unpin it' : 'Could not pin it')}
        >
          {conversation.pinned ? 'Unpin' : 'Pin'}
        </button>
        {renaming === null ? (
          <button type="button" className="secondary" aria-label="Rename conversation" onClick={() => setRenaming(conversation.title)}>
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
              if (title) void update({ title }, 'Could not rename it');
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
            api['chats.export']({ id, format: 'md' }).then(
              ({ content, fileName }) => {
                const link = document.createElement('a');
                link.href = URL.createObjectURL(new Blob([content], { type: 'text/markdown' }));
                link.download = fileName;
                link.click();
              },
              (e: unknown) => onError(e, 'Could not export it'),
            )
          }
        >
          Export
        </button>
        <button
          type="button"
          className="secondary danger"
          aria-label="Delete conversation"
          onClick={() => {
            if (!window.confirm('Delete this conversation?')) return;
            api['chats.delete']({ id }).then(onDeleted, (e: unknown) => onError(e, 'Could not delete it'));
          }}
        >
          Delete
        </button>
      </div>
      {note}
      <ConversationSettings
        key={`settings-${id}-${conversation.settings.contextSize ?? ''}`}
        value={conversation.settings}
        onSave={(settings) => void update({ settings }, 'Could not save the settings')}
      />
    </>
  );
}

/** The system prompt, saved when the field is left. */
export function SystemPrompt({ conversation, onError }: { conversation: Conversation; onError: (error: unknown, doing?: string) => void }) {
  const api = useHostApi();
  return (
    <details className="system-prompt">
      <summary>System prompt{conversation.systemPrompt ? '' : ' (none)'}</summary>
      <textarea
        aria-label="System prompt"
        defaultValue={conversation.systemPrompt}
        key={conversation.id}
        onBlur={(e) =>
          void api['chats.update']({ id: conversation.id, systemPrompt: e.target.value }).catch((error: unknown) =>
            onError(error, 'Could not save the system prompt'),
          )
        }
      />
    </details>
  );
}
