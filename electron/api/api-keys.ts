/**
 * The local API's named keys, kept in `<dataDir>/api-keys.json` (0600): for
 * each key its name, the SHA-256 of the key, a short prefix to tell keys
 * apart, when it was made and last used, and the requests and tokens it was
 * served. The keys themselves are never stored: a new key is shown once.
 *
 * The key named "default" is the one from before named keys (`api-key`, which
 * this computer's UI shows and "New key…" replaces); its hash is kept here
 * like the others.
 *
 * Several processes share the file (a running host and the CLI): each change
 * is made under a lock file on a fresh read, and a running host picks up
 * another process's changes before it checks a key (and within a second for
 * streams already open).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { apiKeyNameSchema, DEFAULT_KEY_NAME, type ApiKeyInfo, type CreatedApiKey } from '../../shared/api';
import { RpcError } from '../../shared/errors';
import { processIsAlive, writeFileAtomic } from '../platform/atomic-file';
import { ApiKeyStore } from './api-key';

/** What the file holds for one key: its hash, never the key. */
interface KeyRecord {
  id: string;
  name: string;
  /** SHA-256 of the whole key ("fh-…"), hex. */
  hash: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  requests: number;
  tokens: number;
}

interface Usage {
  requests: number;
  tokens: number;
  lastUsedAt: string | null;
}

/** The key a request came with, as the server and its log know it. */
export interface KeyIdentity {
  id: string;
  name: string;
}

const FILE_VERSION = 1;
/** Usage is written at most this often (and when the host stops), not once per request. */
const FLUSH_MS = 2_000;
/** How often a running server looks for changes made by another process (a revoke from the CLI). */
const POLL_MS = 1_000;
/** A lock held longer than this was left by a process that stopped mid-change. */
const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function newSecret(): string {
  return `fh-${randomBytes(32).toString('base64url')}`;
}

const newId = () => `key_${randomBytes(9).toString('base64url')}`;
const prefixOf = (secret: string) => secret.slice(3, 9);

function isRecord(value: unknown): value is KeyRecord {
  const r = value as KeyRecord;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.id === 'string' &&
    typeof r.name === 'string' &&
    typeof r.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(r.hash) &&
    typeof r.prefix === 'string' &&
    typeof r.createdAt === 'string' &&
    (r.lastUsedAt === null || typeof r.lastUsedAt === 'string') &&
    Number.isSafeInteger(r.requests) &&
    Number.isSafeInteger(r.tokens)
  );
}

const later = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);

function addUsage(a: Usage | undefined, b: Usage | undefined): Usage | undefined {
  if (!a || !b) return a ?? b;
  return { requests: a.requests + b.requests, tokens: a.tokens + b.tokens, lastUsedAt: later(a.lastUsedAt, b.lastUsedAt) };
}

/** The key whose name (ignoring case) or id is `ref`, from a list. */
export function findKey<T extends { id: string; name: string }>(keys: T[], ref: string): T | undefined {
  const wanted = ref.trim();
  return keys.find((k) => k.id === wanted) ?? keys.find((k) => k.name.toLowerCase() === wanted.toLowerCase());
}

/** Holds `file`.lock while `task` runs: one change at a time across processes; a lock left by a dead process is taken over. */
async function withLock<T>(file: string, task: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await fs.open(lock, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const [owner, stat] = await Promise.all([fs.readFile(lock, 'utf8').catch(() => ''), fs.stat(lock).catch(() => null)]);
      if (!stat) continue;
      const pid = Number(owner);
      const dead = owner !== '' && Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !processIsAlive(pid);
      if (dead || Date.now() - stat.mtimeMs > LOCK_STALE_MS) {
        await fs.rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new RpcError(
          'busy',
          `${path.basename(file)} is being changed by another Freehold process (${owner || 'unknown'}); try again.`,
        );
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 20));
    }
  }
  try {
    return await task();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

export interface ApiKeyringOptions {
  log?: (line: string) => void;
  /** Usage writes, at most this often (tests shorten it). */
  flushMs?: number;
  pollMs?: number;
}

/** The named keys: checks a presented key, counts its use, makes and revokes keys; see the top of this file. */
export class ApiKeyring {
  readonly file: string;
  private readonly defaultKey: ApiKeyStore;
  private records: KeyRecord[] = [];
  /** Usage counted here and not yet written. */
  private pending = new Map<string, Usage>();
  /** Usage being written now (still counted in the list until the write is done). */
  private writing = new Map<string, Usage>();
  private stamp = '';
  /** Changes made in this process, one at a time (the lock file orders them with other processes). */
  private queue: Promise<unknown> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly changeListeners = new Set<(keys: ApiKeyInfo[]) => void>();
  private readonly revokeListeners = new Set<(ids: string[]) => void>();
  private closed = false;

  constructor(
    dataDir: string,
    private readonly options: ApiKeyringOptions = {},
  ) {
    this.file = path.join(dataDir, 'api-keys.json');
    this.defaultKey = new ApiKeyStore(dataDir);
  }

  /** Reads the keys; the first time, the existing key (`api-key`, made if none) becomes the key named "default". */
  async open(): Promise<void> {
    await this.enqueue(() => withLock(this.file, () => this.reconcileDefault()));
  }

  /** The key named "default", as this computer's UI shows it. */
  defaultSecret(): string {
    return this.defaultKey.get();
  }

  list(): ApiKeyInfo[] {
    return this.records.map((r) => {
      const usage = addUsage(this.pending.get(r.id), this.writing.get(r.id));
      return {
        id: r.id,
        name: r.name,
        prefix: r.prefix,
        createdAt: r.createdAt,
        lastUsedAt: later(r.lastUsedAt, usage?.lastUsedAt ?? null),
        requests: r.requests + (usage?.requests ?? 0),
        tokens: r.tokens + (usage?.tokens ?? 0),
        isDefault: r.name === DEFAULT_KEY_NAME,
      };
    });
  }

  /** The key `secret` is, compared by hash in constant time; null if none (wrong, or revoked). Another process's changes are read first. */
  async identify(secret: string): Promise<KeyIdentity | null> {
    // A file that cannot be read again now (its folder gone, a full disk) leaves the keys as last read: a request
    // is never failed for it, and a revocation read before still holds.
    await this.refresh().catch((error: unknown) => this.options.log?.(`api: could not re-read the API keys: ${(error as Error).message}`));
    const given = createHash('sha256').update(secret).digest();
    let found: KeyRecord | null = null;
    // Every stored hash is compared, so the time does not say which key (or how many) there are.
    for (const record of this.records) {
      if (timingSafeEqual(given, Buffer.from(record.hash, 'hex')) && !found) found = record;
    }
    return found ? { id: found.id, name: found.name } : null;
  }

  /** Whether the key `id` is still there (not revoked since it was identified). */
  has(id: string): boolean {
    return this.records.some((r) => r.id === id);
  }

  /** Counts a request or tokens served with a key; written with the next flush. */
  recordUse(id: string, usage: { requests?: number; tokens?: number }): void {
    if (!this.has(id)) return;
    const entry = this.pending.get(id) ?? { requests: 0, tokens: 0, lastUsedAt: null };
    entry.requests += usage.requests ?? 0;
    entry.tokens += Math.max(0, Math.round(usage.tokens ?? 0));
    if (usage.requests) entry.lastUsedAt = new Date().toISOString();
    this.pending.set(id, entry);
    if (!this.flushTimer && !this.closed) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        void this.flush().catch((error: unknown) => this.options.log?.(`api: could not save the keys' usage: ${(error as Error).message}`));
      }, this.options.flushMs ?? FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  /** A new key named `name`: its secret is returned this once; only its hash is kept. */
  async create(name: string): Promise<CreatedApiKey> {
    const parsed = apiKeyNameSchema.safeParse(name);
    if (!parsed.success) throw new RpcError('invalid_input', parsed.error.issues[0]?.message ?? 'Bad key name.');
    const clean = parsed.data;
    const secret = newSecret();
    const record: KeyRecord = {
      id: newId(),
      name: clean,
      hash: sha256(secret),
      prefix: prefixOf(secret),
      createdAt: new Date().toISOString(),
      lastUsedAt: null,
      requests: 0,
      tokens: 0,
    };
    await this.change((records) => {
      if (records.some((r) => r.name.toLowerCase() === clean.toLowerCase()))
        throw new RpcError('conflict', `There is already a key named "${clean}"; choose another name.`);
      return [...records, record];
    });
    return { key: this.list().find((k) => k.id === record.id)!, secret };
  }

  /** Revokes the key `id`: requests with it get 401 from now on, and its open streams end. The default key is replaced instead. */
  async revoke(id: string): Promise<ApiKeyInfo[]> {
    await this.change((records) => {
      const record = records.find((r) => r.id === id);
      if (!record) throw new RpcError('not_found', 'No such API key (it may have been revoked already).');
      if (record.name === DEFAULT_KEY_NAME)
        throw new RpcError(
          'invalid_input',
          'The key named "default" cannot be revoked, only replaced: Hardware → Local API server → New key… (clients using it stop working).',
        );
      return records.filter((r) => r.id !== id);
    });
    return this.list();
  }

  /** A new secret for the key named "default" (a new key: the old one stops working at once, its streams included). */
  async regenerateDefault(): Promise<string> {
    await this.enqueue(() =>
      withLock(this.file, async () => {
        await this.defaultKey.regenerate();
        await this.reconcileDefault();
      }),
    );
    return this.defaultKey.get();
  }

  /** Writes the usage counted since the last flush. */
  async flush(): Promise<void> {
    // Nothing new: only the write under way, if any, to wait for.
    if (this.pending.size === 0) return void (await this.queue);
    await this.change((records) => records);
  }

  /** Follows changes another process makes to the file (a revoke from the CLI ends that key's streams within a second). */
  watch(): () => void {
    if (!this.pollTimer && !this.closed) {
      this.pollTimer = setInterval(() => void this.refresh().catch(() => undefined), this.options.pollMs ?? POLL_MS);
      this.pollTimer.unref();
    }
    return () => {
      if (this.pollTimer) clearInterval(this.pollTimer);
      this.pollTimer = null;
    };
  }

  /** The list changed (a key made, revoked or used). */
  onChange(listener: (keys: ApiKeyInfo[]) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Keys are gone (revoked, or the default key replaced): called at once, with their ids. */
  onRevoked(listener: (ids: string[]) => void): () => void {
    this.revokeListeners.add(listener);
    return () => this.revokeListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    await this.flush().catch((error: unknown) => this.options.log?.(`api: could not save the keys' usage: ${(error as Error).message}`));
    this.closed = true;
  }

  /** Reads the file again if another process changed it. */
  async refresh(): Promise<void> {
    if ((await this.fileStamp()) === this.stamp) return;
    await this.enqueue(async () => {
      const stamp = await this.fileStamp();
      if (stamp === this.stamp) return;
      const before = this.records;
      const { records, found } = await this.read();
      // Deleted (or unreadable, and kept aside): every named key with it; the default key (api-key) is written back.
      if (!found) return withLock(this.file, () => this.reconcileDefault());
      this.stamp = stamp;
      this.records = records;
      await this.followDefault();
      this.announce(before);
    });
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A change on a fresh read of the file, under the lock; the usage counted here is written with it. */
  private change(edit: (records: KeyRecord[]) => KeyRecord[]): Promise<void> {
    return this.enqueue(() =>
      withLock(this.file, async () => {
        const before = this.records;
        const { records } = await this.read();
        this.records = await this.writeWithUsage(edit(records));
        this.announce(before);
      }),
    );
  }

  /** Writes `records` with the usage counted so far added; usage counted meanwhile waits for the next write. */
  private async writeWithUsage(records: KeyRecord[]): Promise<KeyRecord[]> {
    this.writing = this.pending;
    this.pending = new Map();
    const written = records.map((r) => {
      const usage = this.writing.get(r.id);
      return usage
        ? {
            ...r,
            requests: r.requests + usage.requests,
            tokens: r.tokens + usage.tokens,
            lastUsedAt: later(r.lastUsedAt, usage.lastUsedAt),
          }
        : r;
    });
    try {
      await this.write(written);
      this.records = written;
    } catch (error) {
      // Not written: counted again with the next write.
      for (const [id, usage] of this.writing) this.pending.set(id, addUsage(this.pending.get(id), usage)!);
      throw error;
    } finally {
      this.writing = new Map();
    }
    return written;
  }

  /** Tells the listeners what changed since `before`: keys gone (revoked) first, then the new list. */
  private announce(before: KeyRecord[]): void {
    const now = new Set(this.records.map((r) => r.id));
    const gone = before.filter((r) => !now.has(r.id)).map((r) => r.id);
    for (const id of gone) this.pending.delete(id);
    if (gone.length) for (const listener of this.revokeListeners) listener(gone);
    const list = this.list();
    for (const listener of this.changeListeners) listener(list);
  }

  /** The default key (`api-key`) and its entry here agree: made or migrated, or brought up to date with a key replaced. */
  private async reconcileDefault(): Promise<void> {
    const before = this.records;
    const { records, found } = await this.read();
    await this.defaultKey.load();
    const secret = this.defaultKey.get();
    const hash = sha256(secret);
    const existing = records.find((r) => r.name === DEFAULT_KEY_NAME);
    // The same key this process knew (the file was deleted meanwhile): kept as it was, its id and use included.
    const known = this.records.find((r) => r.name === DEFAULT_KEY_NAME && r.hash === hash);
    let next = records;
    if (!existing && known) next = [known, ...records];
    else if (!existing || existing.hash !== hash) {
      let createdAt = new Date().toISOString();
      if (!found) {
        // The key from before named keys: dated as its file is.
        const stat = await fs.stat(this.defaultKey.file).catch(() => null);
        if (stat) createdAt = stat.mtime.toISOString();
      }
      const record: KeyRecord = {
        id: newId(),
        name: DEFAULT_KEY_NAME,
        hash,
        prefix: prefixOf(secret),
        createdAt,
        lastUsedAt: null,
        requests: 0,
        tokens: 0,
      };
      next = [record, ...records.filter((r) => r.name !== DEFAULT_KEY_NAME)];
    }
    if (next !== records || !found) {
      next = await this.writeWithUsage(next);
    } else {
      this.stamp = await this.fileStamp();
    }
    this.records = next;
    this.announce(before);
  }

  /** Another process replaced the default key: read the new one, so that this computer's UI shows it. */
  private async followDefault(): Promise<void> {
    const entry = this.records.find((r) => r.name === DEFAULT_KEY_NAME);
    if (!entry || entry.hash === sha256(this.defaultKey.get())) return;
    const stored = (await fs.readFile(this.defaultKey.file, 'utf8').catch(() => '')).trim();
    if (sha256(stored) === entry.hash) await this.defaultKey.load();
  }

  private async read(): Promise<{ records: KeyRecord[]; found: boolean }> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], found: false };
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as { keys?: unknown };
      if (!Array.isArray(parsed.keys)) throw new Error('no "keys" list');
      return { records: parsed.keys.filter(isRecord), found: true };
    } catch (error) {
      // Kept beside it for the user to look at; the keys it held stop working (the safe way to fail) until it is restored.
      const aside = `${this.file}.corrupt-${Date.now()}`;
      await fs.rename(this.file, aside).catch(() => undefined);
      this.options.log?.(
        `api: ${path.basename(this.file)} is unreadable (${(error as Error).message}); kept as ${path.basename(aside)}, named keys must be made again`,
      );
      return { records: [], found: false };
    }
  }

  private async write(records: KeyRecord[]): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify({ version: FILE_VERSION, keys: records }, null, 2)}\n`);
    this.stamp = await this.fileStamp();
  }

  private async fileStamp(): Promise<string> {
    try {
      const stat = await fs.stat(this.file);
      return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
    } catch {
      return 'none';
    }
  }
}
