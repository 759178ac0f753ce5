/**
 * Images and audio that come in as parts (the CLI's chat, a library model's
 * reply, a paired machine's request) are checked before any engine sees them,
 * as the chat and the API check theirs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestGenerate } from '../../../electron/services/handlers/library';
import { createHostServices, type HostServices } from '../../../electron/services/host-services';
import { suiteTempDirs } from '../../helpers/temp';
import { pngImage } from '../../helpers/vision-model';

const tempDir = suiteTempDirs('freehold-media-handlers-');
let services: HostServices;

beforeAll(async () => {
  services = await createHostServices({ dataDir: tempDir(), host: 'cli', log: () => undefined, watchFolders: false });
});
afterAll(async () => {
  await services?.close();
});

const damaged = pngImage(16, 16, () => [1, 2, 3])
  .subarray(0, 60)
  .toString('base64');

describe('media given as parts', () => {
  it('chat.generate and models.generate refuse a damaged image before anything runs', async () => {
    const messages = [
      { role: 'user' as const, text: 'look', media: [{ kind: 'image' as const, mime: 'image/png' as const, data: damaged }] },
    ];
    await expect(services.handlers['chat.generate']({ requestId: 'r1', messages })).rejects.toThrow(
      /image 1 is a damaged PNG image and cannot be read/,
    );
    await expect(services.handlers['models.generate']({ modelId: 'none', requestId: 'r2', messages })).rejects.toMatchObject({
      code: 'invalid_input',
    });
    // Text passed off as an image.
    const text = [
      {
        role: 'user' as const,
        text: 'x',
        media: [{ kind: 'image' as const, mime: 'image/png' as const, data: Buffer.from('hello there').toString('base64') }],
      },
    ];
    await expect(services.handlers['chat.generate']({ requestId: 'r3', messages: text })).rejects.toThrow(/is not an image or audio file/);
  });

  it('a paired machine’s request carries no images or audio', async () => {
    const png = pngImage(16, 16, () => [1, 2, 3]).toString('base64');
    const generate = guestGenerate({ library: services.library, inference: services.inference });
    await expect(
      generate({
        modelId: 'any',
        requestId: 'g1',
        messages: [{ role: 'user', text: 'look', media: [{ kind: 'image', mime: 'image/png', data: png }] }],
      }),
    ).rejects.toThrow('Images and audio are not sent to other machines: their models get text only.');
  });
});
