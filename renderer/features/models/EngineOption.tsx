import { useState } from 'react';
import { engineChoiceOf, engineLabels, type EngineName } from '../../../shared/inference';
import type { ModelEntry } from '../../../shared/library';
import type { Placement } from '../../../shared/placement';
import type { Settings } from '../../../shared/settings';
import { useHostApi } from '../../app/host-context';

type EngineMap = NonNullable<Settings['inference']['engines']>;

interface Props {
  model: ModelEntry;
  id: string;
  engines: EngineMap;
  /** Its placement, which may need llama.cpp's server (Auto then runs it there). */
  placement?: Placement;
  onSaved: (settings: Settings) => void;
}

/**
 * Which engine runs the model: Auto (node-llama-cpp for a text-only model),
 * node-llama-cpp, or llama.cpp's own server. Saving sends the whole map; a
 * loaded model moves to the engine it names.
 */
export function EngineOption({ model, id, engines, placement, onSaved }: Props) {
  const api = useHostApi();
  const current = engines[model.id] ?? 'auto';
  const [draft, setDraft] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const choice = draft ?? current;
  const hint = `${id}-engine-hint`;
  return (
    <form
      className="model-options-form"
      onSubmit={(e) => {
        e.preventDefault();
        const next: EngineMap = { ...engines };
        if (choice === 'auto') delete next[model.id];
        else next[model.id] = choice as EngineName;
        setBusy(true);
        setOutcome(null);
        api['settings.update']({ inference: { engines: next } })
          .then(
            (saved) => {
              onSaved(saved);
              setDraft(null);
              const runs = engineChoiceOf(next[model.id], model, placement);
              setOutcome({ ok: true, text: `Saved: ${model.name} runs on ${engineLabels[runs.engine]}. A loaded model moves now.` });
            },
            (error: Error) => setOutcome({ ok: false, text: error.message }),
          )
          .finally(() => setBusy(false));
      }}
    >
      <label className="inline-field">
        <span>Engine</span>
        <select aria-label={`Engine for ${model.name}`} aria-describedby={hint} value={choice} onChange={(e) => setDraft(e.target.value)}>
          <option value="auto">Auto ({engineLabels[engineChoiceOf(undefined, model, placement).engine]} for this model)</option>
          <option value="worker">{engineLabels.worker}</option>
          <option value="server">{engineLabels.server}</option>
        </select>
      </label>
      <button type="submit" className="secondary" disabled={busy || choice === current} aria-label={`Save the engine for ${model.name}`}>
        Save
      </button>
      <p id={hint} className="muted field-hint">
        node-llama-cpp runs in Freehold’s own worker process; llama.cpp’s server is llama.cpp’s own program, run by Freehold on this
        computer only. Hardware → Inference engine says which one runs the loaded model, and why.
      </p>
      {outcome && (
        <p role={outcome.ok ? 'status' : 'alert'} className={outcome.ok ? 'field-hint' : 'field-error tone-bad'}>
          {outcome.text}
        </p>
      )}
    </form>
  );
}
