/**
 * Images in chat on a real host: the tiny vision model (stories260K with a
 * random projector, test/helpers/vision-model.ts) in the library runs on
 * llama.cpp's server, one thread. A message's files are checked before
 * anything is stored, stored with the message in SQLite, sent as the user
 * message's media on its turn and later ones, carried by JSON export and
 * import, and deleted with their message; a model that cannot take them
 * refuses the message, naming the models that can.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationStore, SCHEMA_VERSION } from '../../../electron/chat/conversation-store';
import type { AttachmentInput } from '../../../shared/chat';
import { RpcError } from '../../../shared/errors';
import {
  MAX_MEDIA_ALLOWANCE_BYTES,
  MAX_MESSAGE_BYTES,
  MAX_UI_FRAME_BYTES,
  mediaAllowance,
  messageMediaAllowance,
  parseMessage,
} from '../../../shared/rpc/protocol';
import { inferenceHost, type InferenceHost } from '../../helpers/inference-host';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { mp3Bytes } from '../../helpers/media-bytes';
import { setString, writeEditedGguf } from '../../helpers/gguf-edit';
import { suiteTempDirs } from '../../helpers/temp';
import { TINY_VISION, TINY_VISION_IMAGE_TOKENS, pngImage, tinyVisionModel } from '../../helpers/vision-model';

const tempDir = suiteTempDirs('freehold-chat-images-');
let host: InferenceHost;
let visionId: string;
let plainId: string;

const side = TINY_VISION.imageSize;
const gradient = pngImage(side, side, (x, y) => [x * 8, y * 8, 128]);
const black = pngImage(side, side, () => [0, 0, 0]);
const file = (name: string, bytes: Buffer): AttachmentInput => ({ name, data: bytes.toString('base64') });

beforeAll(async () => {
  const [{ env }, vision] = await Promise.all([ensureTestEngines(), tinyVisionModel()]);
  const dir = tempDir();
  mkdirSync(path.join(dir, 'vision'));
  mkdirSync(path.join(dir, 'plain'));
  const model = path.join(dir, 'vision', 'tiny-vision.gguf');
  const mmproj = path.join(dir, 'vision', 'mmproj-tiny-vision-F32.gguf');
  writeEditedGguf(vision.model, model, (gguf) => setString(gguf, 'general.name', 'Tiny Vision'));
  copyFileSync(vision.mmproj, mmproj);
  const plain = path.join(dir, 'plain', 'plain-stories.gguf');
  writeEditedGguf(vision.model, plain, (gguf) => setString(gguf, 'general.name', 'Plain Stories'));
  host = await inferenceHost({ dataDir: tempDir(), hostEnv: env });
  const results = await host.services.handlers['models.import']({ paths: [model, mmproj, plain], mode: 'reference' });
  expect(results.every((r) => r.ok)).toBe(true);
  const { models } = await host.services.handlers['models.list'](undefined);
  visionId = models.find((m) => m.name === 'Tiny Vision')!.id;
  plainId = models.find((m) => m.name === 'Plain Stories')!.id;
  expect(models.find((m) => m.id === visionId)!.projector?.vision).toBe(true);
  expect(models.find((m) => m.id === plainId)!.projector ?? null).toBeNull();
}, 20 * 60_000);

afterAll(async () => {
  await host?.services.close();
});

function conversation(modelId: string) {
  return host.services.handlers['chats.create']({ modelId, settings: { temperature: 0, maxTokens: 8, seed: 42 } });
}

const attachmentRows = () => host.services.chats.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM attachments')!.n;

/** The refusal a call ends with: an invalid_input marked as the attachments' own. */
async function refusalOf(call: () => unknown): Promise<{ message: string; problem: string }> {
  const error = await Promise.resolve()
    .then(call)
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(error).toBeInstanceOf(RpcError);
  expect((error as RpcError).code).toBe('invalid_input');
  const details = (error as RpcError).details as { attachments: boolean; problem: string };
  expect(details.attachments).toBe(true);
  return { message: (error as RpcError).message, problem: details.problem };
}

describe('images in chat (the tiny vision model on llama.cpp’s server)', () => {
  it('stores a PNG with its message, sends it to the model (16 image tokens) on that turn and the next, and regenerates with it', async () => {
    const c = await conversation(visionId);
    const { userMessage, reply } = await host.services.handlers['chats.send']({
      conversationId: c.id,
      parentId: null,
      text: 'Look at this picture:',
      attachments: [file('gradient.png', gradient)],
    });
    expect(userMessage.attachments).toEqual([
      { id: expect.any(String), kind: 'image', mime: 'image/png', name: 'gradient.png', bytes: gradient.length, width: side, height: side },
    ]);
    expect(reply).toMatchObject({ status: 'complete', stats: { mediaTokens: TINY_VISION_IMAGE_TOKENS } });
    expect(host.services.inference.status().model).toMatchObject({ engine: 'server', vision: true });

    // Reloaded: the attachment is there, and its bytes are the file's.
    const detail = await host.services.handlers['chats.get']({ id: c.id });
    const stored = detail.messages.find((m) => m.id === userMessage.id)!.attachments!;
    expect(stored).toEqual(userMessage.attachments);
    const data = await host.services.handlers['chats.attachment']({ id: stored[0]!.id });
    expect(data).toEqual({ id: stored[0]!.id, name: 'gradient.png', mime: 'image/png', data: gradient.toString('base64') });

    // A later turn still carries the image (history); regenerate sends it again.
    const next = await host.services.handlers['chats.send']({ conversationId: c.id, parentId: reply.id, text: 'And then?' });
    expect(next.reply.stats?.mediaTokens).toBe(TINY_VISION_IMAGE_TOKENS);
    const again = await host.services.handlers['chats.regenerate']({ conversationId: c.id, messageId: reply.id });
    expect(again).toMatchObject({ status: 'complete', parentId: userMessage.id, stats: { mediaTokens: TINY_VISION_IMAGE_TOKENS } });
    expect(again.content).toBe(reply.content);

    // The title of a chat begun with only a file is the file's name; an edited version keeps the original's files.
    const bare = await conversation(visionId);
    const first = await host.services.handlers['chats.send']({
      conversationId: bare.id,
      parentId: null,
      text: '',
      attachments: [file('black.png', black)],
    });
    expect((await host.services.handlers['chats.get']({ id: bare.id })).conversation.title).toBe('black.png');
    const edited = await host.services.handlers['chats.send']({
      conversationId: bare.id,
      parentId: null,
      text: 'What is this?',
      attachmentsFrom: first.userMessage.id,
    });
    expect(edited.userMessage.attachments).toMatchObject([{ name: 'black.png', bytes: black.length }]);
    expect(edited.reply.stats?.mediaTokens).toBe(TINY_VISION_IMAGE_TOKENS);
  });

  it('takes a WebP (the model gets it as PNG) and keeps the file as it was', async () => {
    const webp = await sharp(gradient).webp({ lossless: true }).toBuffer();
    const c = await conversation(visionId);
    const { userMessage, reply } = await host.services.handlers['chats.send']({
      conversationId: c.id,
      parentId: null,
      text: 'Look at this picture:',
      attachments: [file('photo.webp', webp)],
    });
    expect(userMessage.attachments).toMatchObject([{ kind: 'image', mime: 'image/webp', width: side, height: side }]);
    expect(reply.stats?.mediaTokens).toBe(TINY_VISION_IMAGE_TOKENS);
    const data = await host.services.handlers['chats.attachment']({ id: userMessage.attachments![0]!.id });
    expect(Buffer.from(data.data, 'base64').equals(webp)).toBe(true);
    expect(host.services.chats.mediaOf(userMessage.id)).toEqual([
      { kind: 'image', mime: 'image/png', data: expect.stringMatching(/^iVBORw0KGgo/) },
    ]);
  });

  it('exports the attachments in the JSON (base64) and by name in Markdown; an import restores them byte for byte', async () => {
    const c = await conversation(visionId);
    await host.services.handlers['chats.send']({
      conversationId: c.id,
      parentId: null,
      text: 'Two pictures',
      attachments: [file('gradient.png', gradient), file('black.png', black)],
    });
    const json = await host.services.handlers['chats.export']({ id: c.id, format: 'json' });
    const exported = JSON.parse(json.content) as { version: number; messages: Array<{ attachments?: unknown }> };
    expect(exported.version).toBe(1);
    expect(exported.messages[0]!.attachments).toEqual([
      { name: 'gradient.png', mime: 'image/png', data: gradient.toString('base64') },
      { name: 'black.png', mime: 'image/png', data: black.toString('base64') },
    ]);
    const md = await host.services.handlers['chats.export']({ id: c.id, format: 'md' });
    expect(md.content).toContain('_Attached: gradient.png (PNG image, 32×32); black.png (PNG image, 32×32)_');

    const copy = await host.services.handlers['chats.import']({ data: exported });
    const detail = await host.services.handlers['chats.get']({ id: copy.id });
    const attachments = detail.messages.find((m) => m.role === 'user')!.attachments!;
    expect(attachments.map((a) => a.name)).toEqual(['gradient.png', 'black.png']);
    const bytes = await Promise.all(attachments.map((a) => host.services.handlers['chats.attachment']({ id: a.id })));
    expect(bytes.map((b) => b.data)).toEqual([gradient.toString('base64'), black.toString('base64')]);

    // A file without attachments (the format before them) imports as before; a damaged attachment is refused, nothing imported.
    const before = (await host.services.handlers['chats.list'](undefined)).length;
    const damaged = structuredClone(exported) as { messages: Array<{ attachments?: Array<{ data: string }> }> };
    damaged.messages[0]!.attachments![1]!.data = gradient.subarray(0, 60).toString('base64');
    await expect(host.services.handlers['chats.import']({ data: damaged })).rejects.toThrow(
      /Not imported: in message \S+, black\.png is a damaged PNG image/,
    );
    expect((await host.services.handlers['chats.list'](undefined)).length).toBe(before);
    const older = { ...exported, messages: exported.messages.map(({ attachments: _a, ...m }) => m) };
    const plain = await host.services.handlers['chats.import']({ data: older });
    expect((await host.services.handlers['chats.get']({ id: plain.id })).messages.every((m) => !m.attachments)).toBe(true);
  });

  it('refuses a corrupt, a mistyped, an oversized image, too many files and audio for a model that does not hear: nothing stored', async () => {
    const c = await conversation(visionId);
    const rows = attachmentRows();
    const send = (attachments: AttachmentInput[]) =>
      refusalOf(() => host.services.handlers['chats.send']({ conversationId: c.id, parentId: null, text: 'Look', attachments }));

    expect(await send([file('cut.png', gradient.subarray(0, gradient.length - 20))])).toEqual({
      message: expect.stringMatching(/^cut\.png is a damaged PNG image and cannot be read/),
      problem: 'corrupt',
    });
    expect(await send([file('notes.png', Buffer.from('just some text, not a picture'))])).toEqual({
      message: expect.stringMatching(/^notes\.png is not an image or audio file Freehold can send to a model: use PNG, JPEG, WebP or GIF/),
      problem: 'unsupported_type',
    });
    const huge = Buffer.concat([gradient.subarray(0, 8), Buffer.alloc(10 * 1024 * 1024 + 1)]);
    expect(await send([file('huge.png', huge)])).toEqual({
      message: 'huge.png is 10.0 MiB; the most Freehold sends is 10.0 MiB per image',
      problem: 'too_large',
    });
    expect(await send(Array.from({ length: 9 }, (_, i) => file(`p${i}.png`, black)))).toEqual({
      message: '9 files in one message; the most is 8',
      problem: 'too_many',
    });
    expect(await send([file('clip.mp3', mp3Bytes())])).toEqual({
      message:
        'Tiny Vision cannot hear audio; nothing was sent. No model in your library can: download one that hears, with its projector.',
      problem: 'model',
    });
    expect((await host.services.handlers['chats.get']({ id: c.id })).messages).toEqual([]);
    expect(attachmentRows()).toBe(rows);
  });

  it('a text-only model refuses an image, naming the models that see; pinned to node-llama-cpp, a model with a projector is text-only', async () => {
    const c = await conversation(plainId);
    const rows = attachmentRows();
    const send = () =>
      refusalOf(() =>
        host.services.handlers['chats.send']({
          conversationId: c.id,
          parentId: null,
          text: 'Look',
          attachments: [file('g.png', gradient)],
        }),
      );
    expect(await send()).toEqual({
      message: 'Plain Stories cannot see images; nothing was sent. Models in your library that can: Tiny Vision.',
      problem: 'model',
    });
    await host.services.settings.update({ inference: { engines: { [visionId]: 'worker' } } });
    try {
      expect((await send()).message).toBe(
        'Plain Stories cannot see images; nothing was sent. No model in your library can: download one that sees (“Sees images” in Discover), with its projector.',
      );
    } finally {
      await host.services.settings.update({ inference: { engines: {} } });
    }
    expect((await host.services.handlers['chats.get']({ id: c.id })).messages).toEqual([]);
    expect(attachmentRows()).toBe(rows);

    // A conversation with images moved to a text-only model: the image is refused on regenerate; text goes on without it.
    const seen = await conversation(visionId);
    const { reply } = await host.services.handlers['chats.send']({
      conversationId: seen.id,
      parentId: null,
      text: 'Look at this picture:',
      attachments: [file('g.png', gradient)],
    });
    await host.services.handlers['chats.update']({ id: seen.id, modelId: plainId });
    expect(
      (await refusalOf(() => host.services.handlers['chats.regenerate']({ conversationId: seen.id, messageId: reply.id }))).message,
    ).toMatch(/^Plain Stories cannot see images; nothing was sent/);
    const next = await host.services.handlers['chats.send']({ conversationId: seen.id, parentId: reply.id, text: 'Tell me a story' });
    expect(next.reply.status).toBe('complete');
    expect(next.reply.stats?.mediaTokens ?? 0).toBe(0);
  });

  it('deletes the attachments with their message and with their conversation', async () => {
    const c = await conversation(visionId);
    const rows = attachmentRows();
    const one = await host.services.handlers['chats.send']({
      conversationId: c.id,
      parentId: null,
      text: 'One',
      attachments: [file('a.png', gradient)],
    });
    await host.services.handlers['chats.send']({
      conversationId: c.id,
      parentId: one.reply.id,
      text: 'Two',
      attachments: [file('b.png', black), file('c.png', gradient)],
    });
    expect(attachmentRows()).toBe(rows + 3);
    const detail = await host.services.handlers['chats.get']({ id: c.id });
    const second = detail.messages.find((m) => m.content === 'Two')!;
    await host.services.handlers['chats.deleteMessage']({ id: second.id });
    expect(attachmentRows()).toBe(rows + 1);
    expect(() => host.services.handlers['chats.attachment']({ id: second.attachments![0]!.id })).toThrow(/No such attachment/);
    await host.services.handlers['chats.delete']({ id: c.id });
    expect(attachmentRows()).toBe(rows);
  });
});

describe('the attachments table in an existing database', () => {
  it('is added by a migration to a database from before it', async () => {
    const file = path.join(tempDir(), 'chats.sqlite');
    const store = new ConversationStore(file);
    const c = store.create({ title: 'Old one' });
    store.addMessage(c.id, null, 'user', 'Hello from before images');
    // As it was at version 3: no attachments, nor what later versions added (reply sources, documents).
    store.db.exec('DROP TABLE attachments');
    store.db.exec('ALTER TABLE messages DROP COLUMN sources');
    for (const table of store.db.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('chunks_fts', 'chunks', 'documents', 'collections', 'conversation_collections', 'docs_meta')",
    ))
      store.db.exec(`DROP TABLE IF EXISTS ${table.name}`);
    store.db.pragma('user_version = 3');
    store.close();
    const reopened = new ConversationStore(file);
    try {
      expect(reopened.db.pragma('user_version')).toBe(SCHEMA_VERSION);
      const detail = reopened.get(c.id);
      expect(detail.messages.map((m) => [m.content, m.attachments])).toEqual([['Hello from before images', undefined]]);
      expect(reopened.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM attachments')!.n).toBe(0);
    } finally {
      reopened.close();
    }
  });
});

describe('a message with images over RPC', () => {
  it('carries its files (base64) beside the 1 MiB for the rest, up to the per-message limit; nothing else goes over 1 MiB', () => {
    const data = 'A'.repeat(3 * 1024 * 1024);
    const send = {
      t: 'q',
      m: 'chats.send',
      i: '1',
      a: [{ conversationId: 'c', parentId: null, text: 'x', attachments: [{ name: 'a.png', data }] }],
    };
    expect(messageMediaAllowance(send)).toBe(data.length);
    expect(parseMessage(send).ok).toBe(true);
    const other = { t: 'q', m: 'app.dismissNotice', i: '2', a: [{ id: data }] };
    expect(parseMessage(other)).toMatchObject({ ok: false, error: { code: 'payload_too_large' } });
    // The allowance ends at the media limit of one message, whatever the files claim.
    const many = { attachments: Array.from({ length: 9 }, () => ({ name: 'a', data: 'A'.repeat(4 * 1024 * 1024) })) };
    expect(mediaAllowance(many)).toBe(MAX_MEDIA_ALLOWANCE_BYTES);
    expect(MAX_UI_FRAME_BYTES).toBeGreaterThan(MAX_MESSAGE_BYTES + MAX_MEDIA_ALLOWANCE_BYTES);
  });
});
