import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ModelEntry, ModelOrigin } from '../../shared/library';
import { openFileSource } from '../formats/file-source';
import { GgufError, modelFacts, readGgufHeader, type GgufHeader } from '../formats/gguf-header';
import { checkModelTensors } from '../formats/gguf-tensors';
import { NotRegularFileError } from '../platform/regular-file';
import { stampFile, type FileStamp } from './file-identity';

/** What a model's files say about it: everything in an entry but what the library decides. */
export type ModelFacts = Omit<
  ModelEntry,
  'id' | 'files' | 'origin' | 'owned' | 'folderId' | 'source' | 'sha256' | 'duplicateOf' | 'addedAt'
>;

export function newId(): string {
  return randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').toLowerCase();
}

/**
 * Reads and checks the header of every shard, then the metadata against the
 * tensors of all of them; the facts come from the first.
 */
export async function inspectModel(files: string[]): Promise<ModelFacts> {
  const headers: GgufHeader[] = [];
  let size = 0;
  let facts: ReturnType<typeof modelFacts> | undefined;
  let publisher: string | null = null;
  let parameterCount = 0;
  for (const file of files) {
    let source;
    try {
      source = await openFileSource(file);
    } catch (error) {
      if (error instanceof NotRegularFileError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new GgufError(
        code === 'ENOENT'
          ? `${path.basename(file)} is missing`
          : `${path.basename(file)} cannot be read (${code ?? (error as Error).message})`,
      );
    }
    try {
      const header = await readGgufHeader(source);
      headers.push(header);
      size += source.size;
      const shardFacts = modelFacts(header);
      parameterCount += shardFacts.parameterCount;
      if (!facts) {
        facts = shardFacts;
        const org = header.metadata.get('general.organization') ?? header.metadata.get('general.author');
        publisher = typeof org === 'string' ? org : null;
      }
    } finally {
      await source.close();
    }
  }
  if (!facts) throw new GgufError('no files');
  checkModelTensors(headers);
  const first = files[0]!;
  const fileName = path.basename(first).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '');
  return {
    name: facts.name && facts.name !== facts.architecture ? facts.name : fileName,
    publisher,
    architecture: facts.architecture,
    parameterCount,
    quantization:
      facts.quantization ?? /(?:^|[-_.])((?:I?Q\d_[A-Z0-9_]+)|F16|BF16|F32)(?:$|[-_.])/i.exec(fileName)?.[1]?.toUpperCase() ?? null,
    sizeBytes: size,
    contextLength: facts.contextLength,
    hasChatTemplate: facts.hasChatTemplate,
    license: facts.license,
    baseModel: facts.baseModel,
  };
}

/** A Hugging Face cache path (…/models--org--name/snapshots/<rev>/file) names its repo. */
export function hubCacheSource(file: string): ModelEntry['source'] {
  const match = /[/\\]models--([^/\\]+?)--([^/\\]+)[/\\]snapshots[/\\]([0-9a-f]{7,64})[/\\](.+)$/i.exec(file);
  if (!match) return null;
  return { repo: `${match[1]}/${match[2]}`, revision: match[3]!, file: match[4]!.split(path.sep).join('/') };
}

/** Stamps every file, or null if one cannot be stamped (the header check then says why). */
export async function stampAll(files: string[]): Promise<FileStamp[] | null> {
  try {
    const stamps: FileStamp[] = [];
    for (const file of files) stamps.push(await stampFile(file));
    return stamps;
  } catch {
    return null;
  }
}

/** A new entry for `files`: a fresh id, added now, owned if the app made the files (unless `extra` says otherwise). */
export function newEntry(files: string[], origin: ModelOrigin, facts: ModelFacts, extra: Partial<ModelEntry> = {}): ModelEntry {
  return {
    id: newId(),
    ...facts,
    files,
    origin,
    owned: origin === 'downloaded' || origin === 'copied',
    folderId: null,
    source: null,
    sha256: null,
    duplicateOf: null,
    addedAt: new Date().toISOString(),
    ...extra,
  };
}

/** Why an import failed, in the words the user sees. */
export function importError(error: unknown): string {
  return error instanceof GgufError ? `Not a usable GGUF model: ${error.message}` : (error as Error).message;
}
