/**
 * `freehold chat --image`: the built CLI reads and checks the files, refuses
 * a wrong type or a text-only model (exit 1, nothing loaded or sent), and
 * sends the images of a model with its projector to llama.cpp's server.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { suiteTempDirs } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';
import { TINY_VISION, TINY_VISION_IMAGE_TOKENS, pngImage, tinyVisionModel } from '../../helpers/vision-model';

const tempDir = suiteTempDirs('freehold-chat-image-');
let env: NodeJS.ProcessEnv;
let dir: string;

function cli(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/electron/cli.mjs', ...args], { env, encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  const [engines, vision] = await Promise.all([ensureTestEngines(), tinyVisionModel()]);
  dir = tempDir();
  env = { ...engines.env, FREEHOLD_DATA_DIR: path.join(dir, 'data') };
  mkdirSync(file('vision'));
  mkdirSync(file('text'));
  copyFileSync(vision.model, file('vision/tiny-vision.gguf'));
  copyFileSync(vision.mmproj, file('vision/mmproj-tiny-vision-F32.gguf'));
  copyFileSync(testModelPath(), file('text/stories260K.gguf'));
  const side = TINY_VISION.imageSize;
  writeFileSync(
    file('black.png'),
    pngImage(side, side, () => [0, 0, 0]),
  );
  writeFileSync(
    file('gradient.png'),
    pngImage(side, side, (x, y) => [x * 8, y * 8, 128]),
  );
  writeFileSync(file('notes.png'), 'not a picture at all, only words\n');
  expect((await cli('settings', 'set', 'threads=1')).status).toBe(0);
  const imported = await cli('models', 'import', file('vision/tiny-vision.gguf'), file('vision/mmproj-tiny-vision-F32.gguf'));
  expect(imported.status, imported.stderr).toBe(0);
  expect((await cli('models', 'import', file('text/stories260K.gguf'))).status).toBe(0);
}, 30 * 60_000);

const chat = (...args: string[]) =>
  cli('chat', '--max-tokens', '16', '--temperature', '0', '--seed', '1', ...args, 'Look at this picture:');

describe('freehold chat --image', () => {
  it('sends the image to a model with its projector: its tokens in the prompt, its pixels in the reply', async () => {
    const human = await chat('--model', file('vision/tiny-vision.gguf'), '--image', file('black.png'));
    expect(human.status, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/\[16 tokens, .* stopped: max-tokens\]\n$/);
    // Named as /v1/models names it, too.
    const json = async (...args: string[]) =>
      JSON.parse((await chat('--json', '--model', 'tiny-vision', ...args)).stdout) as { text: string; stats: { promptTokens: number } };
    const black = await json('--image', file('black.png'));
    const gradient = await json('--image', file('gradient.png'));
    const none = await json();
    expect(human.stdout.startsWith(black.text)).toBe(true);
    expect(gradient.text).not.toBe(black.text);
    expect(black.stats.promptTokens - none.stats.promptTokens).toBeGreaterThanOrEqual(TINY_VISION_IMAGE_TOKENS);
    expect(black.stats.promptTokens - none.stats.promptTokens).toBeLessThanOrEqual(TINY_VISION_IMAGE_TOKENS + 1);
  });

  it('refuses a file that is not an image or audio, and a text-only model, before loading anything', async () => {
    const wrong = await chat('--model', file('vision/tiny-vision.gguf'), '--image', file('notes.png'));
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^freehold chat: notes\.png is not an image or audio file Freehold can send to a model: use PNG, JPEG/m);
    expect(wrong.stderr).not.toMatch(/loading/);

    const textOnly = await chat('--model', file('text/stories260K.gguf'), '--image', file('black.png'));
    expect(textOnly.status).toBe(1);
    expect(textOnly.stderr).toMatch(
      /^freehold chat: stories260k cannot see images; nothing was sent\. Models in your library that can: tiny-vision\.$/m,
    );
    expect(textOnly.stderr).not.toMatch(/loading/);
    expect(textOnly.stdout).toBe('');

    const missing = await chat('--model', file('vision/tiny-vision.gguf'), '--image', file('nope.png'));
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/No such file: .*nope\.png/);
  });
});
