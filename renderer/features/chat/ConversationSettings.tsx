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

type ThinkingMode = 'default' | 'off' | 'on';
const MAX_BUDGET = 1_048_576;

/**
 * Sampling and context settings of one conversation (empty fields use the
 * model's defaults), thinking for models that reason, and whether the MCP
 * servers' tools are offered.
 */
export function ConversationSettings({ value, onSave }: { value: Settings; onSave: (next: Settings) => void }) {
  const [draft, setDraft] = useState<Record<string, string>>(() =>
    Object.fromEntries(fields.map((f) => [f.key, value[f.key] === undefined ? '' : String(value[f.key])])),
  );
  const [thinking, setThinking] = useState<ThinkingMode>(value.thinking === undefined ? 'default' : value.thinking.enabled ? 'on' : 'off');
  const [budget, setBudget] = useState(value.thinking?.budget === undefined ? '' : String(value.thinking.budget));
  const [tools, setTools] = useState(value.tools !== false);
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
          const settings: Settings = { ...next };
          if (thinking !== 'default') {
            const raw = thinking === 'on' ? budget.trim() : '';
            const n = Number(raw);
            if (raw !== '' && (!Number.isInteger(n) || n < 1 || n > MAX_BUDGET)) {
              setProblem(`Thought budget must be a whole number from 1 to ${MAX_BUDGET}, or empty for no limit.`);
              return;
            }
            settings.thinking = { enabled: thinking === 'on', ...(raw !== '' ? { budget: n } : {}) };
          }
          // Tools are offered unless turned off: only "off" is stored.
          if (!tools) settings.tools = false;
          setProblem(null);
          onSave(settings);
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
        <label>
          <span>Thinking</span>
          <select value={thinking} onChange={(e) => setThinking(e.target.value as ThinkingMode)}>
            <option value="default">Model default</option>
            <option value="off">Off</option>
            <option value="on">On</option>
          </select>
        </label>
        {thinking === 'on' && (
          <label>
            <span>Thought budget (tokens)</span>
            <input inputMode="numeric" value={budget} placeholder="empty: unlimited" onChange={(e) => setBudget(e.target.value)} />
          </label>
        )}
        <label className="checkbox-label">
          <span>
            <input type="checkbox" checked={tools} onChange={(e) => setTools(e.target.checked)} /> Use tools from MCP servers
          </span>
        </label>
        <button type="submit">Save settings</button>
        {problem && <p role="alert">{problem}</p>}
      </form>
    </details>
  );
}
