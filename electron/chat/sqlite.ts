import { chmodSync, closeSync, constants, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import type Libsql from 'libsql';
import { RpcError } from '../../shared/errors';

/**
 * SQLite for the chat store, through libsql: a better-sqlite3-compatible
 * binding built on N-API, so the same prebuilt binary loads in Node and in
 * Electron's main process (better-sqlite3 is compiled for one Node ABI and
 * Electron refuses it). The binding is loaded on first use and checked, so a
 * missing or broken one costs the chats, with a one-line reason, not the app.
 */
export type SqliteBinding = typeof Libsql;
export type SqlValue = string | number | bigint | Buffer | null;

const nodeRequire = createRequire(import.meta.url);
let loaded: SqliteBinding | undefined;

function runtime(): string {
  const where = process.versions.electron ? `Electron ${process.versions.electron}` : `Node ${process.versions.node}`;
  return `${process.platform}-${process.arch}, ${where}, module ABI ${process.versions.modules}`;
}

/** An error as one line: Node's dlopen message spans several, and "Require stack" adds nothing for the user. */
function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split(/\nRequire stack:/)[0]!
    .replace(/\s*\n\s*/g, ' ')
    .trim()
    .replace(/\.$/, '');
}

/**
 * Loads the binding (`load` stands in for `require('libsql')` in tests) and
 * proves it works: opens a database in memory and creates a full-text index.
 * Throws an RpcError ('unavailable') that says in one line what is wrong.
 */
export function loadSqliteBinding(load?: () => unknown): SqliteBinding {
  if (!load && loaded) return loaded;
  let binding: SqliteBinding;
  try {
    binding = (load ?? (() => nodeRequire('libsql')))() as SqliteBinding;
    const probe = new binding(':memory:');
    try {
      probe.exec('CREATE VIRTUAL TABLE probe USING fts5 (text)');
    } finally {
      probe.close();
    }
  } catch (error) {
    throw new RpcError(
      'unavailable',
      `Chats cannot be stored: the SQLite binding (libsql) cannot be used on this system (${runtime()}): ${oneLine(error)}. Reinstall Freehold (from source: npm install).`,
    );
  }
  if (!load) loaded = binding;
  return binding;
}

/**
 * Makes a database file readable by this user only, like the other files in
 * the data folder. SQLite creates a missing file 0644 (less the umask), so it
 * is created 0600 first; SQLite gives its -wal, -shm and -journal files the
 * database file's mode. chmod (which the umask does not touch) narrows files
 * an earlier version left 0644, side files kept after a crash included. On
 * Windows mode bits mean nothing: the profile folder's ACL does this job.
 */
export function keepDatabasePrivate(file: string): void {
  if (process.platform === 'win32') return;
  try {
    closeSync(openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    try {
      chmodSync(file + suffix, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** libsql's `get` adds a `_metadata` field (query timing) to each row; `all` does not. */
function stripMetadata<T>(row: unknown): T {
  if (row && typeof row === 'object' && '_metadata' in row) delete (row as { _metadata?: unknown })._metadata;
  return row as T;
}

/**
 * One connection, with the few calls the store needs. Parameters always go to
 * libsql as an array: its `get(null)` mistakes a lone null for named
 * parameters, and its `pragma(…, { simple: true })` returns the row, not the value.
 */
export class SqliteDatabase {
  private readonly db: Libsql.Database;

  constructor(file: string, binding: SqliteBinding = loadSqliteBinding()) {
    if (file !== ':memory:' && file !== '') keepDatabasePrivate(file);
    this.db = new binding(file);
  }

  get<T>(sql: string, ...params: SqlValue[]): T | undefined {
    const row = this.db.prepare(sql).get(params);
    return row === undefined ? undefined : stripMetadata<T>(row);
  }

  all<T>(sql: string, ...params: SqlValue[]): T[] {
    return this.db
      .prepare(sql)
      .all(params)
      .map((row) => stripMetadata<T>(row));
  }

  run(sql: string, ...params: SqlValue[]): { changes: number } {
    const { changes } = this.db.prepare(sql).run(params);
    return { changes };
  }

  /** Runs one or more statements that return nothing. */
  exec(sql: string): void {
    this.db.exec(sql);
  }

  /** A pragma's value (the first column of its first row), e.g. `pragma('user_version')`. */
  pragma(source: string): unknown {
    const row = this.get<Record<string, unknown>>(`PRAGMA ${source}`);
    return row === undefined ? undefined : Object.values(row)[0];
  }

  /**
   * Runs `fn` in a transaction: committed if it returns, rolled back if it
   * throws; inside another transaction, a savepoint. IMMEDIATE takes the write
   * lock up front, so a second process waits (busy_timeout) instead of failing
   * halfway through.
   */
  transaction<T>(fn: () => T): T {
    const nested = this.db.inTransaction;
    this.db.exec(nested ? 'SAVEPOINT nested' : 'BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.db.exec(nested ? 'RELEASE nested' : 'COMMIT');
      return result;
    } catch (error) {
      if (nested) this.db.exec('ROLLBACK TO nested; RELEASE nested');
      else if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw error;
    }
  }

  close(): void {
    this.db.close();
  }
}
