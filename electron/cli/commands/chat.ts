import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ChatDelta, GenerateResult, LoadProgress, Sampling } from '../../../shared/inference';
import type { ModelEntry } from '../../../shared/library';
import { cannotTakeMessage, type MediaPart } from '../../../shared/media';
import { mediaRefusalFor, modelTakes } from '../../api/media-parts';
import { apiModelIds, resolveApiModel } from '../../api/model-ids';
import { checkMedia, checkMediaCount, type CheckedMedia } from '../../formats/media-check';
import type { HostServices } from '../../services/host-services';
import { citedLines, collectionContext } from './docs';
import { numberOption, UsageError, type Command, type Values } from '../command';

function statsLine(result: GenerateResult): string {
  const s = result.stats;
  return `[${s.generatedTokens} tokens, ${s.tokensPerSecond.toFixed(1)} tokens/s, first token after ${s.timeToFirstTokenMs.toFixed(0)} ms, prompt ${s.promptTokens} tokens, stopped: ${s.stopReason}]`;
}

function files(values: Values, name: string): string[] {
  const given = (values as Record<string, unknown>)[name];
  return Array.isArray(given) ? (given as string[]) : typeof given === 'string' ? [given] : [];
}

/** The files of --image and --audio (images first), read and checked as the chat and the API check them. */
async function readMedia(paths: string[]): Promise<CheckedMedia[]> {
  const fail = (file: string, error: unknown): never => {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `No such file: ${file}` : `${file} cannot be read: ${(error as Error).message}`);
  };
  // The sizes first: no file larger than a message may carry is read.
  checkMediaCount(
    paths.map((file) => {
      try {
        return statSync(file).size;
      } catch (error) {
        return fail(file, error);
      }
    }),
  );
  const checked: CheckedMedia[] = [];
  for (const file of paths) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      return fail(file, error);
    }
    checked.push(await checkMedia(bytes, path.basename(file)));
  }
  return checked;
}

/**
 * The library model `--model` names (its file, its id, or its API name), and the refusal of media it cannot take
 * (naming the library's models that can by their API names, which --model takes), before anything is loaded or sent.
 */
function refuseMedia(host: HostServices, modelArg: string, modelPath: string, media: CheckedMedia[]): void {
  const models = host.library.snapshot().models;
  const model: ModelEntry | undefined =
    models.find((m) => m.files[0] === modelPath) ?? (existsSync(modelPath) ? undefined : resolveApiModel(models, modelArg)?.model);
  const engines = host.settings.get().inference.engines ?? {};
  const ids = apiModelIds(models);
  for (const kind of new Set(media.map((m) => m.kind))) {
    const message = model
      ? mediaRefusalFor(model, [...ids].find(([, m]) => m.id === model.id)?.[0] ?? model.name, kind, ids, engines)
      : `${cannotTakeMessage(
          path.basename(modelPath),
          kind,
          [...ids].filter(([, other]) => modelTakes(other, engines, kind)).map(([id]) => id),
        )} (A model sees or hears with its projector: import both, freehold models import model.gguf mmproj.gguf.)`;
    if (message) throw new Error(message);
  }
}

export const chatCommand: Command = {
  summary: 'Load a GGUF model and stream its reply to a prompt',
  usage:
    'chat --model <path> [--collection NAME] [--image FILE]... [--audio FILE]... [--system TEXT] [--temperature X] [--top-p X] [--top-k N] [--min-p X] [--repeat-penalty X] [--max-tokens N] [--seed N] [--context-size N] [--gpu-layers N] "prompt"',
  options: {
    model: { type: 'string' },
    collection: { type: 'string' },
    image: { type: 'string', multiple: true },
    audio: { type: 'string', multiple: true },
    system: { type: 'string' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    'top-k': { type: 'string' },
    'min-p': { type: 'string' },
    'repeat-penalty': { type: 'string' },
    'max-tokens': { type: 'string' },
    seed: { type: 'string' },
    'context-size': { type: 'string' },
    'gpu-layers': { type: 'string' },
  },
  async run({ io, json, args, values, services, program }) {
    const modelArg = values.model;
    if (typeof modelArg !== 'string' || modelArg === '') throw new UsageError('chat needs --model <path to a .gguf file>.');
    const prompt = args.join(' ').trim();
    if (!prompt) throw new UsageError(`chat needs a prompt, e.g. ${program} chat --model model.gguf "Hello"`);
    const sampling: Sampling = {
      temperature: numberOption(values, 'temperature', false),
      topP: numberOption(values, 'top-p', false),
      topK: numberOption(values, 'top-k', true),
      minP: numberOption(values, 'min-p', false),
      repeatPenalty: numberOption(values, 'repeat-penalty', false),
      maxTokens: numberOption(values, 'max-tokens', true),
      seed: numberOption(values, 'seed', true),
    };
    const contextSize = numberOption(values, 'context-size', true);
    const gpuLayers = numberOption(values, 'gpu-layers', true);
    const media = await readMedia([...files(values, 'image'), ...files(values, 'audio')]);
    const host = await services();
    let modelPath = path.resolve(modelArg);
    if (media.length > 0) refuseMedia(host, modelArg, modelPath, media);
    // Not a file: a library model named by its id or API name (as /v1/models lists it).
    if (!existsSync(modelPath)) modelPath = resolveApiModel(host.library.snapshot().models, modelArg)?.model.files[0] ?? modelPath;

    let lastShown = -1;
    const offProgress = host.events.subscribeAll((event, payload) => {
      if (event !== 'onLoadProgress' || json) return;
      const percent = Math.floor((payload as LoadProgress).progress * 100);
      if (percent >= lastShown + 10 || percent === 100) {
        lastShown = percent;
        io.err(`loading ${path.basename(modelPath)}: ${percent}%`);
      }
    });
    const model = await host.handlers['inference.load']({ modelPath, contextSize, gpuLayers });
    offProgress();
    if (!json) {
      io.err(
        `${model.name}: ${model.gpuLayers}/${model.totalLayers} layers on the GPU, ${model.contextSize}-token context, ${model.chatWrapper} template`,
      );
      if (model.retried) io.err(`note: ${model.retried}`);
    }
    // The last guard: the model as loaded (its projector may have failed to load with it).
    for (const kind of new Set(media.map((m) => m.kind)))
      if (!(kind === 'image' ? model.vision : model.audio))
        throw new Error(
          `${model.name} was loaded without a projector that can ${kind === 'image' ? 'see images' : 'hear audio'}; nothing was sent.`,
        );
    const parts: MediaPart[] = media.map((m) => m.part);

    // --collection: the collection's passages for this prompt, chosen for the context as loaded.
    const documents =
      typeof values.collection === 'string'
        ? await collectionContext(
            host,
            values.collection,
            prompt,
            typeof values.system === 'string' ? values.system : undefined,
            model.contextSize,
          )
        : null;
    const requestId = `cli-${process.pid}-${Date.now()}`;
    let thinking = false;
    const offDelta = host.events.subscribeAll((event, payload) => {
      if (event !== 'onChatDelta' || json) return;
      const delta = payload as ChatDelta;
      if (delta.requestId !== requestId) return;
      for (const part of delta.parts) {
        if (part.kind === 'reasoning') {
          if (!thinking) io.err('[thinking]');
          thinking = true;
          io.err(part.text);
        } else {
          if (thinking) io.err('[/thinking]');
          thinking = false;
          (io.write ?? io.out)(part.text);
        }
      }
    });
    io.onInterrupt?.(() => void host.handlers['chat.abort']({ requestId }));
    try {
      const result = await host.handlers['chat.generate']({
        requestId,
        system: documents?.system ?? (typeof values.system === 'string' ? values.system : undefined),
        messages: [{ role: 'user', text: prompt, ...(parts.length ? { media: parts } : {}) }],
        sampling,
      });
      const sources = documents?.sources(result.text);
      if (json)
        io.out(
          JSON.stringify({ model, text: result.text, reasoning: result.reasoning, stats: result.stats, ...(sources ? { sources } : {}) }),
        );
      else {
        (io.write ?? io.out)('\n');
        if (sources) for (const line of citedLines(sources)) io.out(line);
        io.out(statsLine(result));
      }
    } finally {
      io.onInterrupt?.(undefined);
      offDelta();
    }
    return 0;
  },
};
