import path from 'node:path';
import type { ModelEntry } from '../../shared/library';

/**
 * The names API clients use for library models: the file's name without
 * .gguf (or the shard suffix), lowercase, e.g. "qwen2.5-7b-instruct-q4_k_m";
 * when two files share a name, the later one gets its library id appended.
 * The library id itself is accepted too.
 */
export function apiModelIds(models: ModelEntry[]): Map<string, ModelEntry> {
  const ids = new Map<string, ModelEntry>();
  const sorted = [...models].sort((a, b) => a.addedAt.localeCompare(b.addedAt) || a.id.localeCompare(b.id));
  for (const model of sorted) {
    const stem = path
      .basename(model.files[0] ?? model.name)
      .replace(/\.gguf$/i, '')
      .replace(/-\d{5}-of-\d{5}$/i, '')
      .toLowerCase();
    ids.set(ids.has(stem) ? `${stem}-${model.id}` : stem, model);
  }
  return ids;
}

export function resolveApiModel(models: ModelEntry[], requested: string): { id: string; model: ModelEntry } | undefined {
  const ids = apiModelIds(models);
  const wanted = requested.trim().toLowerCase();
  const direct = ids.get(wanted);
  if (direct) return { id: wanted, model: direct };
  for (const [id, model] of ids) if (model.id === requested) return { id, model };
  return undefined;
}
