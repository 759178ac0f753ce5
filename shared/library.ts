/** The model library as the UI and the CLI see it. */
import { z } from 'zod';

export type ModelOrigin = 'downloaded' | 'copied' | 'referenced' | 'folder';

/**
 * A multimodal projector (an mmproj GGUF, llama.cpp's libmtmd) attached to a
 * model: the encoder that lets it see images or hear audio. It belongs to the
 * model whose embedding width equals its output width.
 */
export interface ProjectorInfo {
  /** Absolute path of the projector file (kept beside the model when downloaded or copied). */
  file: string;
  sizeBytes: number;
  /** clip.projector_type (for a projector with both encoders, the vision one's), e.g. "mlp", "gemma3", "qwen2vl_merger". */
  projectorType: string;
  vision: boolean;
  audio: boolean;
  /** Tokens one image costs with a fixed-size encoder ((image size / patch size)², after merging); null where it depends on the image. */
  imageTokens: number | null;
}

export interface ModelEntry {
  id: string;
  /** Display name: the model's own name, else its file name. */
  name: string;
  publisher: string | null;
  architecture: string | null;
  parameterCount: number;
  quantization: string | null;
  sizeBytes: number;
  contextLength: number | null;
  hasChatTemplate: boolean;
  license: string | null;
  baseModel: string | null;
  /** Absolute paths; split models list their shards in order. The first is what gets loaded. */
  files: string[];
  origin: ModelOrigin;
  /** Downloaded and copied files are the app's to delete; referenced and folder files never are. */
  owned: boolean;
  folderId: string | null;
  source: { repo: string; revision: string; file: string } | null;
  sha256: string | null;
  /** Its projector, where it has one: it sees images (and/or hears audio) on llama.cpp's server. */
  projector?: ProjectorInfo | null;
  /** Set when another entry has the same content. */
  duplicateOf: string | null;
  addedAt: string;
}

export interface ModelFolder {
  id: string;
  path: string;
  label: string;
  modelCount: number;
  /** Set when the folder is missing or unreadable. */
  problem: string | null;
}

export interface FolderSuggestion {
  path: string;
  label: string;
}

export interface LibrarySnapshot {
  models: ModelEntry[];
  folders: ModelFolder[];
  totalBytes: number;
  ownedBytes: number;
}

export interface ImportResult {
  path: string;
  ok: boolean;
  model?: ModelEntry;
  /** For a projector: it was attached to this model (`model` is the model, now with its projector). */
  attachedTo?: string;
  error?: string;
}

const absolutePath = z.string().min(1).max(4096);

export const importInputSchema = z
  .object({
    paths: z.array(absolutePath).min(1).max(1000),
    mode: z.enum(['reference', 'copy']).default('reference'),
  })
  .strict();

export const modelIdSchema = z.object({ id: z.string().min(1).max(100) }).strict();
export const addFolderSchema = z.object({ path: absolutePath }).strict();
