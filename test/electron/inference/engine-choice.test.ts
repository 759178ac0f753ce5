/**
 * Two local engines behind the one the inference service owns: a model pinned
 * to llama.cpp's server (settings.inference.engines) loads there, answers the
 * API and chats, and says which engine runs it and why; unpinned, it goes
 * back to node-llama-cpp; a server killed mid-reply fails that reply with
 * llama.cpp's reason and the next request loads it again.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiHostWithModel, type ApiHost } from '../../helpers/inference-host';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { until } from '../../helpers/until';
import { tinyVisionModel } from '../../helpers/vision-model';

let host: ApiHost;
let client: OpenAI;
let modelId: string;

beforeAll(async () => {
  const { env } = await ensureTestEngines();
  host = await apiHostWithModel('engine-choice', { hostEnv: env, watchFolders: false });
  client = new OpenAI({ baseURL: host.baseUrl, apiKey: host.key, maxRetries: 0 });
  modelId = host.services.library.snapshot().models[0]!.id;
}, 30 * 60_000);

afterAll(async () => {
  await host?.close();
});

const ask = (max = 16) =>
  client.chat.completions.create({
    model: 'stories260k',
    messages: [{ role: 'user', content: 'Once upon a time' }],
    max_tokens: max,
    temperature: 0,
  });

describe('the engine a model runs on', () => {
  it('auto: a text-only model runs on node-llama-cpp, and says so', async () => {
    const answer = await ask();
    expect(answer.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(host.services.inference.status().model).toMatchObject({
      engine: 'worker',
      engineReason: 'Auto: a text-only model runs on node-llama-cpp',
    });
  });

  it('pinned to llama.cpp’s server: it loads there, answers with streaming and stats, and says so', async () => {
    // The loaded model moves to the engine its setting names.
    await host.services.handlers['settings.update']({ inference: { engines: { [modelId]: 'server' } } });
    await until('the model on the server', () => host.services.inference.status().model?.engine === 'server');
    const answer = await ask(24);
    expect(answer.usage!.completion_tokens).toBe(24);
    expect(host.services.inference.status().model).toMatchObject({
      engine: 'server',
      engineReason: 'Chosen for this model in its options: llama.cpp’s server',
      chatWrapper: 'llama-server (jinja)',
    });
    // Streamed through the API as any reply.
    const stream = await client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Once upon a time' }],
      max_tokens: 24,
      temperature: 0,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe(answer.choices[0]!.message.content);
    // Plain completions too.
    const completion = await client.completions.create({ model: 'stories260k', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    expect(completion.usage!.completion_tokens).toBe(8);
  });

  it('runs replies at once in the server’s slots (the parallel setting), each the same as alone', async () => {
    expect(host.services.inference.status().model).toMatchObject({ engine: 'server', parallel: 4 });
    const prompts = ['Once upon a time', 'The cat', 'A little girl', 'One day'];
    const alone: string[] = [];
    for (const content of prompts)
      alone.push(
        (
          await client.chat.completions.create({
            model: 'stories260k',
            messages: [{ role: 'user', content }],
            max_tokens: 32,
            temperature: 0,
          })
        ).choices[0]!.message.content!,
      );
    const together = await Promise.all(
      prompts.map((content) =>
        client.chat.completions.create({ model: 'stories260k', messages: [{ role: 'user', content }], max_tokens: 32, temperature: 0 }),
      ),
    );
    expect(together.map((answer) => answer.choices[0]!.message.content)).toEqual(alone);
  });

  it('a server killed mid-reply fails that reply with llama.cpp’s reason; the next request loads it again', async () => {
    const pid = await findServerPid();
    // Its key is in its environment, not on a command line any local user can read (ps).
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).not.toContain('--api-key');
    const stream = await client.chat.completions.create({
      model: 'stories260k',
      messages: [{ role: 'user', content: 'Once upon a time' }],
      max_tokens: 400,
      temperature: 0,
      stream: true,
    });
    let chunks = 0;
    let failure = '';
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content) chunks += 1;
        if (chunks === 2) process.kill(pid, 'SIGKILL');
      }
    } catch (error) {
      failure = (error as Error).message;
    }
    expect(failure).toMatch(/llama\.cpp's server stopped mid-reply, so the reply was cut short: llama-server stopped \(SIGKILL\)/);
    expect((await ask(8)).usage!.completion_tokens).toBe(8);
    expect(host.services.inference.status().model?.engine).toBe('server');
  });

  it('unpinned again, it goes back to node-llama-cpp', async () => {
    await host.services.handlers['settings.update']({ inference: { engines: {} } });
    await until('the model back on the worker', () => host.services.inference.status().model?.engine === 'worker');
    await ask(8);
    expect(host.services.inference.status().model?.engine).toBe('worker');
    // Unloaded, nothing runs on either.
    await host.services.handlers['inference.unload'](undefined);
    expect(host.services.inference.status().model).toBeNull();
  });

  it('auto: a model with its projector attached runs on llama.cpp’s server, which sees images, and says why', async () => {
    const { copyFileSync } = await import('node:fs');
    const path = await import('node:path');
    const { model, mmproj } = await tinyVisionModel();
    const file = path.join(host.dir, 'tiny-vision.gguf');
    copyFileSync(model, file);
    const results = await host.services.handlers['models.import']({ paths: [file, mmproj], mode: 'reference' });
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    const vision = results[0]!.model!;
    const listed = await client.models.list();
    const id = listed.data.find((m) => m.id !== 'stories260k')!.id;
    await client.chat.completions.create({ model: id, messages: [{ role: 'user', content: 'Once' }], max_tokens: 4, temperature: 0 });
    expect(host.services.inference.status().model).toMatchObject({
      path: vision.files[0],
      engine: 'server',
      engineReason: 'Auto: the model sees images (it has a projector), which only llama.cpp’s server runs',
      vision: true,
      projector: path.basename(mmproj),
    });
    // Pinned to node-llama-cpp it runs there, text-only, and says so.
    await host.services.handlers['settings.update']({ inference: { engines: { [vision.id]: 'worker' } } });
    await until('the vision model on the worker', () => host.services.inference.status().model?.engine === 'worker');
    expect(host.services.inference.status().model?.engineReason).toBe(
      'Chosen for this model in its options: node-llama-cpp (text only: its projector needs llama.cpp’s server)',
    );
    expect(host.services.inference.status().model?.vision).toBeFalsy();
    // Back to Auto; then its projector detached while it is loaded: the next request loads it as it is now.
    await host.services.handlers['settings.update']({ inference: { engines: {} } });
    await until('the vision model back on the server', () => host.services.inference.status().model?.engine === 'server');
    await host.services.library.detachProjector(vision.id);
    await client.chat.completions.create({ model: id, messages: [{ role: 'user', content: 'Once' }], max_tokens: 4, temperature: 0 });
    expect(host.services.inference.status().model).toMatchObject({ engine: 'worker', path: vision.files[0] });
    // Attached again (imported alone, it finds its model), an image goes through: reloaded on the server with it.
    const [again] = await host.services.handlers['models.import']({ paths: [mmproj], mode: 'reference' });
    expect(again).toMatchObject({ ok: true, attachedTo: vision.id });
    const { pngDataUrl, pngImage } = await import('../../helpers/vision-model');
    const answer = await client.chat.completions.create({
      model: id,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look:' },
            { type: 'image_url', image_url: { url: pngDataUrl(pngImage(32, 32, () => [9, 99, 199])) } },
          ],
        },
      ],
      max_tokens: 4,
      temperature: 0,
    });
    expect(answer.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(host.services.inference.status().model).toMatchObject({ engine: 'server', vision: true });
  });
});

/** The llama-server this host runs (a child of this process, found by its command line). */
async function findServerPid(): Promise<number> {
  const { readdirSync, readFileSync } = await import('node:fs');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('llama-server') && cmd.includes('--jinja') && cmd.some((a) => a.includes(host.dir))) return Number(entry);
    } catch {
      // gone
    }
  }
  throw new Error('no llama-server found');
}
