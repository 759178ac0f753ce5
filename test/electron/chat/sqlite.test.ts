import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { openConversationStore, SCHEMA_VERSION } from '../../../electron/chat/conversation-store';
import { ChatService } from '../../../electron/chat/chat-service';
import { loadSqliteBinding, SqliteDatabase } from '../../../electron/chat/sqlite';
import { createHostServices } from '../../../electron/services/host-services';
import { RpcError } from '../../../shared/errors';
import { tempDir } from '../../helpers/temp';

/** What Electron says when a native module was built for another Node ABI (better-sqlite3's failure). */
const abiMismatch = Object.assign(
  new Error(
    "The module '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node'\n" +
      'was compiled against a different Node.js version using\nNODE_MODULE_VERSION 115. This version of Node.js requires\nNODE_MODULE_VERSION 143. Please try re-compiling or re-installing\n' +
      'the module (for instance, using `npm rebuild` or `npm install`).',
  ),
  { code: 'ERR_DLOPEN_FAILED' },
);

function thrown(fn: () => unknown): RpcError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RpcError);
    return error as RpcError;
  }
  throw new Error('expected a throw');
}

describe('SQLite binding (libsql)', () => {
  it('loads here and returns plain rows (no libsql _metadata), a lone null parameter included', () => {
    const db = new SqliteDatabase(':memory:');
    expect(db.get('SELECT 1 AS one, ? AS empty', null)).toEqual({ one: 1, empty: null });
    expect(db.get('SELECT ? AS v', null)).toEqual({ v: null });
    expect(db.all('SELECT 1 AS one UNION ALL SELECT 2')).toEqual([{ one: 1 }, { one: 2 }]);
    expect(db.get('SELECT 1 WHERE 0')).toBeUndefined();
    expect(db.pragma('user_version')).toBe(0);
    db.close();
  });

  it('commits a transaction, rolls one back on a throw, and nests as a savepoint', () => {
    const db = new SqliteDatabase(':memory:');
    db.exec('CREATE TABLE t (x INTEGER); CREATE VIRTUAL TABLE f USING fts5 (text)');
    db.transaction(() => db.run('INSERT INTO t VALUES (1)'));
    expect(() =>
      db.transaction(() => {
        db.run('INSERT INTO t VALUES (2)');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    db.transaction(() => {
      db.run('INSERT INTO t VALUES (3)');
      expect(() =>
        db.transaction(() => {
          db.run('INSERT INTO t VALUES (4)');
          throw new Error('inner');
        }),
      ).toThrow('inner');
    });
    expect(db.all<{ x: number }>('SELECT x FROM t ORDER BY x').map((r) => r.x)).toEqual([1, 3]);
    expect(db.run('INSERT INTO f VALUES (?)', 'hello sourdough')).toEqual({ changes: 1 });
    expect(db.get(`SELECT snippet(f, 0, '[', ']', '…', 4) AS s FROM f WHERE f MATCH ?`, 'sourdough')).toEqual({ s: 'hello [sourdough]' });
    db.close();
  });

  it('says in one line what is wrong when the binding cannot be loaded', () => {
    const error = thrown(() =>
      loadSqliteBinding(() => {
        throw abiMismatch;
      }),
    );
    expect(error.code).toBe('unavailable');
    expect(error.message).not.toContain('\n');
    expect(error.message).toMatch(/^Chats cannot be stored: the SQLite binding \(libsql\) cannot be used on this system/);
    expect(error.message).toContain(`${process.platform}-${process.arch}`);
    expect(error.message).toContain(`module ABI ${process.versions.modules}`);
    expect(error.message).toContain(
      "The module '/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 115. This version of Node.js requires NODE_MODULE_VERSION 143.",
    );
    expect(error.message).toMatch(/Reinstall Freehold \(from source: npm install\)\.$/);

    const missing = Object.assign(
      new Error("Cannot find module '@libsql/linux-riscv64-gnu'\nRequire stack:\n- /app/node_modules/libsql/index.js"),
      {
        code: 'MODULE_NOT_FOUND',
      },
    );
    const notInstalled = thrown(() =>
      loadSqliteBinding(() => {
        throw missing;
      }),
    );
    expect(notInstalled.message).toContain(": Cannot find module '@libsql/linux-riscv64-gnu'. Reinstall");
    expect(notInstalled.message).not.toContain('Require stack');
  });

  it('refuses a binding that loads but cannot do full-text search', () => {
    class NoFts {
      exec(): void {
        throw new Error('no such module: fts5');
      }
      close(): void {}
    }
    const error = thrown(() => loadSqliteBinding(() => NoFts));
    expect(error.message).toMatch(
      /cannot be used on this system .*: no such module: fts5\. Reinstall Freehold \(from source: npm install\)\.$/,
    );
  });

  it('keeps the host going without chats: the reason is reported once and every chat call answers with it', () => {
    const report = vi.fn();
    const unloadable = () =>
      loadSqliteBinding(() => {
        throw abiMismatch;
      });
    const store = openConversationStore(path.join(tempDir(), 'chats.sqlite'), report, unloadable);
    expect(report).toHaveBeenCalledTimes(1);
    expect(report.mock.calls[0]![0]).toMatch(/^Chats cannot be stored: .*NODE_MODULE_VERSION 115/);
    const error = thrown(() => store.list());
    expect(error.code).toBe('unavailable');
    expect(error.message).toContain('NODE_MODULE_VERSION 115');
    expect(() => store.create({ title: 'x' })).toThrow(RpcError);
    expect(() => store.close()).not.toThrow();
  });
});

describe('host services without a usable chat database', () => {
  it('start, show a notice, answer chat calls with the reason, and serve everything else', async () => {
    const dataDir = tempDir();
    const newer = new SqliteDatabase(ChatService.file(dataDir));
    newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    const log = vi.fn();
    const services = await createHostServices({ dataDir, host: 'cli', log });
    try {
      const notices = await services.handlers['app.notices'](undefined);
      expect(notices.map((n) => [n.level, n.message])).toContainEqual(['error', expect.stringMatching(/from a newer Freehold/)]);
      await expect(Promise.resolve().then(() => services.handlers['chats.list'](undefined))).rejects.toMatchObject({
        code: 'unavailable',
        message: expect.stringMatching(/from a newer Freehold/),
      });
      await expect(
        Promise.resolve().then(() => services.handlers['chats.send']({ conversationId: 'x', parentId: null, text: 'hi' })),
      ).rejects.toMatchObject({
        code: 'unavailable',
      });
      expect((await services.handlers['models.list'](undefined)).models).toEqual([]);
      expect((await services.handlers['app.info'](undefined)).host).toBe('cli');
    } finally {
      await services.close();
    }
    expect(log).toHaveBeenCalledWith(expect.stringMatching(/from a newer Freehold/));
  });
});
