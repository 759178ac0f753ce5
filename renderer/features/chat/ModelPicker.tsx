import type { ModelEntry } from '../../../shared/library';

/** The conversation's model: one of the library's, by name. */
export function ModelPicker({
  models,
  value,
  onChange,
  emptyLabel,
}: {
  models: ModelEntry[];
  value: string | null;
  onChange: (modelId: string | null) => void;
  /** The option shown for "none": a prompt to choose, or why there is nothing to choose. */
  emptyLabel: string | null;
}) {
  return (
    <label className="inline-field">
      <span>Model</span>
      <select value={value ?? ''} disabled={models.length === 0} onChange={(e) => onChange(e.target.value || null)}>
        {emptyLabel !== null && <option value="">{emptyLabel}</option>}
        {models.map((m) => (
          <option key={m.id} value={m.id}>
            {m.name}
          </option>
        ))}
      </select>
    </label>
  );
}
