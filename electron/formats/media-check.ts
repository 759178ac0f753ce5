/**
 * Images and audio checked before they reach a model: the type from the bytes
 * (never the name or a declared type alone), the size limits of shared/media.ts,
 * and the whole image decoded (sharp: libvips) so that a corrupt or truncated
 * file is refused here with a clear message rather than failing inside the
 * engine. llama.cpp's image reader (stb_image) takes PNG and JPEG; WebP and GIF
 * (its first frame) are converted to PNG on the way. Audio (WAV, MP3) is
 * checked by its structure: the WAV chunks, two MP3 frames in a row.
 */
import sharp from 'sharp';
import {
  MAX_AUDIO_BYTES,
  MAX_IMAGE_BYTES,
  MAX_IMAGE_PIXELS,
  MAX_IMAGE_SIDE,
  MAX_MEDIA_BYTES_PER_MESSAGE,
  MAX_MEDIA_PER_MESSAGE,
  SENT_IMAGE_SIDE,
  mediaKindOf,
  mediaTypeLabels,
  unsupportedTypeMessage,
  type MediaKind,
  type MediaMimeType,
  type MediaPart,
} from '../../shared/media';

export type MediaProblem = 'unsupported_type' | 'too_large' | 'too_many' | 'corrupt';

export class MediaError extends Error {
  constructor(
    message: string,
    readonly problem: MediaProblem,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}

export interface CheckedMedia {
  /** What goes to the engine: PNG or JPEG for images (WebP and GIF converted), the audio as given. */
  part: MediaPart;
  kind: MediaKind;
  /** The type the file was. */
  mime: MediaMimeType;
  /** The file's own size. */
  bytes: number;
  width?: number;
  height?: number;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MiB`;
}

/** The type a file's first bytes say it is, or null for anything we do not take. */
export function sniffMediaType(bytes: Uint8Array): MediaMimeType | null {
  const ascii = (start: number, length: number) => Buffer.from(bytes.subarray(start, start + length)).toString('latin1');
  if (bytes.length >= 8 && ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') return 'image/webp';
  if (bytes.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'image/gif';
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WAVE') return 'audio/wav';
  if (bytes.length >= 3 && ascii(0, 3) === 'ID3') return 'audio/mpeg';
  if (bytes.length >= 2 && bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0 && mp3FrameLength(bytes, 0) !== null) return 'audio/mpeg';
  return null;
}

/** Decodes run at most two at a time: each holds its image's lines in memory and a core busy. */
let decoding = 0;
const waiting: Array<() => void> = [];
async function oneOfTwo<T>(task: () => Promise<T>): Promise<T> {
  if (decoding >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
  decoding += 1;
  try {
    return await task();
  } finally {
    decoding -= 1;
    waiting.shift()?.();
  }
}

async function checkImage(bytes: Buffer, mime: MediaMimeType, name: string): Promise<CheckedMedia> {
  const label = mediaTypeLabels[mime];
  try {
    const open = () => sharp(bytes, { failOn: 'truncated', limitInputPixels: MAX_IMAGE_PIXELS, pages: 1, sequentialRead: true });
    // The header only (no pixels yet): the size is checked here, with a message, before any decode.
    const meta = await sharp(bytes, { limitInputPixels: false, pages: 1 }).metadata();
    if (!meta.width || !meta.height) throw new Error('no size');
    if (meta.width > MAX_IMAGE_SIDE || meta.height > MAX_IMAGE_SIDE || meta.width * meta.height > MAX_IMAGE_PIXELS) {
      throw new MediaError(
        `${name} is ${meta.width}×${meta.height} pixels; the most Freehold sends is ${MAX_IMAGE_PIXELS / 1_000_000} megapixels, ${MAX_IMAGE_SIDE} on a side`,
        'too_large',
      );
    }
    // Every pixel is decoded (a truncated or damaged file fails here, not in the engine), streamed through a
    // resize so that memory stays small. What the engine gets: PNG or JPEG (llama.cpp reads those), at most
    // SENT_IMAGE_SIDE on a side; a PNG or JPEG already within it is sent as it is.
    const large = Math.max(meta.width, meta.height) > SENT_IMAGE_SIDE;
    const keep = (mime === 'image/png' || mime === 'image/jpeg') && !large;
    const sent = await oneOfTwo(async () => {
      const pipeline = open().resize({ width: SENT_IMAGE_SIDE, height: SENT_IMAGE_SIDE, fit: 'inside', withoutEnlargement: true });
      if (keep) {
        await pipeline.resize({ width: 64, height: 64, fit: 'inside' }).raw().toBuffer();
        return null;
      }
      return mime === 'image/jpeg' ? pipeline.jpeg({ quality: 92 }).toBuffer() : pipeline.png().toBuffer();
    });
    return {
      part: {
        kind: 'image',
        mime: sent ? (mime === 'image/jpeg' ? 'image/jpeg' : 'image/png') : mime,
        data: (sent ?? bytes).toString('base64'),
      },
      kind: 'image',
      mime,
      bytes: bytes.length,
      width: meta.width,
      height: meta.height,
    };
  } catch (error) {
    if (error instanceof MediaError) throw error;
    const reason = (error as Error).message
      .split('\n')[0]!
      .replace(/^Input buffer (has corrupt header|contains unsupported image format):?\s*/i, '');
    throw new MediaError(`${name} is a damaged ${label} image and cannot be read (${reason || 'it does not decode'})`, 'corrupt');
  }
}

function checkWav(bytes: Buffer, name: string): void {
  const corrupt = (why: string) => new MediaError(`${name} is a damaged WAV file (${why})`, 'corrupt');
  let offset = 12;
  let format: { channels: number; rate: number; bits: number } | null = null;
  while (offset + 8 <= bytes.length) {
    const id = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + size > bytes.length) throw corrupt('its format chunk is cut short');
      const codec = bytes.readUInt16LE(body);
      format = { channels: bytes.readUInt16LE(body + 2), rate: bytes.readUInt32LE(body + 4), bits: bytes.readUInt16LE(body + 14) };
      if (![1, 3, 0xfffe].includes(codec))
        throw new MediaError(`${name} is a WAV file in a compressed format; use plain PCM WAV or MP3`, 'unsupported_type');
      if (
        format.channels < 1 ||
        format.channels > 8 ||
        format.rate < 1000 ||
        format.rate > 384_000 ||
        ![8, 16, 24, 32].includes(format.bits)
      ) {
        throw corrupt(`${format.channels} channels at ${format.rate} Hz, ${format.bits}-bit`);
      }
    } else if (id === 'data') {
      if (!format) throw corrupt('its samples come before their format');
      if (size === 0) throw corrupt('it holds no sound');
      if (body + size > bytes.length + 1) throw corrupt(`it says it holds ${size} bytes of sound, but only ${bytes.length - body} follow`);
      return;
    }
    offset = body + size + (size % 2);
  }
  throw corrupt(format ? 'it has no sound data' : 'it has no format chunk');
}

const MP3_BITRATES = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MP3_RATES = [44100, 48000, 32000];

/** The length of the MPEG-1/2 Layer III frame at `offset`, or null where none starts there. */
function mp3FrameLength(bytes: Uint8Array, offset: number): number | null {
  if (offset + 4 > bytes.length || bytes[offset] !== 0xff || (bytes[offset + 1]! & 0xe0) !== 0xe0) return null;
  const version = (bytes[offset + 1]! >> 3) & 3; // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
  const layer = (bytes[offset + 1]! >> 1) & 3; // 1: Layer III
  const bitrateIndex = bytes[offset + 2]! >> 4;
  const rateIndex = (bytes[offset + 2]! >> 2) & 3;
  const padding = (bytes[offset + 2]! >> 1) & 1;
  if (version === 1 || layer !== 1 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return null;
  const mpeg1 = version === 3;
  const bitrate =
    (mpeg1 ? MP3_BITRATES[bitrateIndex]! : [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160][bitrateIndex]!) * 1000;
  const rate = MP3_RATES[rateIndex]! / (mpeg1 ? 1 : version === 2 ? 2 : 4);
  return Math.floor(((mpeg1 ? 144 : 72) * bitrate) / rate) + padding;
}

function checkMp3(bytes: Buffer, name: string): void {
  let offset = 0;
  if (bytes.toString('latin1', 0, 3) === 'ID3') {
    if (bytes.length < 10) throw new MediaError(`${name} is a damaged MP3 file (its tag is cut short)`, 'corrupt');
    offset = 10 + (((bytes[6]! & 0x7f) << 21) | ((bytes[7]! & 0x7f) << 14) | ((bytes[8]! & 0x7f) << 7) | (bytes[9]! & 0x7f));
  }
  // The first frame may follow some padding; two frames in a row prove it is MP3 audio.
  const end = Math.min(bytes.length, offset + 64 * 1024);
  for (; offset < end; offset++) {
    const length = mp3FrameLength(bytes, offset);
    if (length && length > 4 && (offset + length === bytes.length || mp3FrameLength(bytes, offset + length) !== null)) return;
  }
  throw new MediaError(`${name} is a damaged MP3 file (no MPEG audio frames found)`, 'corrupt');
}

/**
 * Checks one file as a user or a client sent it. `name` names it in messages
 * ("photo.jpg", "image 2"). Throws MediaError with the reason.
 */
export async function checkMedia(bytes: Buffer, name: string): Promise<CheckedMedia> {
  const mime = sniffMediaType(bytes);
  if (!mime) throw new MediaError(unsupportedTypeMessage(name), 'unsupported_type');
  const kind = mediaKindOf(mime);
  const limit = kind === 'image' ? MAX_IMAGE_BYTES : MAX_AUDIO_BYTES;
  if (bytes.length > limit) {
    throw new MediaError(
      `${name} is ${mib(bytes.length)}; the most Freehold sends is ${mib(limit)} per ${kind === 'image' ? 'image' : 'audio clip'}`,
      'too_large',
    );
  }
  if (kind === 'image') return checkImage(bytes, mime, name);
  if (mime === 'audio/wav') checkWav(bytes, name);
  else checkMp3(bytes, name);
  return { part: { kind: 'audio', mime, data: bytes.toString('base64') }, kind, mime, bytes: bytes.length };
}

/** The limits of one message: how many files, and their size together. Call before checking each. */
export function checkMediaCount(sizes: number[]): void {
  if (sizes.length > MAX_MEDIA_PER_MESSAGE) {
    throw new MediaError(`${sizes.length} files in one message; the most is ${MAX_MEDIA_PER_MESSAGE}`, 'too_many');
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total > MAX_MEDIA_BYTES_PER_MESSAGE) {
    throw new MediaError(
      `the files of this message come to ${mib(total)}; the most for one message is ${mib(MAX_MEDIA_BYTES_PER_MESSAGE)}`,
      'too_large',
    );
  }
}

/**
 * The media of messages that came in already as parts (the CLI's chat, a
 * library model's reply): each decoded and checked again as a sent file is,
 * and replaced by what the check gives the engine. Throws MediaError.
 */
export async function checkMessageMedia<M extends { role: string; media?: MediaPart[] }>(messages: M[]): Promise<M[]> {
  const out: M[] = [];
  for (const message of messages) {
    if (!message.media?.length) {
      out.push(message);
      continue;
    }
    checkMediaCount(message.media.map((part) => Math.floor((part.data.length * 3) / 4)));
    const parts: MediaPart[] = [];
    for (const [i, part] of message.media.entries()) {
      const checked = await checkMedia(Buffer.from(part.data, 'base64'), `${part.kind} ${i + 1}`);
      if (checked.kind !== part.kind) throw new MediaError(`${part.kind} ${i + 1} is not an ${part.kind} file`, 'unsupported_type');
      parts.push(checked.part);
    }
    out.push({ ...message, media: parts });
  }
  return out;
}
