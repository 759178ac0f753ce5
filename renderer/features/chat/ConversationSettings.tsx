import { useState } from 'react';
import type { ConversationSettings as Settings } from '../../../shared/chat';

const fields: Array<{ key: keyof Settings; label: string; step: number; min: number; max: number; integer?: boolean; hint: string }> = [
  { key: 'temperature', label: 'Temperature', step: 0.05, min: 0, max: 2, hint: '0 always picks the likeliest word' },
  { key: 'topP', label: 'Top-p', step: 0.01, min: 0, max: 1, hint: '' },
  { key: 'topK', label: 'Top-k', step: 1, min: 0, max: 1000, integer: true, hint: '' },
  { key: 'minP', label: 'Min-p', step: 0.01, min: 0, max: 1, hint: '' },
  { key: 'repeatPenalty', label: 'Repeat penalty', step: 0.05, min: 0, max: 2, hint: '' },
  { key: 'seed', label: 'Seed', step: 1, min: 0, max: 4294967295, integer: true, hint: 'empty: random' },
  { key: 'maxTokens', label: 'Max reply tokens', step: 1, min: 1, max: 131072, integer: true, hint: '' },
  { key: 'contextSize', label: 'Context size', step: 256, min: 256, max: 1048576, integer: true, hint: 'empty: fitted to memory' },
];

/** Sampling and context settings of one conversation; empty fields use the model's defaults. */
export function ConversationSettings({ value, onSave }: { value: Settings; onSave: (next: Settings) => void }) {
  const [draft, setDraft] = useState<Record<string, string>>(() =>
    Object.fromEntries(fields.map((f) => [f.key, value[f.key] === undefined ? '' : String(value[f.key])])),
  );
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <details className="conversation-settings">
      <summary>Settings</summary>
      <form
        className="settings-grid"
        onSubmit={(e) => {
          e.preventDefault();
          const next: Record<string, number> = {};
          for (const f of fields) {
            const raw = draft[f.key]?.trim() ?? '';
            if (raw === '') continue;
            const n = Number(raw);
            if (!Number.isFinite(n) || n < f.min || n > f.max || (f.integer && !Number.isInteger(n))) {
              setProblem(`${f.label} must be ${f.integer ? 'a whole number' : 'a number'} from ${f.min} to ${f.max}.`);
              return;
            }
            next[f.key] = n;
          }
          setProblem(null);
          onSave(next as Settings);
        }}
      >
        {fields.map((f) => (
          <label key={f.key}>
            <span>{f.label}</span>
            <input
              inputMode="decimal"
              value={draft[f.key] ?? ''}
              placeholder={f.hint}
              onChange={(e) => setDraft((d) => ({ ...d, [f.key]: e.target.value }))}
            />
          </label>
        ))}
        <button type="submit">Save settings</button>
        {problem && <p role="alert">{problem}</p>}
      </form>
    </details>
  );
}
