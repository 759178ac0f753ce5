import { z } from 'zod';

export const themes = ['system', 'light', 'dark'] as const;
export const backends = ['auto', 'cuda', 'vulkan', 'metal', 'cpu'] as const;

const appearanceSchema = z.object({
  theme: z.enum(themes),
});

const inferenceSchema = z.object({
  /** Which llama.cpp backend the worker uses; "auto" picks the best that loads. */
  backend: z.enum(backends),
  /** Generation threads; 0 means "choose for this machine". */
  threads: z.number().int().min(0).max(1024),
  /** Cap on VRAM use per GPU in MiB; null means no cap. */
  maxVramPerGpuMiB: z.number().int().min(256).max(16 * 1024 * 1024).nullable(),
});

const hubSchema = z.object({
  /** Hugging Face endpoint or a mirror of it. */
  endpoint: z.url({ protocol: /^https?$/ }),
});

const librarySchema = z.object({
  /** Where downloads and copies are stored; null means <data folder>/models. */
  modelsDir: z.string().min(1).max(4096).nullable(),
});

export const settingsSchema = z.object({
  version: z.literal(1),
  appearance: appearanceSchema,
  inference: inferenceSchema,
  hub: hubSchema,
  library: librarySchema.default({ modelsDir: null }),
});

export type Settings = z.infer<typeof settingsSchema>;

export const defaultSettings: Settings = {
  version: 1,
  appearance: { theme: 'system' },
  inference: { backend: 'auto', threads: 0, maxVramPerGpuMiB: null },
  hub: { endpoint: 'https://huggingface.co' },
  library: { modelsDir: null },
};

/** A partial update: each section may be given in part; unknown keys are refused. */
export const settingsPatchSchema = z
  .object({
    appearance: appearanceSchema.partial().strict().optional(),
    inference: inferenceSchema.partial().strict().optional(),
    hub: hubSchema.partial().strict().optional(),
    library: librarySchema.partial().strict().optional(),
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
  };
}
