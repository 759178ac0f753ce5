import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { checkMedia, checkMediaCount, MediaError, sniffMediaType } from '../../../electron/formats/media-check';
import { MAX_IMAGE_BYTES, MAX_MEDIA_PER_MESSAGE } from '../../../shared/media';
import { mp3Bytes, wavBytes } from '../../helpers/media-bytes';

const pixels = (format: 'png' | 'jpeg' | 'webp' | 'gif', width = 40, height = 30) => {
  const image = sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 90 } } });
  return image[format]().toBuffer();
};

async function refusal(bytes: Buffer, name = 'file') {
  const error = await checkMedia(bytes, name).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MediaError);
  return error as MediaError;
}

describe('checkMedia', () => {
  it('takes PNG and JPEG as they are, with their size in pixels', async () => {
    for (const format of ['png', 'jpeg'] as const) {
      const bytes = await pixels(format);
      const checked = await checkMedia(bytes, `photo.${format}`);
      expect(checked).toMatchObject({ kind: 'image', mime: `image/${format}`, width: 40, height: 30, bytes: bytes.length });
      expect(Buffer.from(checked.part.data, 'base64').equals(bytes)).toBe(true);
    }
  });

  it('converts WebP and GIF (its first frame) to PNG, which llama.cpp reads', async () => {
    for (const format of ['webp', 'gif'] as const) {
      const checked = await checkMedia(await pixels(format), `x.${format}`);
      expect(checked.mime).toBe(`image/${format}`);
      expect(checked.part.mime).toBe('image/png');
      const meta = await sharp(Buffer.from(checked.part.data, 'base64')).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 40, 30]);
    }
  });

  it('judges the type by the bytes, not the name', async () => {
    const png = await pixels('png');
    expect((await checkMedia(png, 'named.jpg')).mime).toBe('image/png');
    const text = await refusal(Buffer.from('just some notes, not a picture'), 'notes.png');
    expect(text.problem).toBe('unsupported_type');
    expect(text.message).toMatch(/notes\.png is not an image or audio file.*PNG, JPEG, WebP or GIF.*WAV or MP3/);
    expect(sniffMediaType(Buffer.from('%PDF-1.7'))).toBeNull();
  });

  it('refuses truncated and damaged images before any engine sees them', async () => {
    for (const format of ['png', 'jpeg', 'webp', 'gif'] as const) {
      const bytes = await pixels(format, 300, 200);
      const cut = await refusal(bytes.subarray(0, Math.floor(bytes.length * 0.6)), `cut.${format}`);
      expect(cut.problem, format).toBe('corrupt');
      expect(cut.message).toMatch(new RegExp(`cut\\.${format} is a damaged (PNG|JPEG|WebP|GIF) image`));
    }
    const png = await pixels('png', 300, 200);
    const scrambled = Buffer.from(png);
    for (let i = 60; i < scrambled.length - 20; i += 7) scrambled[i] = scrambled[i]! ^ 0x5a;
    expect((await refusal(scrambled, 'noise.png')).problem).toBe('corrupt');
  });

  it('refuses an image over the size limit, saying the limit', async () => {
    const big = Buffer.concat([await pixels('png'), Buffer.alloc(MAX_IMAGE_BYTES)]);
    const error = await refusal(big, 'huge.png');
    expect(error.problem).toBe('too_large');
    expect(error.message).toMatch(/huge\.png is 10\.0 MiB; the most Freehold sends is 10\.0 MiB per image/);
  });

  it('refuses a small file that would decode to too many pixels, and sends large photos at most 2,048 on a side', async () => {
    const bomb = await sharp({ create: { width: 8000, height: 7000, channels: 3, background: 'white' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(MAX_IMAGE_BYTES);
    const error = await refusal(bomb, 'flat.png');
    expect(error.problem).toBe('too_large');
    expect(error.message).toMatch(/flat\.png is 8000×7000 pixels; the most Freehold sends is 50 megapixels/);
    const photo = await pixels('jpeg', 3000, 1500);
    const checked = await checkMedia(photo, 'photo.jpg');
    expect(checked).toMatchObject({ width: 3000, height: 1500, mime: 'image/jpeg' });
    const sent = await sharp(Buffer.from(checked.part.data, 'base64')).metadata();
    expect([checked.part.mime, sent.format, sent.width, sent.height]).toEqual(['image/jpeg', 'jpeg', 2048, 1024]);
  });

  it('checks WAV and MP3 by their structure', async () => {
    expect(await checkMedia(wavBytes(), 'a.wav')).toMatchObject({ kind: 'audio', mime: 'audio/wav' });
    expect(await checkMedia(mp3Bytes(), 'a.mp3')).toMatchObject({ kind: 'audio', mime: 'audio/mpeg' });
    const id3 = Buffer.concat([Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 10]), Buffer.alloc(10), mp3Bytes()]);
    expect((await checkMedia(id3, 'tagged.mp3')).mime).toBe('audio/mpeg');
    const wav = wavBytes();
    expect((await refusal(wav.subarray(0, 30), 'short.wav')).message).toMatch(/short\.wav is a damaged WAV file/);
    const lying = Buffer.from(wav);
    lying.writeUInt32LE(10_000_000, 40);
    expect((await refusal(lying, 'lying.wav')).message).toMatch(/says it holds 10000000 bytes of sound/);
    const noFrames = Buffer.concat([id3.subarray(0, 20), Buffer.alloc(2000, 7)]);
    expect((await refusal(noFrames, 'empty.mp3')).message).toMatch(/empty\.mp3 is a damaged MP3 file/);
  });

  it('holds a message to its count and total size', () => {
    expect(() => checkMediaCount(Array(MAX_MEDIA_PER_MESSAGE).fill(1000))).not.toThrow();
    expect(() => checkMediaCount(Array(MAX_MEDIA_PER_MESSAGE + 1).fill(1000))).toThrow(/9 files in one message; the most is 8/);
    expect(() => checkMediaCount([9e6, 9e6, 9e6])).toThrow(/come to 25\.7 MiB; the most for one message is 24\.0 MiB/);
  });
});
