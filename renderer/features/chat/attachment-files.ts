/**
 * Files the user attaches to a message, read in the renderer (it has no file
 * access: a File from the picker, a drop or the clipboard) into base64 for
 * chats.send. Here only what the message itself could not carry is refused
 * (more files than one message takes, more bytes together); each file's type,
 * size and contents are checked by the main process when it is sent.
 */
import type { ModelEntry } from '../../../shared/library';
import { engineChoiceOf, type EngineName } from '../../../shared/inference';
import { audioMimeTypes, imageMimeTypes, MAX_MEDIA_BYTES_PER_MESSAGE, MAX_MEDIA_PER_MESSAGE } from '../../../shared/media';

export interface PendingAttachment {
  key: string;
  name: string;
  /** The type the browser gives it (from its name): for the preview only. */
  mime: string;
  size: number;
  /** The file in base64. */
  data: string;
}

/** What the file picker offers. */
export const ACCEPTED_TYPES = [...imageMimeTypes, ...audioMimeTypes].join(',');

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MiB`;
}

function base64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

let counter = 0;

export async function readAttachment(file: File): Promise<PendingAttachment> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  counter += 1;
  return { key: `${counter}-${file.name}`, name: file.name || 'pasted image', mime: file.type, size: bytes.length, data: base64(bytes) };
}

/** Why these files cannot join the message (too many, too large together), or null. */
export function addingProblem(current: readonly PendingAttachment[], adding: readonly File[]): string | null {
  const count = current.length + adding.length;
  if (count > MAX_MEDIA_PER_MESSAGE) return `${count} files in one message; the most is ${MAX_MEDIA_PER_MESSAGE}`;
  const total = current.reduce((sum, a) => sum + a.size, 0) + adding.reduce((sum, f) => sum + f.size, 0);
  if (total > MAX_MEDIA_BYTES_PER_MESSAGE)
    return `the files of this message come to ${mib(total)}; the most for one message is ${mib(MAX_MEDIA_BYTES_PER_MESSAGE)}`;
  return null;
}

/** A data: URL of the file, to show it. */
export function dataUrl(mime: string, data: string): string {
  return `data:${mime};base64,${data}`;
}

export function isImageType(mime: string): boolean {
  return (imageMimeTypes as readonly string[]).includes(mime);
}

export function isAudioType(mime: string): boolean {
  return (audioMimeTypes as readonly string[]).includes(mime) || mime === 'audio/x-wav' || mime === 'audio/mp3';
}

/** What a library model takes as its settings run it (a projector on llama.cpp's server), and the image tokens it costs. */
export function mediaOf(
  model: ModelEntry | undefined,
  engines: Record<string, EngineName> | undefined,
): { vision: boolean; audio: boolean; imageTokens: number | null } {
  if (!model?.projector || engineChoiceOf(engines?.[model.id], model).engine !== 'server')
    return { vision: false, audio: false, imageTokens: null };
  return { vision: model.projector.vision, audio: model.projector.audio, imageTokens: model.projector.imageTokens };
}

/** What the Attach button tells about the conversation's model. */
export function attachNote(
  modelId: string | null | undefined,
  models: readonly ModelEntry[],
  engines: Record<string, EngineName> | undefined,
): string {
  const model = models.find((m) => m.id === modelId);
  if (!modelId) return 'Images (PNG, JPEG, WebP, GIF) and audio (WAV, MP3), up to 8 files and 24 MiB a message.';
  const media = mediaOf(model, engines);
  const name = model?.name ?? modelId;
  if (media.vision && media.audio) return `${name} sees images and hears audio: attach PNG, JPEG, WebP, GIF, WAV or MP3.`;
  if (media.vision) return `${name} sees images: attach PNG, JPEG, WebP or GIF (up to 8, 24 MiB a message).`;
  if (media.audio) return `${name} hears audio: attach WAV or MP3.`;
  const seeing = models.filter((m) => mediaOf(m, engines).vision).map((m) => m.name);
  return `${name} takes text only: a message with an image is not sent${
    seeing.length ? `; models in your library that see: ${seeing.slice(0, 3).join(', ')}.` : '.'
  }`;
}
