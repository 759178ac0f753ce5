/**
 * Images and audio in a conversation: what a message may carry to a model that
 * sees (or hears), and the limits every edge (chat, API, CLI) applies alike.
 * The bytes are checked in the main process (electron/formats/media-check.ts)
 * before they reach an engine; these are the facts both sides share.
 */
import { z } from 'zod';

export const imageMimeTypes = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'] as const;
export const audioMimeTypes = ['audio/wav', 'audio/mpeg'] as const;
export type ImageMimeType = (typeof imageMimeTypes)[number];
export type AudioMimeType = (typeof audioMimeTypes)[number];
export type MediaMimeType = ImageMimeType | AudioMimeType;
export type MediaKind = 'image' | 'audio';

/** The most one image may weigh (its file, before base64). */
export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
/** The most one audio clip may weigh. */
export const MAX_AUDIO_BYTES = 20 * 1024 * 1024;
/** Images and clips one message may carry. */
export const MAX_MEDIA_PER_MESSAGE = 8;
/** All the media of one message together. */
export const MAX_MEDIA_BYTES_PER_MESSAGE = 24 * 1024 * 1024;
/** The widest or tallest image accepted (the model's encoder scales it down anyway). */
export const MAX_IMAGE_SIDE = 16_384;
/** The most pixels an image may have (a 48-megapixel photo): a small file cannot make the host decode gigabytes. */
export const MAX_IMAGE_PIXELS = 50_000_000;
/** Images are sent to a model at most this wide or tall (vision encoders work at about 1,000 pixels). */
export const SENT_IMAGE_SIDE = 2048;

/** Base64 of `bytes` bytes, the length a data URL or an IPC message carries. */
export function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/** How the UI and the API name each type in messages ("PNG", "MP3"). */
export const mediaTypeLabels: Record<MediaMimeType, string> = {
  'image/png': 'PNG',
  'image/jpeg': 'JPEG',
  'image/webp': 'WebP',
  'image/gif': 'GIF',
  'audio/wav': 'WAV',
  'audio/mpeg': 'MP3',
};

export function mediaKindOf(mime: MediaMimeType): MediaKind {
  return mime.startsWith('image/') ? 'image' : 'audio';
}

/** The message for a type we do not take, naming those we do. */
export function unsupportedTypeMessage(what: string): string {
  return `${what} is not an image or audio file Freehold can send to a model: use PNG, JPEG, WebP or GIF (its first frame) for images, WAV or MP3 for audio`;
}

/** One image or audio clip on its way to an engine: the bytes as checked, base64. */
export const mediaPartSchema = z
  .object({
    kind: z.enum(['image', 'audio']),
    mime: z.enum([...imageMimeTypes, ...audioMimeTypes]),
    data: z
      .string()
      .min(4)
      .max(base64Length(MAX_AUDIO_BYTES))
      .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'base64'),
  })
  .strict();
export type MediaPart = z.infer<typeof mediaPartSchema>;

/** What a loaded model (or a library model) takes besides text. */
export interface MediaAbilities {
  vision: boolean;
  audio: boolean;
}

/**
 * The refusal for media sent to a model that cannot take it: it says so and
 * names the library's models that can (or how to get one).
 */
export function cannotTakeMessage(model: string, kind: MediaKind, capable: string[]): string {
  const verb = kind === 'image' ? 'see images' : 'hear audio';
  const named = capable.slice(0, 5).join(', ') + (capable.length > 5 ? ` and ${capable.length - 5} more` : '');
  return capable.length > 0
    ? `${model} cannot ${verb}; nothing was sent. Models in your library that can: ${named}.`
    : `${model} cannot ${verb}; nothing was sent. No model in your library can: download one that ${kind === 'image' ? 'sees (“Sees images” in Discover)' : 'hears'}, with its projector.`;
}
