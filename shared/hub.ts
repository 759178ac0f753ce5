/** Hugging Face search, repo pages with fit badges, and downloads. */
import { z } from 'zod';

export interface HubModel {
  repo: string;
  author: string | null;
  downloads: number;
  likes: number;
  updatedAt: string;
  gated: boolean;
  /** The repo holds a projector (an mmproj*.gguf file): its model sees images (from the file names only). */
  vision: boolean;
}

/** A model Freehold suggests, with the file it would download and why it is on the list. */
export interface RecommendedModel {
  repo: string;
  family: string;
  parameters: string;
  /** The quantization downloaded (the repo's file of that quantization). */
  quantization: string;
  /** About how large that file is; the hub's own size is used when it downloads. */
  sizeBytes: number;
  /** Why it is on the list. */
  note: string;
  /** Whether it fits the memory free now (a 4,096-token context); null where the hardware is not known. */
  fit: Fit | null;
}

/** The first model to offer someone with an empty library: the best of the starters that fits this machine now. */
export interface StarterChoice {
  model: RecommendedModel | null;
  /** Why this one (or why none). */
  reason: string;
}

export type FitVerdict = 'gpu' | 'ram' | 'no';

export interface Fit {
  verdict: FitVerdict;
  /** Estimated bytes needed: weights plus the KV cache for `contextSize` tokens. */
  neededBytes: number;
  contextSize: number;
  /** Free VRAM and RAM it was compared with. */
  freeVramBytes: number;
  freeRamBytes: number;
  explanation: string;
}

export interface RepoFile {
  /** Path in the repo (display only; never a path on disk). */
  name: string;
  sizeBytes: number;
  sha256: string | null;
}

export interface QuantOption {
  quantization: string;
  files: RepoFile[];
  /** The model's files; a repo's chosen projector comes on top (RepoDetails.projectors). */
  totalBytes: number;
  /** For the model's files and the chosen projector together: the projector's bytes are memory too. */
  fit: Fit | null;
  /** The quantization Freehold recommends for this machine. */
  recommended: boolean;
}

/** A repo's projector file (mmproj*.gguf): the encoder that lets its model see images (or hear audio). Never offered as a model. */
export interface ProjectorOption {
  file: RepoFile;
  /** F16, BF16, Q8_0, F32 … from its name; "other" where the name does not say. */
  precision: string;
  /** The one downloaded with the model (and counted in its size and fit). */
  chosen: boolean;
}

export interface RepoDetails {
  repo: string;
  revision: string;
  license: string | null;
  baseModel: string | null;
  gated: boolean;
  quants: QuantOption[];
  /** From one file's header, read by HTTP range requests. */
  architecture: string | null;
  parameterCount: number | null;
  contextLength: number | null;
  /** Why there is no fit estimate, if there is none. */
  fitProblem: string | null;
  // The projector fields are always set by this version's hub client; optional for details made elsewhere.
  /** The model sees images / hears audio: the repo has a projector (what it encodes read from its header where it could be). */
  vision?: boolean;
  audio?: boolean;
  /** The repo's projector files, smallest first; the chosen one is downloaded with any quantization. */
  projectors?: ProjectorOption[];
  /** Which projector is downloaded with the model, and why that precision; null without projectors. */
  projectorNote?: string | null;
  /** clip.projector_type of the chosen projector, where its header was read. */
  projectorType?: string | null;
}

/** A projector downloaded with its model: it goes beside it (mmproj.gguf) and is attached once both are verified. */
export interface DownloadProjector {
  file: RepoFile;
  precision: string;
  /** pending: not yet fetched; attached: in the library with its model; failed: the model stays text-only (`error` says why). */
  state: 'pending' | 'attached' | 'failed';
  error: string | null;
  /** Once attached: what it lets the model take, from the projector's header. */
  vision?: boolean;
  audio?: boolean;
}

export type DownloadState = 'queued' | 'downloading' | 'paused' | 'verifying' | 'done' | 'failed' | 'canceled';

export interface DownloadJob {
  id: string;
  repo: string;
  revision: string;
  quantization: string | null;
  /** The model's files; its projector, if any, is `projector`. */
  files: RepoFile[];
  /** The repo's projector fetched with the model (same revision, verified the same way); absent or null: none. */
  projector?: DownloadProjector | null;
  state: DownloadState;
  bytesDone: number;
  /** The model's files and its projector together. */
  totalBytes: number;
  bytesPerSecond: number;
  etaSeconds: number | null;
  error: string | null;
  /** Retries so far and the reason for the last one. */
  attempts: number;
  lastRetry: string | null;
  modelId: string | null;
  createdAt: string;
}

const repoId = z
  .string()
  .min(3)
  .max(200)
  .regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/, 'must look like owner/name');

export const searchInputSchema = z
  .object({
    query: z.string().max(200).default(''),
    sort: z.enum(['downloads', 'likes', 'recent']).default('downloads'),
    limit: z.number().int().min(1).max(200).default(30),
  })
  .strict();

export const repoInputSchema = z.object({ repo: repoId, revision: z.string().min(1).max(100).optional() }).strict();

export const downloadInputSchema = z
  .object({
    repo: repoId,
    revision: z.string().min(1).max(100).optional(),
    file: z.string().min(1).max(1000).optional(),
    quantization: z.string().min(1).max(50).optional(),
    /** The repo's projector file to fetch with the model; false: none (text only); absent: the one that fits. */
    projector: z.union([z.string().min(1).max(1000), z.literal(false)]).optional(),
  })
  .strict();

export const downloadIdSchema = z.object({ id: z.string().min(1).max(100) }).strict();
export const tokenInputSchema = z.object({ token: z.string().min(1).max(500).nullable() }).strict();

/**
 * The Hugging Face token: whether one is set and where it is kept. A saved
 * token is bound to the endpoint it was saved for (`endpoint`) and sent only
 * there: `active` is false while the hub endpoint in use is another.
 */
export interface HubTokenStatus {
  set: boolean;
  storage: 'keychain' | 'file' | 'environment' | null;
  endpoint?: string;
  active: boolean;
}
