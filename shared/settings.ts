import { z } from 'zod';
import { placementSchema } from './placement';

export const themes = ['system', 'light', 'dark'] as const;
export const backends = ['auto', 'cuda', 'vulkan', 'metal', 'cpu'] as const;

const appearanceSchema = z.object({
  theme: z.enum(themes),
});

export const speculativeSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('prompt-lookup') }).strict(),
  z.object({ mode: z.literal('draft'), draftModelId: z.string().min(1).max(100) }).strict(),
]);
export type SpeculativeSetting = z.infer<typeof speculativeSchema>;

const inferenceSchema = z.object({
  /** Which llama.cpp backend the worker uses; "auto" picks the best that loads. */
  backend: z.enum(backends),
  /** Generation threads; 0 means "choose for this machine". */
  threads: z.number().int().min(0).max(1024),
  /** Cap on VRAM use per GPU in MiB; null means no cap. */
  maxVramPerGpuMiB: z
    .number()
    .int()
    .min(256)
    .max(16 * 1024 * 1024)
    .nullable(),
  /** Replies a model generates at once (API requests and chats), batched by llama.cpp; fewer when memory is short. */
  parallel: z.number().int().min(1).max(16).optional(),
  /**
   * Speculative decoding, per model (by library id): prompt lookup (predicts
   * from the prompt and the reply so far: faster where the reply repeats its
   * input, as edits and summaries do) or a smaller draft model of the same
   * vocabulary from the library. Off for models not listed.
   */
  speculative: z.record(z.string().min(1).max(100), speculativeSchema).optional(),
  /**
   * The engine per model (by library id): node-llama-cpp's worker or llama.cpp's
   * own server; models not listed are "auto" (the worker, for text-only models).
   */
  engines: z.record(z.string().min(1).max(100), z.enum(['worker', 'server'])).optional(),
  /**
   * Where each model's layers go (by library id): which GPUs, split by layers
   * or rows, the most memory on each; models not listed use every GPU.
   */
  placements: z.record(z.string().min(1).max(100), placementSchema).optional(),
});

const hubSchema = z.object({
  /** Hugging Face endpoint or a mirror of it. */
  endpoint: z.url({ protocol: /^https?$/ }),
});

const librarySchema = z.object({
  /** Where downloads and copies are stored; null means <data folder>/models. */
  modelsDir: z.string().min(1).max(4096).nullable(),
});

const originSchema = z
  .string()
  .max(300)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
    } catch {
      return false;
    }
  }, 'must be an origin such as http://localhost:3000 (scheme, host and port; no path or trailing slash)');

const apiSchema = z.object({
  /** The local OpenAI-compatible API server (off by default in the desktop app). */
  enabled: z.boolean(),
  /** The address it listens on; anything but loopback is reachable from other machines and always needs the key. */
  host: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9.:-]+$/, 'must be an IP address or a host name'),
  /** 0: any free port (the URL shown says which). */
  port: z.number().int().min(0).max(65535),
  /** On loopback the key can be turned off; on any other address it is always required. */
  requireKey: z.boolean(),
  /** Web pages allowed to call the API from a browser (CORS); never "*". */
  corsOrigins: z.array(originSchema).max(32),
  /** Models the API loaded just in time are unloaded after this many idle minutes; 0 keeps them. */
  idleUnloadMinutes: z.number().min(0).max(1440),
});

export const defaultApiSettings: z.infer<typeof apiSchema> = {
  enabled: false,
  host: '127.0.0.1',
  port: 4849,
  requireKey: true,
  corsOrigins: [],
  idleUnloadMinutes: 10,
};

export const settingsSchema = z.object({
  version: z.literal(1),
  appearance: appearanceSchema,
  inference: inferenceSchema,
  hub: hubSchema,
  library: librarySchema.default({ modelsDir: null }),
  api: apiSchema.default(defaultApiSettings),
});

export type Settings = z.infer<typeof settingsSchema>;

export const defaultSettings: Settings = {
  version: 1,
  appearance: { theme: 'system' },
  inference: { backend: 'auto', threads: 0, maxVramPerGpuMiB: null, parallel: 4 },
  hub: { endpoint: 'https://huggingface.co' },
  library: { modelsDir: null },
  api: defaultApiSettings,
};

/** Replies at once when the setting is unset (settings files from before it). */
export const DEFAULT_PARALLEL = 4;

/** A partial update: each section may be given in part; unknown keys are refused. */
export const settingsPatchSchema = z
  .object({
    appearance: appearanceSchema.partial().strict().optional(),
    inference: inferenceSchema.partial().strict().optional(),
    hub: hubSchema.partial().strict().optional(),
    library: librarySchema.partial().strict().optional(),
    api: apiSchema.partial().strict().optional(),
  })
  .strict();

export type SettingsPatch = z.infer<typeof settingsPatchSchema>;

export function applySettingsPatch(settings: Settings, patch: SettingsPatch): Settings {
  return {
    version: 1,
    appearance: { ...settings.appearance, ...patch.appearance },
    inference: { ...settings.inference, ...patch.inference },
    hub: { ...settings.hub, ...patch.hub },
    library: { ...settings.library, ...patch.library },
    api: { ...settings.api, ...patch.api },
  };
}
