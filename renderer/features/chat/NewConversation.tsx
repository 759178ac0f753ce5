import type { ModelEntry } from '../../../shared/library';
import type { MachineInfo } from '../../../shared/machines';
import { FirstRunCard } from '../first-run/FirstRunCard';
import { ModelPicker } from './ModelPicker';

interface Props {
  models: ModelEntry[];
  /** Other machines: their models are choosable too, so the first-run card is not needed while one lists any. */
  machines: MachineInfo[];
  /** Both the library and the other machines have been read. */
  libraryReady: boolean;
  /** The model the first message will start the conversation with. */
  model: string | null;
  onModel: (modelId: string | null) => void;
  /** The first-run card's download is under way. */
  firstRun: boolean;
  /** A first model just became ready: its id. */
  ready: string | null;
  onFirstRunStarted: () => void;
  onModelReady: (modelId: string) => void;
  onBrowse: () => void;
}

/**
 * Before the first message: the model to start with, and with an empty
 * library (and no other machine listing a model) the first-run card (the
 * recommended model that fits, one Download).
 */
export function NewConversation({
  models,
  machines,
  libraryReady,
  model,
  onModel,
  firstRun,
  ready,
  onFirstRunStarted,
  onModelReady,
  onBrowse,
}: Props) {
  const none = models.length === 0 && machines.every((m) => m.models.length === 0);
  return (
    <div className="chat-new">
      <div className="chat-toolbar">
        <ModelPicker models={models} machines={machines} value={model} onChange={onModel} emptyLabel={none ? 'No model yet' : null} />
      </div>
      {libraryReady && (none || firstRun) ? (
        <FirstRunCard onReady={onModelReady} onStarted={onFirstRunStarted} onBrowse={onBrowse} />
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
  );
}
