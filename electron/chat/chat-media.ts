/**
 * What a conversation's model takes besides text, and the images and audio of
 * a thread fitted to it. A library model sees (or hears) when it has a
 * projector and runs on llama.cpp's server (Auto, or pinned there; pinned to
 * node-llama-cpp it runs text only); when it is loaded, the loaded model says.
 * A message given media its model cannot take is refused before anything is
 * stored, naming the library's models that can; earlier messages' media are
 * left out for such a model, with a line that says so in their place.
 */
import { cannotTakeMessage, mediaKindOf, type MediaAbilities, type MediaKind, type MediaPart } from '../../shared/media';
import { engineChoiceOf, type ChatMessage, type EngineName, type LoadedModel } from '../../shared/inference';
import type { ModelEntry } from '../../shared/library';
import { parseModelRef } from '../../shared/machines';
import { refusal } from './attachments';

export const TEXT_ONLY: MediaAbilities = { vision: false, audio: false };

/** A library model's engine setting (Models → Options → Engine), where one is set. */
export type EngineSettingOf = (modelId: string) => EngineName | undefined;

/** What a library model takes when it runs as set: its projector's abilities on llama.cpp's server, else text only. */
export function libraryAbilities(model: ModelEntry, engineOf: EngineSettingOf): MediaAbilities {
  if (!model.projector) return TEXT_ONLY;
  if (engineChoiceOf(engineOf(model.id), model).engine !== 'server') return TEXT_ONLY;
  return { vision: model.projector.vision, audio: model.projector.audio };
}

/** What the loaded model takes now (a projector loaded with it, on llama.cpp's server). */
export function loadedAbilities(loaded: LoadedModel): MediaAbilities {
  return loaded.engine === 'server' ? { vision: !!loaded.vision, audio: !!loaded.audio } : TEXT_ONLY;
}

const takes = (abilities: MediaAbilities, kind: MediaKind) => (kind === 'image' ? abilities.vision : abilities.audio);

export interface ConversationModel {
  /** How messages name it. */
  name: string;
  abilities: MediaAbilities;
}

/**
 * The conversation's model and what it takes: another machine's model takes
 * text only (images and audio are not carried to other machines); a library
 * model as loaded now, or else as its settings will run it.
 */
export function conversationModel(
  modelId: string,
  models: readonly ModelEntry[],
  engineOf: EngineSettingOf,
  loaded: LoadedModel | null | undefined,
): ConversationModel {
  const remote = parseModelRef(modelId);
  if (remote) return { name: `${modelId} (on another machine: images and audio go only to models on this one)`, abilities: TEXT_ONLY };
  const model = models.find((m) => m.id === modelId);
  if (!model) return { name: 'This conversation’s model', abilities: TEXT_ONLY };
  if (loaded && loaded.path === model.files[0] && loaded.engine === 'server' && model.projector) {
    return { name: model.name, abilities: loadedAbilities(loaded) };
  }
  return { name: model.name, abilities: libraryAbilities(model, engineOf) };
}

/** The library's models that take `kind` as they are set to run. */
export function capableModels(models: readonly ModelEntry[], engineOf: EngineSettingOf, kind: MediaKind): string[] {
  return models.filter((m) => takes(libraryAbilities(m, engineOf), kind)).map((m) => m.name);
}

/** Refuses (naming the models that can) when the model cannot take one of these kinds. */
export function refuseUnlessTaken(model: ConversationModel, kinds: Iterable<MediaKind>, capable: (kind: MediaKind) => string[]): void {
  for (const kind of kinds) {
    if (!takes(model.abilities, kind)) throw refusal(cannotTakeMessage(model.name, kind, capable(kind)), 'model');
  }
}

/** The kinds of a set of attachments or parts. */
export function kindsOf(items: ReadonlyArray<{ kind: MediaKind } | { mime: string }>): Set<MediaKind> {
  return new Set(items.map((item) => ('kind' in item ? item.kind : mediaKindOf(item.mime as Parameters<typeof mediaKindOf>[0]))));
}

/** In place of media a model cannot take, in an earlier message of the thread. */
function leftOut(parts: MediaPart[]): string {
  const images = parts.filter((p) => p.kind === 'image').length;
  const clips = parts.length - images;
  const what = [images ? `${images} image${images > 1 ? 's' : ''}` : '', clips ? `${clips} audio clip${clips > 1 ? 's' : ''}` : '']
    .filter(Boolean)
    .join(' and ');
  return `[${what} attached here, not shown to this model]`;
}

/**
 * The thread's media as `abilities` allows: parts of earlier messages that the
 * model cannot take are replaced by a line saying so; the last user message's
 * (the one being answered) are refused with `refuse`.
 */
export function fitMedia(messages: ChatMessage[], abilities: MediaAbilities, refuse: (kind: MediaKind) => never): ChatMessage[] {
  let last = -1;
  messages.forEach((m, i) => {
    if (m.role === 'user') last = i;
  });
  const fitted = messages.map((m, i): ChatMessage => {
    if (m.role !== 'user' || !m.media?.length) return m;
    const kept = m.media.filter((part) => takes(abilities, part.kind));
    if (kept.length === m.media.length) return m;
    if (i === last) refuse(m.media.find((part) => !takes(abilities, part.kind))!.kind);
    const dropped = m.media.filter((part) => !takes(abilities, part.kind));
    const text = m.text ? `${m.text}\n\n${leftOut(dropped)}` : leftOut(dropped);
    return kept.length ? { role: 'user', text, media: kept } : { role: 'user', text };
  });
  return withinBudget(fitted, last);
}

/**
 * The most base64 of images and audio one request to the engine carries (llama.cpp's server takes
 * bodies of up to 100 MB): the newest messages' files first; older ones beyond it are left out with a
 * line that says so. The message being answered always keeps its own (at most one message's limit).
 */
export const THREAD_MEDIA_BUDGET = 48 * 1024 * 1024;

function withinBudget(messages: ChatMessage[], last: number, budget = THREAD_MEDIA_BUDGET): ChatMessage[] {
  let used = 0;
  const out = [...messages];
  for (let i = out.length - 1; i >= 0; i -= 1) {
    const m = out[i]!;
    if (m.role !== 'user' || !m.media?.length) continue;
    const size = m.media.reduce((sum, part) => sum + part.data.length, 0);
    if (i === last || used + size <= budget) {
      used += size;
      continue;
    }
    const note = leftOut(m.media).replace('not shown to this model', 'left out: the conversation’s files exceed what one request carries');
    out[i] = { role: 'user', text: m.text ? `${m.text}\n\n${note}` : note };
  }
  return out;
}
