/** Duplicates: same size first, then sha256, hashed lazily in the background. */
import type { ModelEntry } from '../../shared/library';
import type { LibraryState } from './library-state';
import { sha256File } from './model-files';

/** Marks each entry whose bytes an older entry has as a duplicate of that one. */
export function markDuplicates(models: ModelEntry[]): void {
  const bySha = new Map<string, ModelEntry>();
  for (const m of [...models].sort((a, b) => a.addedAt.localeCompare(b.addedAt))) {
    m.duplicateOf = null;
    if (!m.sha256) continue;
    const first = bySha.get(m.sha256);
    if (first) m.duplicateOf = first.id;
    else bySha.set(m.sha256, m);
  }
}

/**
 * Hashes the single-file entries that share their size with another and have
 * no hash yet; stops when `closed` says so. Returns whether any got a hash.
 */
export async function hashSameSized(state: LibraryState, closed: () => boolean, log: (line: string) => void): Promise<boolean> {
  const sizes = new Map<number, number>();
  for (const m of state.models) if (m.files.length === 1) sizes.set(m.sizeBytes, (sizes.get(m.sizeBytes) ?? 0) + 1);
  const pending = state.models.filter((m) => !m.sha256 && m.files.length === 1 && (sizes.get(m.sizeBytes) ?? 0) > 1);
  let hashed = false;
  for (const model of pending) {
    if (closed()) return hashed;
    const stamps = state.stamps.get(model.id);
    try {
      const sha256 = await sha256File(model.files[0]!);
      // Re-read or forgotten meanwhile: this hash is of bytes the entry no longer describes.
      if (state.stamps.get(model.id) !== stamps || !state.models.includes(model)) continue;
      model.sha256 = sha256;
      hashed = true;
    } catch (error) {
      log(`could not hash ${model.files[0]}: ${(error as Error).message}`);
    }
  }
  return hashed;
}
