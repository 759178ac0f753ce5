/** The model library as the UI and the CLI see it. */
import { z } from 'zod';

export type ModelOrigin = 'downloaded' | 'copied' | 'referenced' | 'folder';

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
