/**
 * Inference types shared by the host, the worker and the UI: hardware reports,
 * model loading, chat generation and its streamed deltas and stats.
 */
import { z } from 'zod';
import { MAX_MEDIA_PER_MESSAGE, mediaPartSchema, type MediaAbilities } from './media';
import { placementNeedsServer, placementSchema, type Placement, type PlacementCheck, type PlacementPlan } from './placement';

export const backendNames = ['cuda', 'vulkan', 'metal', 'cpu'] as const;
export type BackendName = (typeof backendNames)[number];

/** How every view spells a backend: the status bar, the Hardware view, the CLI and the worker's reasons. */
export const backendLabels: Record<BackendName, string> = { cuda: 'CUDA', vulkan: 'Vulkan', metal: 'Metal', cpu: 'CPU' };

/** A backend's label, for names that come as plain strings (another machine's report): unknown ones as they are. */
export function backendLabel(name: string): string {
  return (backendLabels as Record<string, string | undefined>)[name] ?? name;
}

export interface BackendAttempt {
  backend: BackendName;
  /** "chosen", "available" (works but a better one was chosen), or "unavailable" with a reason. */
  outcome: 'chosen' | 'available' | 'unavailable' | 'not-tried';
  reason: string;
}

export interface GpuDevice {
  name: string;
}

export interface HardwareReport {
  /** The backend in use, and why. */
  backend: BackendName;
  reason: string;
  /** What was requested: "auto" or an override. */
  requested: 'auto' | BackendName;
  attempts: BackendAttempt[];
  gpus: GpuDevice[];
  vram: { totalBytes: number; usedBytes: number; freeBytes: number; unifiedBytes: number; capBytes: number | null };
  ram: { totalBytes: number; freeBytes: number };
  cpu: { model: string; logicalCores: number; mathCores: number; features: string[] };
  threads: { used: number; reason: string };
  versions: { nodeLlamaCpp: string; llamaCpp: string; binary: 'prebuilt' | 'localBuild' };
  os: string;
}

export const samplingSchema = z
  .object({
    temperature: z.number().min(0).max(5).optional(),
    topP: z.number().min(0).max(1).optional(),
    topK: z.number().int().min(0).max(1000).optional(),
    minP: z.number().min(0).max(1).optional(),
    repeatPenalty: z.number().min(0).max(5).optional(),
    /** OpenAI-style penalties on tokens already generated (by count, and for appearing at all). */
    frequencyPenalty: z.number().min(-2).max(2).optional(),
    presencePenalty: z.number().min(-2).max(2).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional(),
    maxTokens: z.number().int().min(1).max(131072).optional(),
  })
  .strict();
export type Sampling = z.infer<typeof samplingSchema>;

/**
 * The most text one message may hold on its way to the worker: as much as the
 * largest local API request (8 MiB) or a stored reply can carry, so that the
 * edges (the API's body limit, the UI's message limit) are the only limits a
 * user meets.
 */
export const MAX_MESSAGE_TEXT = 8 * 1024 * 1024;

/** A function name as the OpenAI API allows it. */
export const toolNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only, at most 64');

/** A tool call the model made earlier in the conversation, with its result. */
export const historyCallSchema = z
  .object({
    name: toolNameSchema,
    /** The arguments as JSON text. */
    arguments: z.string().max(MAX_MESSAGE_TEXT),
    result: z.string().max(MAX_MESSAGE_TEXT),
    /** Characters of the message's text written before the call. */
    at: z.number().int().min(0),
  })
  .strict();
export type HistoryCall = z.infer<typeof historyCallSchema>;

/** A function the model may call; `parameters` is a JSON schema already checked as enforceable (electron/formats/json-schema-support.ts). */
export const toolDefinitionSchema = z
  .object({
    name: toolNameSchema,
    description: z.string().max(100_000).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type ToolDefinition = z.infer<typeof toolDefinitionSchema>;

/** none: no calls; auto: the model decides; required: at least one call; { name }: that function. The last two are enforced by a grammar. */
export const toolChoiceSchema = z.union([z.enum(['none', 'auto', 'required']), z.object({ name: toolNameSchema }).strict()]);
export type ToolChoice = z.infer<typeof toolChoiceSchema>;

/** Reasoning for models that think: off, or on with at most `budget` tokens of thought (none: unbounded). */
export const thinkingSchema = z
  .object({
    enabled: z.boolean(),
    budget: z.number().int().min(1).max(1_048_576).optional(),
  })
  .strict();
export type Thinking = z.infer<typeof thinkingSchema>;

export const chatMessageSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('system'), text: z.string().max(MAX_MESSAGE_TEXT) }).strict(),
  z
    .object({
      role: z.literal('user'),
      text: z.string().max(MAX_MESSAGE_TEXT),
      /** Images and audio with the text, already checked (shared/media.ts); only for a model that takes them. */
      media: z.array(mediaPartSchema).max(MAX_MEDIA_PER_MESSAGE).optional(),
    })
    .strict(),
  z
    .object({
      role: z.literal('assistant'),
      text: z.string().max(MAX_MESSAGE_TEXT),
      /** Tools it called along the way, each with the result it got back, in order. */
      calls: z.array(historyCallSchema).max(1000).optional(),
    })
    .strict(),
]);
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const outputFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('json') }).strict(),
  z.object({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }).strict(),
]);
export type OutputFormat = z.infer<typeof outputFormatSchema>;

/** What shapes the output of a reply or a completion alike. */
const outputControls = {
  sampling: samplingSchema.optional(),
  /** Generation ends (without the text) where one of these appears. */
  stop: z.array(z.string().min(1).max(1000)).max(16).optional(),
  /** Output constrained by a grammar: any JSON, or JSON matching a schema (already checked by the caller). */
  format: outputFormatSchema.optional(),
};

export const generateInputSchema = z
  .object({
    /** Chosen by the caller so that deltas and abort can name the request. */
    requestId: z.string().min(1).max(100),
    system: z.string().max(200_000).optional(),
    messages: z.array(chatMessageSchema).min(1).max(10_000),
    ...outputControls,
    tools: z.array(toolDefinitionSchema).max(128).optional(),
    toolChoice: toolChoiceSchema.optional(),
    /** Whether a turn may hold more than one call (default true). */
    parallelToolCalls: z.boolean().optional(),
    thinking: thinkingSchema.optional(),
    /** The conversation this reply belongs to: it runs on that conversation's sequence when free, so its earlier turns are not read again. */
    slotKey: z.string().min(1).max(200).optional(),
  })
  .strict();
export type GenerateInput = z.infer<typeof generateInputSchema>;

/** Plain text completion: the prompt as is, no chat template. */
export const completeInputSchema = z
  .object({
    requestId: z.string().min(1).max(100),
    prompt: z.string().max(4_000_000),
    ...outputControls,
  })
  .strict();
export type CompleteInput = z.infer<typeof completeInputSchema>;

export const embedInputSchema = z
  .object({
    modelPath: z.string().min(1).max(4096),
    inputs: z.array(z.string().max(4_000_000)).min(1).max(2048),
  })
  .strict();
export type EmbedInput = z.infer<typeof embedInputSchema>;

export interface EmbedResult {
  vectors: number[][];
  promptTokens: number;
}

export const loadInputSchema = z
  .object({
    modelPath: z
      .string()
      .min(1)
      .max(4096)
      .refine((p) => /\.gguf$/i.test(p), 'must be a .gguf file'),
    gpuLayers: z.union([z.literal('auto'), z.number().int().min(0).max(10_000)]).optional(),
    contextSize: z.union([z.literal('auto'), z.number().int().min(64).max(1_048_576)]).optional(),
    /**
     * With an automatic context size: at most this many tokens (what fits the memory free now, up to the
     * trained size, as for any automatic load). A paired machine's request is held to this, never to an exact size.
     */
    maxContextSize: z.number().int().min(64).max(1_048_576).optional(),
    /** Where the layers go, for this load (`freehold load --devices …`); unset: the model's placement in the settings. */
    placement: placementSchema.optional(),
    /**
     * Speculative decoding: tokens predicted by looking the recent output up in the prompt, or by a smaller
     * draft model of the same vocabulary, then checked by the model several at a time.
     */
    speculative: z
      .discriminatedUnion('kind', [
        z.object({ kind: z.literal('prompt-lookup') }).strict(),
        z
          .object({
            kind: z.literal('draft'),
            modelPath: z
              .string()
              .min(1)
              .max(4096)
              .refine((p) => /\.gguf$/i.test(p), 'must be a .gguf file'),
          })
          .strict(),
      ])
      .optional(),
  })
  .strict();
export type LoadInput = z.infer<typeof loadInputSchema>;

/** The local engines: node-llama-cpp in the worker process, or llama.cpp's own llama-server. */
export const engineNames = ['worker', 'server'] as const;
export type EngineName = (typeof engineNames)[number];
/** What runs a model: automatic, or pinned by the user (Models → Options → Engine). */
export const engineChoices = ['auto', ...engineNames] as const;
export type EngineChoiceSetting = (typeof engineChoices)[number];

/** How every view names an engine. */
export const engineLabels: Record<EngineName, string> = { worker: 'node-llama-cpp', server: 'llama.cpp’s server' };

/**
 * The engine a model runs on, and why, from its setting (none: auto) and
 * whether it has a projector: only llama.cpp's server runs projectors, so Auto
 * puts a model that sees or hears there; a model pinned to node-llama-cpp runs
 * text-only.
 */
export function engineChoiceOf(
  setting: EngineName | undefined,
  model: { projector?: MediaAbilities | null } = {},
  placement?: Placement,
): { engine: EngineName; why: string } {
  const sees = model.projector ? (model.projector.vision ? 'sees images' : 'hears audio') : null;
  const placed = placementNeedsServer(placement);
  if (!setting) {
    if (sees) return { engine: 'server', why: `Auto: the model ${sees} (it has a projector), which only llama.cpp’s server runs` };
    if (placed)
      return {
        engine: 'server',
        why: 'Auto: its placement (chosen GPUs, caps per GPU or a split by rows) is one only llama.cpp’s server runs',
      };
    return { engine: 'worker', why: 'Auto: a text-only model runs on node-llama-cpp' };
  }
  const why = `Chosen for this model in its options: ${engineLabels[setting]}`;
  if (setting === 'worker' && sees) return { engine: setting, why: `${why} (text only: its projector needs llama.cpp’s server)` };
  if (setting === 'worker' && placed)
    return { engine: setting, why: `${why} (node-llama-cpp places the layers itself: its placement needs llama.cpp’s server)` };
  return { engine: setting, why };
}

export interface LoadedModel {
  /** Where its layers went: the plan, and what llama.cpp reported per device after loading. */
  placement?: { plan: PlacementPlan; check?: PlacementCheck };
  /** The engine running it, and why that one. */
  engine?: EngineName;
  engineReason?: string;
  /** Whether it takes images / audio now (a projector loaded with it). */
  vision?: boolean;
  audio?: boolean;
  /** The projector's file name, when one is loaded. */
  projector?: string;
  path: string;
  name: string;
  architecture: string;
  sizeBytes: number;
  gpuLayers: number;
  totalLayers: number;
  contextSize: number;
  chatWrapper: string;
  /** Set when the first attempt failed for memory and a smaller one worked. */
  retried?: string;
  /** Replies it generates at once (sequences of its context, each of `contextSize` tokens). */
  parallel?: number;
  /** Why fewer replies run at once than the setting asks, if so. */
  parallelNote?: string;
  /** Speculative decoding in use (with the draft model's name). */
  speculative?: 'prompt-lookup' | 'draft';
  draftModel?: string;
  /** Why the speculative decoding asked for is not in use, if so. */
  speculativeNote?: string;
}

export type StopReason = 'eos' | 'max-tokens' | 'abort' | 'stop-sequence' | 'tool-calls' | 'error';

export interface GenerationStats {
  promptTokens: number;
  /** Of the prompt, the tokens reused from the previous turn's cache rather than read again. */
  cachedPromptTokens?: number;
  /** Of the prompt, the tokens the images and audio took (the context gauge shows them). */
  mediaTokens?: number;
  generatedTokens: number;
  timeToFirstTokenMs: number;
  tokensPerSecond: number;
  totalMs: number;
  stopReason: StopReason;
  /** Tokens in the context after this reply, and its size: the context-usage gauge. */
  contextTokens?: number;
  contextSize?: number;
  /** Messages that no longer fit and were left out of the context (the system prompt is kept). */
  droppedMessages?: number;
  /** How long the model spent in its reasoning segment, if it had one. */
  reasoningMs?: number;
  /** With speculative decoding: tokens predicted and checked, and of those, the ones the model accepted. */
  predictedTokens?: number;
  acceptedPredictions?: number;
}

/**
 * Why a prompt was refused before the model read any of it: it does not fit
 * in the loaded context with room for a reply. The details of a
 * `context_length_exceeded` error.
 */
export interface ContextOverflow {
  /** The whole prompt as the model would read it, chat template included. */
  promptTokens: number;
  /**
   * What cannot be left out: the system prompt, the last user message and what
   * follows it, with the template. Equal to promptTokens for a single message
   * or a plain completion; older messages are left out when they do not fit.
   */
  requiredTokens: number;
  /** The most that fits: the context less the room kept for the reply. */
  maxPromptTokens: number;
  /** Tokens kept free for the reply. */
  replyTokens: number;
  contextSize: number;
  /** The context the model was trained for (GGUF context_length). */
  trainContextSize: number;
  /** A larger context that would hold it, where the trained context and the memory free now allow one. */
  largerContextSize: number | null;
  /** Why none is offered: the model's trained context, or the memory free now. */
  largerContextLimit: 'trained-context' | 'memory' | null;
}

export function isContextOverflow(value: unknown): value is ContextOverflow {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['promptTokens', 'requiredTokens', 'maxPromptTokens', 'replyTokens', 'contextSize', 'trainContextSize'].every(
    (key) => typeof v[key] === 'number',
  );
}

export interface GenerateResult {
  requestId: string;
  text: string;
  reasoning: string;
  stats: GenerationStats;
  /** The tools the model called, in order; the reply stops there (stopReason "tool-calls"). */
  toolCalls?: Array<{ name: string; arguments: string }>;
}

/** One batch of streamed output; reasoning (e.g. <think>) is its own segment type. */
export interface ChatDelta {
  requestId: string;
  parts: DeltaPart[];
}

/** Text, reasoning, or a piece of a tool call's arguments (the call's index in the reply, its name, the JSON so far in pieces). */
export type DeltaPart = { kind: 'text' | 'reasoning'; text: string } | { kind: 'call'; index: number; name: string; text: string };

export interface LoadProgress {
  modelPath: string;
  /** 0..1 */
  progress: number;
}

/** A llama-bench style measurement on the active backend. */
export interface BenchmarkResult {
  id: string;
  at: string;
  modelId: string | null;
  modelName: string;
  backend: BackendName;
  gpus: string[];
  cpu: string;
  threads: number;
  versions: { nodeLlamaCpp: string; llamaCpp: string };
  /** Prompt processing: tokens/s over `promptTokens` (pp512). */
  promptTokens: number;
  promptTokensPerSecond: number;
  /** Text generation: tokens/s over `generatedTokens` (tg128). */
  generatedTokens: number;
  generationTokensPerSecond: number;
}
