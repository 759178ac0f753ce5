/**
 * A repo's projectors (mmproj*.gguf, any case: "mmproj-F16.gguf",
 * "mmproj-model-f16.gguf", "mmproj-Qwen2.5-VL-7B-Instruct-Q8_0.gguf"): the
 * encoders that let its models see images (or hear audio). They are offered
 * with the model files, never as models, and one precision is chosen to go
 * with any quantization: F16 or BF16, else Q8_0, else F32; the smallest where
 * memory is tight.
 */
import type { FitVerdict, ProjectorOption, RepoFile } from '../../shared/hub';
import { formatBytes } from '../../shared/format';
import { GgufError, readGgufHeader, type ByteSource } from '../formats/gguf-header';
import { projectorFacts } from '../formats/gguf-projector';

/** A projector's file name: a .gguf whose own name says mmproj. */
export function isProjectorName(name: string): boolean {
  const base = name.split('/').pop() ?? '';
  return /\.gguf$/i.test(base) && /mmproj/i.test(base);
}

const PRECISION = /(?:^|[-_.])(BF16|F16|F32|Q8_0|Q6_K|Q5_K_M|Q5_0|Q4_K_M|Q4_0|Q4_1)(?=$|[-_.])/i;

/** "mmproj-Qwen2.5-VL-7B-Instruct-Q8_0.gguf" → "Q8_0"; "mmproj-model-f16.gguf" → "F16". */
export function projectorPrecision(name: string): string {
  const base = (name.split('/').pop() ?? '').replace(/\.gguf$/i, '');
  return PRECISION.exec(base)?.[1]?.toUpperCase() ?? 'other';
}

/** The repo's projector files, smallest first, none chosen yet. */
export function projectorOptions(files: RepoFile[], isSafe: (name: string) => boolean): ProjectorOption[] {
  return files
    .filter((f) => isProjectorName(f.name) && isSafe(f.name))
    .map((file) => ({ file, precision: projectorPrecision(file.name), chosen: false }))
    .sort((a, b) => a.file.sizeBytes - b.file.sizeBytes || a.file.name.localeCompare(b.file.name));
}

const PREFERENCE = ['F16', 'BF16', 'Q8_0', 'F32'];
const rank: Record<FitVerdict, number> = { gpu: 2, ram: 1, no: 0 };

function byPreference(options: ProjectorOption[]): ProjectorOption[] {
  const place = (o: ProjectorOption) => {
    const at = PREFERENCE.indexOf(o.precision);
    return at < 0 ? PREFERENCE.length : at;
  };
  return [...options].sort((a, b) => place(a) - place(b) || a.file.sizeBytes - b.file.sizeBytes);
}

const where: Record<FitVerdict, string> = { gpu: 'on the GPU', ram: 'in RAM', no: 'in the memory free now' };

/**
 * Chooses the projector to download with the model, marking it `chosen`:
 * the preferred precision (F16/BF16, else Q8_0, else F32) where it lets the
 * model fit as well as any would; where memory is tight, the smallest that
 * does. `verdictWith(bytes)` is how the repo's recommended quantization fits
 * with a projector of that size (null: the hardware is not known). Returns
 * what to tell the user, or null without projectors.
 */
export function chooseProjector(options: ProjectorOption[], verdictWith: ((bytes: number) => FitVerdict) | null): string | null {
  if (options.length === 0) return null;
  for (const option of options) option.chosen = false;
  const ordered = byPreference(options);
  const preferred = ordered[0]!;
  const describe = (o: ProjectorOption) => `${o.precision === 'other' ? 'the' : o.precision} projector ${o.file.name}`;
  let pick = preferred;
  let note: string;
  if (!verdictWith) {
    note = `Downloaded with ${describe(preferred)} (${formatBytes(preferred.file.sizeBytes)}): the preferred precision.`;
  } else {
    const verdicts = new Map(ordered.map((o) => [o, verdictWith(o.file.sizeBytes)]));
    const best = Math.max(...[...verdicts.values()].map((v) => rank[v]));
    if (rank[verdicts.get(preferred)!] === best && best > 0) {
      note = `Downloaded with ${describe(preferred)} (${formatBytes(preferred.file.sizeBytes)}): the preferred precision, and it fits ${where[verdicts.get(preferred)!]} with the model.`;
    } else {
      // Memory is tight: the smallest that fits as well as any.
      pick = [...options].sort((a, b) => a.file.sizeBytes - b.file.sizeBytes).find((o) => rank[verdicts.get(o)!] === best)!;
      note =
        pick === preferred
          ? `Downloaded with ${describe(pick)} (${formatBytes(pick.file.sizeBytes)}): memory is tight, and it is the smallest.`
          : `Downloaded with ${describe(pick)} (${formatBytes(pick.file.sizeBytes)}), the smallest: memory is tight, and with ${describe(preferred)} the model would fit less well.`;
    }
  }
  pick.chosen = true;
  return note;
}

/** What a projector encodes, from its header read over the network: sees images / hears audio, its type, or why llama.cpp cannot use it. */
export async function remoteProjectorFacts(
  source: ByteSource,
): Promise<{ vision: boolean; audio: boolean; projectorType: string | null; problem: string | null }> {
  try {
    const facts = projectorFacts(await readGgufHeader(source));
    if (!facts)
      return { vision: false, audio: false, projectorType: null, problem: 'it is not a projector (its architecture is not clip)' };
    return { vision: facts.vision, audio: facts.audio, projectorType: facts.projectorType, problem: null };
  } catch (error) {
    // A header that says llama.cpp cannot use it: it sees nothing here. One that could not be read: the name
    // says it is a projector, and projectors are mostly for images.
    if (error instanceof GgufError) return { vision: false, audio: false, projectorType: null, problem: error.message };
    return { vision: true, audio: false, projectorType: null, problem: `its header could not be read (${(error as Error).message})` };
  }
}
