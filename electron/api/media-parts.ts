/**
 * Images and audio in OpenAI content parts: `image_url` (a data URL; the
 * server never fetches a remote URL on a client's behalf) and `input_audio`
 * (base64 WAV or MP3), in user messages, for a library model that sees or
 * hears (one with a projector, run by llama.cpp's server). Each file is
 * decoded and checked (electron/formats/media-check.ts: the type from the
 * bytes, the limits of shared/media.ts) before the request reaches the queue;
 * every refusal names the exact place in the request (`param`).
 */
import { engineChoiceOf, type EngineName } from '../../shared/inference';
import type { ModelEntry } from '../../shared/library';
import {
  base64Length,
  cannotTakeMessage,
  MAX_MEDIA_BYTES_PER_MESSAGE,
  MAX_MEDIA_PER_MESSAGE,
  type MediaKind,
  type MediaPart,
} from '../../shared/media';
import { checkMedia, checkMediaCount, MediaError } from '../formats/media-check';
import type { ChatCompletionRequest } from './openai-schemas';
import { ApiError } from './responses';

/** The largest chat request body: one message's media at the limit, in base64, with room for its text. */
export const CHAT_MEDIA_BODY_LIMIT = base64Length(MAX_MEDIA_BYTES_PER_MESSAGE) + 1024 * 1024;

/** The engine setting of each library model (settings.inference.engines). */
export type EngineSettings = Readonly<Record<string, EngineName>>;

/** The content part types that carry media, and what they carry. */
const mediaPartKinds: Record<string, MediaKind> = { image_url: 'image', input_audio: 'audio' };

export function isMediaPart(part: { type: string }): boolean {
  return Object.hasOwn(mediaPartKinds, part.type);
}

/** Whether a library model takes images (or audio): it has a projector that does, and runs on llama.cpp's server. */
export function modelTakes(model: ModelEntry, engines: EngineSettings, kind: MediaKind): boolean {
  const projector = model.projector;
  if (!projector || !(kind === 'image' ? projector.vision : projector.audio)) return false;
  return engineChoiceOf(engines[model.id], model).engine === 'server';
}

/** What a library model takes besides text, as /v1/models says it. */
export function capabilitiesOf(model: ModelEntry, engines: EngineSettings): { vision: boolean; audio: boolean } {
  return { vision: modelTakes(model, engines, 'image'), audio: modelTakes(model, engines, 'audio') };
}

/**
 * The refusal of `kind` for a model that cannot take it (null when it can),
 * naming the library's models that can, by the names `names` gives them; a
 * model with a projector pinned to node-llama-cpp is told how to change that.
 */
export function mediaRefusalFor(
  model: ModelEntry,
  name: string,
  kind: MediaKind,
  models: Iterable<[string, ModelEntry]>,
  engines: EngineSettings,
): string | null {
  if (modelTakes(model, engines, kind)) return null;
  const capable = [...models].filter(([, other]) => other.id !== model.id && modelTakes(other, engines, kind)).map(([id]) => id);
  const projector = model.projector;
  if (!projector || !(kind === 'image' ? projector.vision : projector.audio)) return cannotTakeMessage(name, kind, capable);
  // It has the projector, but is pinned to node-llama-cpp.
  const others = capable.length ? ` Other models in your library that can: ${capable.slice(0, 5).join(', ')}.` : '';
  return `${name} cannot ${kind === 'image' ? 'see images' : 'hear audio'} while it runs on node-llama-cpp (chosen in its options), which takes text only; nothing was sent. Set its engine to Auto or llama.cpp’s server: Models → Options → Engine, or freehold models set ${model.id} engine=auto.${others}`;
}

const refusal = (status: number, message: string, code: string, param: string) =>
  new ApiError(status, message, 'invalid_request_error', code, param);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The bytes of base64 text, or null where it is not base64. */
function fromBase64(text: string): Buffer | null {
  if (text.length === 0 || text.length % 4 === 1 || !BASE64.test(text)) return null;
  return Buffer.from(text, 'base64');
}

/** The bytes of a `data:…;base64,…` URL; anything else is refused, a remote URL with the reason. */
function dataUrlBytes(url: string, param: string): Buffer {
  if (/^https?:\/\//i.test(url.trimStart()))
    throw refusal(
      400,
      `${param} is a remote URL: Freehold's API does not fetch URLs on a client's behalf (the request would reach whatever the URL names, from this machine). Send the file itself as a data URL: data:image/png;base64,…`,
      'remote_url_not_supported',
      param,
    );
  const comma = url.indexOf(',');
  const header = comma > 0 && comma <= 256 ? url.slice(0, comma) : '';
  if (!/^data:/i.test(url) || !header)
    throw refusal(400, `${param} must be a data URL (data:image/png;base64,…).`, 'invalid_data_url', param);
  if (
    !header
      .split(';')
      .slice(1)
      .some((attribute) => attribute.trim().toLowerCase() === 'base64')
  )
    throw refusal(400, `${param} must be a base64 data URL (data:image/png;base64,…).`, 'invalid_data_url', param);
  const bytes = fromBase64(url.slice(comma + 1));
  if (!bytes) throw refusal(400, `${param}: the data after "base64," is not valid base64.`, 'invalid_base64', param);
  return bytes;
}

/** The file a media part carries, or a refusal naming where it is wrong. */
function partBytes(part: Record<string, unknown>, where: string): Buffer {
  if (part.type === 'image_url') {
    const url = (part.image_url as { url?: unknown } | undefined)?.url;
    if (typeof url !== 'string')
      throw refusal(400, `${where}.image_url.url must be a data URL (data:image/png;base64,…).`, 'invalid_value', `${where}.image_url.url`);
    return dataUrlBytes(url, `${where}.image_url.url`);
  }
  const audio = part.input_audio as { data?: unknown; format?: unknown } | undefined;
  if (audio?.format !== 'wav' && audio?.format !== 'mp3')
    throw refusal(400, `${where}.input_audio.format must be "wav" or "mp3".`, 'invalid_value', `${where}.input_audio.format`);
  if (typeof audio.data !== 'string')
    throw refusal(400, `${where}.input_audio.data must be the audio as base64.`, 'invalid_value', `${where}.input_audio.data`);
  if (/^data:/i.test(audio.data)) return dataUrlBytes(audio.data, `${where}.input_audio.data`);
  const bytes = fromBase64(audio.data);
  if (!bytes) throw refusal(400, `${where}.input_audio.data is not valid base64.`, 'invalid_base64', `${where}.input_audio.data`);
  return bytes;
}

function mediaError(error: unknown, param: string): unknown {
  if (!(error instanceof MediaError)) return error;
  const status = error.problem === 'too_large' ? 413 : 400;
  return refusal(
    status,
    `${error.message}.`,
    error.problem === 'unsupported_type' ? 'unsupported_media_type' : `media_${error.problem}`,
    param,
  );
}

export interface MediaTarget {
  /** The model as the request names it. */
  id: string;
  model: ModelEntry;
  /** All library models by their API ids (to name those that can, in a refusal). */
  models: Iterable<[string, ModelEntry]>;
  engines: EngineSettings;
}

/**
 * The media of each user message (by its index in `messages`), checked, in
 * the order of their parts; messages without media are left out. Refuses
 * media outside user messages and for a model that cannot take it, remote
 * and malformed URLs, unsupported, damaged and oversized files, and too many.
 */
export async function requestMedia(body: ChatCompletionRequest, target: MediaTarget): Promise<Map<number, MediaPart[]>> {
  const media = new Map<number, MediaPart[]>();
  for (const [index, message] of body.messages.entries()) {
    if (!Array.isArray(message.content)) continue;
    const files: Array<{ bytes: Buffer; where: string }> = [];
    for (const [at, part] of message.content.entries()) {
      if (!isMediaPart(part)) continue;
      const declared = mediaPartKinds[part.type]!;
      const where = `messages[${index}].content[${at}]`;
      if (message.role !== 'user')
        throw refusal(
          400,
          `${where}: images and audio are taken in user messages only, not in ${message.role} messages.`,
          'invalid_value',
          where,
        );
      const cannot = mediaRefusalFor(target.model, target.id, declared, target.models, target.engines);
      if (cannot) throw refusal(400, cannot, 'unsupported_content', where);
      files.push({ bytes: partBytes(part as Record<string, unknown>, where), where });
    }
    if (files.length === 0) continue;
    try {
      checkMediaCount(files.map((file) => file.bytes.length));
    } catch (error) {
      const many = error instanceof MediaError && error.problem === 'too_many';
      // Too many: the first part over the limit; too large together: the message's content.
      throw mediaError(error, many ? files[MAX_MEDIA_PER_MESSAGE]!.where : `messages[${index}].content`);
    }
    const parts: MediaPart[] = [];
    for (const file of files) {
      const checked = await checkMedia(file.bytes, file.where).catch((error: unknown) => {
        throw mediaError(error, file.where);
      });
      // The bytes say what it is: audio sent as an image_url is audio.
      const cannot = mediaRefusalFor(target.model, target.id, checked.kind, target.models, target.engines);
      if (cannot) throw refusal(400, cannot, 'unsupported_content', file.where);
      parts.push(checked.part);
    }
    media.set(index, parts);
  }
  return media;
}

/** Whether any message carries a media part (such a request may be larger than the API's usual body limit). */
export function hasMediaParts(body: unknown): boolean {
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) return false;
  return messages.some(
    (message) =>
      Array.isArray((message as { content?: unknown } | null)?.content) &&
      ((message as { content: unknown[] }).content as Array<{ type?: unknown } | null>).some(
        (part) => typeof part?.type === 'string' && isMediaPart(part as { type: string }),
      ),
  );
}
