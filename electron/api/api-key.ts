import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../platform/atomic-file';

/**
 * The local API's bearer key: made once, kept in the data folder (readable by
 * this user only) so that clients configured with it keep working across
 * restarts, and replaced only when the user asks.
 */
export class ApiKeyStore {
  private key: string | undefined;
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'api-key');
  }

  async load(): Promise<string> {
    try {
      const stored = (await readFile(this.file, 'utf8')).trim();
      if (/^fh-[A-Za-z0-9_-]{32,}$/.test(stored)) {
        this.key = stored;
        return stored;
      }
    } catch {
      // No key yet: make one.
    }
    return this.regenerate();
  }

  get(): string {
    if (!this.key) throw new Error('The API key has not been loaded.');
    return this.key;
  }

  async regenerate(): Promise<string> {
    const key = `fh-${randomBytes(32).toString('base64url')}`;
    await writeFileAtomic(this.file, `${key}\n`); // 0600: this user only
    this.key = key;
    return key;
  }
}
