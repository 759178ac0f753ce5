/**
 * Documents in chat, end to end through the host's handlers with a real
 * worker: indexing with progress, keyword search before any embedding model,
 * vectors once one arrives (a passage's own text finds it first), whole vs
 * retrieved in replies with the passages stored, follow-ups, bad files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { IndexProgress } from '../../../shared/documents';
import type { HostServices } from '../../../electron/services/host-services';
import { ensureEmbeddingModel } from '../../helpers/embedding-model';
import { inferenceHost } from '../../helpers/inference-host';
import { tempDir } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';

const open: HostServices[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function host(options: { watchFolders?: boolean; host?: 'cli' | 'web'; dataDir?: string } = {}) {
  const { services } = await inferenceHost({
    host: options.host ?? 'web',
    watchFolders: options.watchFolders ?? false,
    dataDir: options.dataDir,
  });
  open.push(services);
  const progress: IndexProgress[] = [];
  services.events.subscribeAll((event, payload) => {
    if (event === 'onDocsProgress') progress.push(payload as IndexProgress);
  });
  return { services, progress };
}

/** A Markdown guide of `sections` sections about different animals: long enough to be retrieved from when sections is large. */
function guide(dir: string, sections: number, name = 'animals.md'): string {
  const animals = ['whale', 'tiger', 'owl', 'salmon', 'beetle', 'falcon', 'otter', 'lizard'];
  const parts = ['# Animals'];
  for (let i = 0; i < sections; i += 1) {
    const animal = animals[i % animals.length]!;
    parts.push(`## The ${animal} number ${i}`, `The ${animal} number ${i} lives in place${i} and eats food${i}. `.repeat(12));
  }
  const file = path.join(dir, name);
  writeFileSync(file, parts.join('\n\n'));
  return file;
}

const idle = (services: HostServices) => services.docs.idle();

describe('documents (real worker)', () => {
  it('indexes an attached file with progress, finds it by keywords, and gives it whole to a reply that stores its passages', async () => {
    const { services, progress } = await host();
    const [model] = await services.handlers['models.import']({ paths: [testModelPath()], mode: 'reference' });
    const chat = await services.handlers['chats.create']({ modelId: model!.model!.id, settings: { temperature: 0, maxTokens: 8 } });
    const dir = tempDir();
    const [doc] = await services.handlers['docs.add']({ paths: [guide(dir, 2)], conversationId: chat.id });
    await idle(services);
    const listed = (await services.handlers['docs.forChat']({ conversationId: chat.id })).documents;
    expect(listed).toEqual([expect.objectContaining({ id: doc!.id, name: 'animals.md', status: 'indexed', embedded: 0 })]);
    expect(listed[0]!.chunks).toBeGreaterThan(0);
    expect(progress.map((p) => p.status)).toEqual(expect.arrayContaining(['indexing', 'indexed']));

    // No embedding model yet: keywords alone.
    const hits = await services.handlers['docs.search']({ query: 'food1', conversationId: chat.id });
    expect(hits[0]).toMatchObject({ documentId: doc!.id, heading: expect.stringContaining('number 1') });

    const { reply } = await services.handlers['chats.send']({ conversationId: chat.id, parentId: null, text: 'What does the owl eat?' });
    expect(reply.status).toBe('complete');
    expect(reply.sources).toMatchObject({ mode: 'whole', files: 1 });
    expect(reply.sources!.passages.map((p) => p.n)).toEqual(reply.sources!.passages.map((_, i) => i + 1));
    expect(reply.sources!.passages.map((p) => p.text).join(' ')).toContain('food1');
    // Stored with the reply and carried by the export.
    const stored = (await services.handlers['chats.get']({ id: chat.id })).messages.find((m) => m.id === reply.id)!;
    expect(stored.sources).toEqual(reply.sources);
    const exported = JSON.parse((await services.handlers['chats.export']({ id: chat.id, format: 'json' })).content);
    expect(exported.messages.find((m: { role: string }) => m.role === 'assistant').sources).toEqual(reply.sources);
  });

  it('retrieves for a document too large for the context, with the query from the recent turns; vectors once an embedding model is there', async () => {
    const { services } = await host();
    const [model] = await services.handlers['models.import']({ paths: [testModelPath()], mode: 'reference' });
    const chat = await services.handlers['chats.create']({
      modelId: model!.model!.id,
      settings: { temperature: 0, maxTokens: 4, contextSize: 2048 },
    });
    const dir = tempDir();
    await services.handlers['docs.add']({ paths: [guide(dir, 40)], conversationId: chat.id });
    await idle(services);

    // The embedding model arrives in the library: chosen, and every chunk embedded.
    await services.handlers['models.import']({ paths: [await ensureEmbeddingModel()], mode: 'reference' });
    await expect.poll(async () => (await services.handlers['docs.list'](undefined)).embedding.modelId, { timeout: 20_000 }).not.toBeNull();
    await idle(services);
    const snapshot = await services.handlers['docs.list'](undefined);
    expect(snapshot.embedding).toMatchObject({ dims: 64, missing: 0 });
    expect(snapshot.documents[0]!.embedded).toBe(snapshot.documents[0]!.chunks);

    // A passage's own text is its own nearest vector and a keyword match: the top hit.
    const target = (await services.handlers['docs.search']({ query: 'food17', conversationId: chat.id }))[0]!;
    const again = await services.handlers['docs.search']({ query: target.text, conversationId: chat.id });
    expect(again[0]!.chunkId).toBe(target.chunkId);
    expect(again[0]!.vectorRank).toBe(1);

    const first = await services.handlers['chats.send']({
      conversationId: chat.id,
      parentId: null,
      text: 'Where does the owl number 26 live?',
    });
    expect(first.reply).toMatchObject({ status: 'complete', error: null });
    expect(first.reply.sources?.mode).toBe('retrieved');
    expect(first.reply.sources!.passages.length).toBeGreaterThan(0);
    expect(first.reply.sources!.passages[0]!.text).toContain('place26');
    // A follow-up that names nothing still finds the subject of the turn before.
    const second = await services.handlers['chats.send']({
      conversationId: chat.id,
      parentId: first.reply.id,
      text: 'And what does it eat?',
    });
    expect(second.reply.sources?.query).toContain('owl number 26');
    expect(second.reply.sources!.passages.some((p) => p.text.includes('food26'))).toBe(true);
  });

  it('refuses bad files with their reason, and the chat and the other documents are unaffected', async () => {
    const { services } = await host();
    const chat = await services.handlers['chats.create']({});
    const dir = tempDir();
    const good = guide(dir, 1, 'good.md');
    const binary = path.join(dir, 'notes.txt');
    writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1, 2, 3, 0, 0, 0xff, 0xfe]));
    const broken = path.join(dir, 'broken.pdf');
    writeFileSync(broken, '%PDF-1.7\nthis is not a PDF body at all');
    await services.handlers['docs.add']({ paths: [good, binary, broken], conversationId: chat.id });
    await idle(services);
    const docs = (await services.handlers['docs.forChat']({ conversationId: chat.id })).documents;
    const byName = Object.fromEntries(docs.map((d) => [d.name, d]));
    expect(byName['good.md']).toMatchObject({ status: 'indexed' });
    expect(byName['notes.txt']).toMatchObject({ status: 'failed', error: expect.stringMatching(/not text/) });
    expect(byName['broken.pdf']).toMatchObject({ status: 'failed', error: expect.stringMatching(/broken\.pdf/) });
    await expect(services.handlers['docs.add']({ paths: [path.join(dir, 'image.exe')], conversationId: chat.id })).rejects.toThrow(
      /does not exist/,
    );
    writeFileSync(path.join(dir, 'tool.exe'), 'MZ');
    await expect(services.handlers['docs.add']({ paths: [path.join(dir, 'tool.exe')], conversationId: chat.id })).rejects.toThrow(
      /not a document Freehold reads/,
    );
    expect((await services.handlers['chats.get']({ id: chat.id })).conversation.id).toBe(chat.id);
  });

  it('keeps a collection in line with its watched folder: new files indexed, changed ones again, deleted ones removed', async () => {
    const { services } = await host({ watchFolders: true });
    const folder = path.join(tempDir(), 'notes');
    mkdirSync(path.join(folder, 'sub'), { recursive: true });
    writeFileSync(path.join(folder, 'a.md'), '# A\n\nApples are red.');
    const collection = await services.handlers['docs.createCollection']({ name: 'Notes', folders: [folder] });
    await idle(services);
    const names = async () =>
      (await services.handlers['docs.list'](undefined)).documents
        .filter((d) => d.collectionId === collection.id && d.status === 'indexed')
        .map((d) => d.name)
        .sort();
    expect(await names()).toEqual(['a.md']);
    writeFileSync(path.join(folder, 'sub', 'b.txt'), 'Bananas are yellow.');
    await expect.poll(names, { timeout: 10_000 }).toEqual(['a.md', 'b.txt']);
    writeFileSync(path.join(folder, 'a.md'), '# A\n\nApricots are orange and larger than before.');
    await expect
      .poll(async () => (await services.handlers['docs.search']({ query: 'apricots', collectionId: collection.id })).length, {
        timeout: 10_000,
      })
      .toBe(1);
    expect(await services.handlers['docs.search']({ query: 'apples', collectionId: collection.id })).toEqual([]);
    const { rmSync } = await import('node:fs');
    rmSync(path.join(folder, 'sub', 'b.txt'));
    await expect.poll(names, { timeout: 10_000 }).toEqual(['a.md']);
  });
});

describe('a kill while indexing', () => {
  it('leaves no half document: on the next start what was left is indexed again, whole', async () => {
    const { spawn } = await import('node:child_process');
    const dataDir = tempDir();
    const folder = path.join(tempDir(), 'many');
    mkdirSync(folder);
    for (let i = 0; i < 400; i += 1) guide(folder, 6, `doc-${String(i).padStart(3, '0')}.md`);
    const child = spawn(
      process.execPath,
      [path.resolve('dist/electron/cli.mjs'), '--data-dir', dataDir, 'docs', 'add', folder, '--collection', 'Many'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let indexed = 0;
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (data: Buffer) => {
        indexed += (String(data).match(/: \d+ chunks/g) ?? []).length;
        // Killed mid-run: some documents stored, most not yet.
        if (indexed >= 20 && child.exitCode === null) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
    expect(child.signalCode).toBe('SIGKILL');

    const { services } = await host({ dataDir });
    const store = (services.docs as unknown as { options: { store: import('../../../electron/docs/doc-store').DocumentStore } }).options
      .store;
    const chunksOf = (id: string) => store.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM chunks WHERE document_id = ?', id)!.n;
    const before = store.documents({ anyStatus: true });
    expect(before.length).toBeGreaterThan(0);
    expect(before.filter((d) => d.status === 'indexed').length).toBeLessThan(400);
    // Nothing half stored: a document not marked indexed has no chunks, an indexed one all of them.
    for (const doc of before) if (doc.status !== 'indexed') expect(chunksOf(doc.id)).toBe(0);

    expect(before).toHaveLength(400); // every file was listed before the first was indexed
    // The start resumes what was queued or being indexed.
    services.docs.start();
    await expect
      .poll(async () => (await services.handlers['docs.list'](undefined)).documents.filter((d) => d.status === 'indexed').length, {
        timeout: 60_000,
      })
      .toBe(400);
    await services.docs.idle();
    const after = (await services.handlers['docs.list'](undefined)).documents;
    const counts = new Set(after.map((d) => d.chunks));
    expect(counts.size).toBe(1); // the same text in every file: the same chunks
    expect(store.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM chunks')!.n).toBe(400 * [...counts][0]!);
  });
});

describe('a folder of 50,000 files', () => {
  it('is listed as a stream and bounded: the first 10,000 documents, said to be truncated', async () => {
    const { listFolderFiles } = await import('../../../electron/docs/docs-watch');
    const folder = path.join(tempDir(), 'huge');
    for (let d = 0; d < 50; d += 1) {
      mkdirSync(path.join(folder, `d${d}`), { recursive: true });
      for (let i = 0; i < 1000; i += 1) writeFileSync(path.join(folder, `d${d}`, `f${i}.txt`), '');
    }
    const listed = await listFolderFiles(folder, 10_000);
    expect(listed.truncated).toBe(true);
    expect(listed.files).toHaveLength(10_000);
    const all = await listFolderFiles(folder, 100_000);
    expect(all).toMatchObject({ truncated: false });
    expect(all.files).toHaveLength(50_000);
  }, 120_000);
});

describe('keeping documents right', () => {
  it('starts without a usable chat database, and documents calls say why', async () => {
    const dataDir = tempDir();
    const { SqliteDatabase } = await import('../../../electron/chat/sqlite');
    const newer = new SqliteDatabase(path.join(dataDir, 'chats.sqlite'));
    newer.pragma('user_version = 999');
    newer.close();
    const { services } = await host({ dataDir });
    await expect(services.handlers['docs.list'](undefined)).rejects.toThrow(/chat database/);
  });

  it('takes nothing as deleted from a watched folder that cannot be read now, and refuses to remove a file the folder holds', async () => {
    const { services } = await host({ watchFolders: false });
    const root = tempDir();
    const folder = path.join(root, 'usb');
    mkdirSync(folder);
    writeFileSync(path.join(folder, 'a.md'), '# A\n\nApples are red.');
    const collection = await services.handlers['docs.createCollection']({ name: 'Drive', folders: [folder] });
    await idle(services);
    const [doc] = (await services.handlers['docs.list'](undefined)).documents;
    expect(doc).toMatchObject({ name: 'a.md', status: 'indexed' });
    await expect(services.handlers['docs.remove']({ id: doc!.id })).rejects.toThrow(
      /is in the watched folder .*usb: delete or move it there/,
    );

    // The drive is unplugged: its folder is gone for now, its documents stay.
    const { renameSync } = await import('node:fs');
    renameSync(folder, path.join(root, 'elsewhere'));
    await services.docs.rescanCollection(collection.id);
    expect((await services.handlers['docs.list'](undefined)).documents.map((d) => d.name)).toEqual(['a.md']);
  });

  it('deletes the copy of an uploaded file with its document, and a deleted chat takes its documents along', async () => {
    const { services } = await host();
    const chat = await services.handlers['chats.create']({});
    const record = await services.handlers['docs.upload']({
      name: 'note.md',
      data: Buffer.from('# Note\n\nKeep this.').toString('base64'),
      conversationId: chat.id,
    });
    expect(record.path).toMatch(/documents/);
    const { existsSync } = await import('node:fs');
    expect(existsSync(record.path!)).toBe(true);
    await idle(services);
    await services.handlers['docs.remove']({ id: record.id });
    await expect.poll(() => existsSync(path.dirname(record.path!))).toBe(false);

    const again = await services.handlers['docs.upload']({
      name: 'two.md',
      data: Buffer.from('Two.').toString('base64'),
      conversationId: chat.id,
    });
    await idle(services);
    await services.handlers['chats.delete']({ id: chat.id });
    expect((await services.handlers['docs.list'](undefined)).documents).toEqual([]);
    await expect.poll(() => existsSync(again.path!)).toBe(false);
    await expect(
      services.handlers['docs.upload']({ name: 'late.md', data: Buffer.from('Late.').toString('base64'), conversationId: chat.id }),
    ).rejects.toThrow(/conversation no longer exists/);
  });
});
