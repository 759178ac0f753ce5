import { spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newId } from '../../../electron/chat/conversation-schema';
import { ConversationStore, SCHEMA_VERSION } from '../../../electron/chat/conversation-store';
import { SqliteDatabase } from '../../../electron/chat/sqlite';
import { tempDir } from '../../helpers/temp';

const stores: ConversationStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});
function open(file = path.join(tempDir(), 'chats.sqlite')) {
  const store = new ConversationStore(file);
  stores.push(store);
  return store;
}

describe('conversation store', () => {
  it('makes ids that never read as a command-line option (freehold chats export <id>)', () => {
    // One in 32 random base64url ids used to start with "-" or "_": the CLI took such an id for an option.
    const ids = Array.from({ length: 5000 }, newId);
    expect(ids.filter((id) => !/^[A-Za-z0-9][A-Za-z0-9_-]{11}$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('opens the database in WAL mode with synchronous FULL, foreign keys on and a busy timeout', () => {
    const store = open();
    expect(store.db.pragma('journal_mode')).toBe('wal');
    expect(store.db.pragma('synchronous')).toBe(2); // FULL
    expect(store.db.pragma('foreign_keys')).toBe(1);
    expect(store.db.pragma('busy_timeout')).toBe(5000);
    expect(store.integrityCheck()).toBe('ok');
  });

  it.skipIf(process.platform === 'win32')(
    'keeps chats.sqlite and its -wal and -shm files readable by this user only (0600), whatever the umask',
    () => {
      const previous = process.umask(0o022);
      try {
        const dir = tempDir();
        const file = path.join(dir, 'chats.sqlite');
        open(file).create({ title: 'Private' });
        const mode = (name: string) => statSync(path.join(dir, name)).mode & 0o777;
        for (const name of ['chats.sqlite', 'chats.sqlite-wal', 'chats.sqlite-shm']) expect(mode(name), name).toBe(0o600);

        // Files left 0644 by an earlier version (side files stay after a crash) are narrowed on open.
        const older = tempDir();
        for (const name of ['chats.sqlite', 'chats.sqlite-wal', 'chats.sqlite-shm'])
          writeFileSync(path.join(older, name), '', { mode: 0o644 });
        open(path.join(older, 'chats.sqlite')).create({ title: 'Still private' });
        for (const name of ['chats.sqlite', 'chats.sqlite-wal', 'chats.sqlite-shm'])
          expect(statSync(path.join(older, name)).mode & 0o777, name).toBe(0o600);
      } finally {
        process.umask(previous);
      }
    },
  );

  it('creates, lists (pinned first), renames, pins and deletes conversations', () => {
    const store = open();
    const a = store.create({ title: 'First' });
    const b = store.create({ title: 'Second', systemPrompt: 'Be brief.' });
    store.update(a.id, { pinned: true, title: 'First, renamed' });
    expect(store.list().map((c) => [c.title, c.pinned])).toEqual([
      ['First, renamed', true],
      ['Second', false],
    ]);
    expect(store.get(b.id).conversation.systemPrompt).toBe('Be brief.');
    store.delete(a.id);
    expect(store.list().map((c) => c.id)).toEqual([b.id]);
    expect(() => store.get(a.id)).toThrow(/No such conversation/);
  });

  it('keeps branches: an edit or a regeneration adds a sibling and the earlier version stays reachable', () => {
    const store = open();
    const c = store.create();
    const q1 = store.addMessage(c.id, null, 'user', 'Tell me a story');
    const a1 = store.addMessage(c.id, q1.id, 'assistant', 'Once upon a time');
    const a2 = store.addMessage(c.id, q1.id, 'assistant', 'There was a dog'); // regenerate
    expect(store.get(c.id).thread).toEqual([q1.id, a2.id]);
    const q1b = store.addMessage(c.id, null, 'user', 'Tell me a poem'); // edit of the first message
    expect(store.get(c.id).thread).toEqual([q1b.id]);
    store.update(c.id, { activeLeafId: a1.id }); // back to the first version
    expect(store.get(c.id).thread).toEqual([q1.id, a1.id]);
    expect(store.get(c.id).messages).toHaveLength(4);
    store.deleteMessage(q1.id);
    expect(store.get(c.id).messages.map((m) => m.id)).toEqual([q1b.id]);
    expect(() => store.addMessage(c.id, 'nope', 'user', 'x')).toThrow(/parent message is not in this conversation/);
  });

  it('stores a streamed reply as it grows, with its stats, and marks it interrupted after a crash', () => {
    const file = path.join(tempDir(), 'chats.sqlite');
    const store = open(file);
    const c = store.create();
    const q = store.addMessage(c.id, null, 'user', 'Hi');
    const r = store.addMessage(c.id, q.id, 'assistant', '', 'streaming');
    store.appendToReply(r.id, 'Hello', 'thinking…');
    store.appendToReply(r.id, ' there', '');
    expect(store.message(r.id)).toMatchObject({ content: 'Hello there', reasoning: 'thinking…', status: 'streaming' });
    stores.pop()!.close();
    const reopened = open(file);
    expect(reopened.message(r.id)).toMatchObject({ content: 'Hello there', status: 'interrupted' });
  });

  it('searches text across conversations', () => {
    const store = open();
    const a = store.create({ title: 'Cooking' });
    store.addMessage(a.id, null, 'user', 'How do I bake sourdough bread?');
    const b = store.create({ title: 'Travel' });
    store.addMessage(b.id, null, 'user', 'Trains in Japan');
    const hits = store.search('sourdough');
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ conversationId: a.id, conversationTitle: 'Cooking' });
    expect(hits[0]!.snippet).toContain('[sourdough]');
    expect(store.search('"; DROP TABLE messages; --')).toEqual([]);
  });

  it('exports Markdown and JSON, and imports the JSON back; refuses other JSON', () => {
    const store = open();
    const c = store.create({ title: 'Export me', systemPrompt: 'You are kind.' });
    const q = store.addMessage(c.id, null, 'user', 'Hi');
    const r = store.addMessage(c.id, q.id, 'assistant', 'Hello!');
    store.appendToReply(r.id, '', 'greeting the user');
    const md = store.exportMarkdown(c.id);
    expect(md).toContain('# Export me');
    expect(md).toContain('## You\n\nHi');
    expect(md).toContain('<details><summary>Reasoning</summary>');
    const json = store.exportJson(c.id);
    const copy = store.importJson(JSON.parse(JSON.stringify(json)));
    const detail = store.get(copy.id);
    expect(detail.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'Hi'],
      ['assistant', 'Hello!'],
    ]);
    expect(detail.thread).toHaveLength(2);
    expect(() => store.importJson({ format: 'something-else' })).toThrow(/Not a Freehold conversation export/);
    expect(() => store.importJson({ ...json, messages: [{ ...json.messages[1]!, parentId: 'missing' }] })).toThrow(
      /parent that is not in the file/,
    );
  });

  it('migrates a database to the current schema version and refuses one from a newer Freehold', () => {
    const file = path.join(tempDir(), 'chats.sqlite');
    open(file);
    stores.pop()!.close();
    const raw = new SqliteDatabase(file);
    expect(raw.pragma('user_version')).toBe(SCHEMA_VERSION);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => new ConversationStore(file)).toThrow(/from a newer Freehold/);
    const untouched = new SqliteDatabase(file);
    expect(untouched.pragma('user_version')).toBe(SCHEMA_VERSION + 1);
    untouched.close();
  });

  it('never loses an acknowledged message or corrupts the file when the writer is killed at random (SIGKILL)', async () => {
    const harness = path.resolve('.test-output/store-harness.mjs');
    for (let trial = 0; trial < 15; trial += 1) {
      const file = path.join(tempDir(), 'chats.sqlite');
      const child = spawn(process.execPath, [harness, file], { stdio: ['ignore', 'pipe', 'inherit'] });
      const acked: string[] = [];
      let buffer = '';
      const exited = new Promise((r) => child.once('exit', r));
      const writing = new Promise<void>((resolve) =>
        child.stdout!.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          for (const line of lines) if (line.startsWith('ack ')) acked.push(line.split(' ')[1]!);
          if (acked.length > 0) resolve();
        }),
      );
      // The random moment counts from the first commit: a slow start on a busy machine must not leave nothing to check.
      await Promise.race([writing, exited]);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
      child.kill('SIGKILL');
      await exited;
      expect(acked.length, `trial ${trial}: the writer acknowledged nothing`).toBeGreaterThan(0);
      const store = open(file);
      expect(store.integrityCheck()).toBe('ok');
      for (const id of acked) expect(() => store.message(id), `trial ${trial}: acknowledged message ${id} lost`).not.toThrow();
      const streaming = store.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM messages WHERE status = 'streaming'`);
      expect(streaming).toEqual({ n: 0 });
    }
  }, 60_000);
});
