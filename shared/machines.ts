/**
 * Other machines: Freehold hosts paired over an encrypted link, and
 * OpenAI-compatible servers (llama-server, vLLM, Ollama, LM Studio, another
 * Freehold's API). Types and input schemas shared by the host and every UI.
 */
import { z } from 'zod';
import type { DownloadJob, Fit } from './hub';
import { downloadInputSchema } from './hub';
import { chatMessageSchema, samplingSchema } from './inference';

export type MachineKind = 'freehold' | 'openai';

/**
 * online: answering; connecting: first attempt or a retry under way;
 * offline: not answering (retried with backoff); refused: the machine said no
 * (revoked pairing, wrong certificate, bad key): not retried until changed.
 */
export type MachineState = 'online' | 'connecting' | 'offline' | 'refused';

export interface MachineHardware {
  /** "cuda", "vulkan", "metal", "cpu"; null for a server that does not say. */
  backend: string | null;
  gpus: string[];
  cpu: string | null;
  os: string | null;
  ramTotalBytes: number | null;
  ramFreeBytes: number | null;
  vramTotalBytes: number | null;
  vramFreeBytes: number | null;
  /** Its "max VRAM per GPU" setting, where set (what a split plan keeps within). */
  vramCapBytes?: number | null;
}

/** A model on another machine, as that machine lists it. */
export interface RemoteModel {
  /** What a conversation stores as its model: see remoteModelRef. */
  ref: string;
  machineId: string;
  machineName: string;
  /** The model's id on that machine. */
  modelId: string;
  name: string;
  sizeBytes: number | null;
  quantization: string | null;
  architecture: string | null;
  /** The file's hash where that machine knows it: the same hash on two machines is the same model. */
  sha256: string | null;
  /** Whether it fits that machine now, computed there; null where the machine does not say. */
  fit: Fit | null;
}

export interface MachineInfo {
  id: string;
  name: string;
  kind: MachineKind;
  /** host:port of a paired Freehold, or the server's base URL. */
  address: string;
  state: MachineState;
  /** When the state last changed (ISO): "offline since …". */
  since: string;
  /** What went wrong last, in words; null when online. */
  error: string | null;
  /** When the next reconnection attempt is due (ISO), while offline. */
  retryAt: string | null;
  /** Generating now (its queue is running). */
  busy: boolean;
  hardware: MachineHardware | null;
  models: RemoteModel[];
  /** Downloads on that machine (Freehold machines only). */
  downloads: DownloadJob[];
  /** Lower is preferred when the same model is on several machines. */
  order: number;
}

export interface PairedClient {
  /** The pairing's id (not its key). */
  id: string;
  name: string;
  pairedAt: string;
  lastSeenAt: string | null;
  connected: boolean;
}

export interface SharingStatus {
  /** This machine's name as others see it. */
  name: string;
  enabled: boolean;
  listening: boolean;
  /** host:port it listens on (and the code carries). */
  address: string | null;
  /** SHA-256 of the link's certificate, base64url. */
  fingerprint: string | null;
  /** The current one-time pairing code, while sharing. */
  code: string | null;
  codeExpiresAt: string | null;
  error: string | null;
  clients: PairedClient[];
}

/** A conversation's model on another machine: "@<machineId>/<modelId>". Local models are plain ids. */
export function remoteModelRef(machineId: string, modelId: string): string {
  return `@${machineId}/${modelId}`;
}

export function parseModelRef(ref: string): { machineId: string; modelId: string } | null {
  const match = /^@([A-Za-z0-9_-]{1,40})\/(.{1,200})$/s.exec(ref);
  return match ? { machineId: match[1]!, modelId: match[2]! } : null;
}

const machineId = z.string().min(1).max(40);

export const addMachineSchema = z.union([
  z.object({ code: z.string().trim().min(10).max(2000) }).strict(),
  z
    .object({
      url: z
        .string()
        .trim()
        .min(8)
        .max(2000)
        .refine((u) => /^https?:\/\//i.test(u), 'must start with http:// or https://'),
      apiKey: z.string().max(2000).optional(),
      name: z.string().trim().min(1).max(60).optional(),
    })
    .strict(),
]);
export type AddMachineInput = z.infer<typeof addMachineSchema>;

export const machineIdSchema = z.object({ id: machineId }).strict();
export const updateMachineSchema = z
  .object({ id: machineId, name: z.string().trim().min(1).max(60).optional(), order: z.number().int().min(0).max(10_000).optional() })
  .strict();
export const shareSchema = z.object({ enabled: z.boolean() }).strict();
export const machineDownloadSchema = downloadInputSchema.extend({ machineId }).strict();
export const machineDownloadIdSchema = z.object({ machineId, id: z.string().min(1).max(100) }).strict();

/** A reply on a library model by id (what a paired machine asks of this one). */
export const generateOnModelSchema = z
  .object({
    modelId: z.string().min(1).max(100),
    requestId: z.string().min(1).max(100),
    system: z.string().max(200_000).optional(),
    messages: z.array(chatMessageSchema).min(1).max(10_000),
    sampling: samplingSchema.optional(),
    contextSize: z.number().int().min(256).max(1_048_576).optional(),
  })
  .strict();
export type GenerateOnModelInput = z.infer<typeof generateOnModelSchema>;

/**
 * A file sent to a machine in pieces (a model imported onto another machine):
 * begun with its name and size, then chunks in order, then finished; what
 * arrives is checked and stored as a copy in that machine's library.
 */
export const UPLOAD_CHUNK_BYTES = 512 * 1024;
const uploadId = z.string().min(1).max(100);
export const uploadBeginSchema = z
  .object({
    name: z.string().min(1).max(255),
    sizeBytes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 50),
  })
  .strict();
export const uploadChunkSchema = z
  .object({
    uploadId,
    /** Where this chunk begins: chunks come in order, each where the last ended. */
    offset: z
      .number()
      .int()
      .min(0)
      .max(2 ** 50),
    /** The bytes, base64 (at most 4 MiB of them). */
    data: z
      .string()
      .min(1)
      .max(Math.ceil((4 * 1024 * 1024) / 3) * 4),
  })
  .strict();
export const uploadIdSchema = z.object({ uploadId }).strict();
export const machineUploadBeginSchema = uploadBeginSchema.extend({ machineId }).strict();
export const machineUploadChunkSchema = uploadChunkSchema.extend({ machineId }).strict();
export const machineUploadIdSchema = uploadIdSchema.extend({ machineId }).strict();
