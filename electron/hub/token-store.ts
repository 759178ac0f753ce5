import { promises as fs } from 'node:fs';
import path from 'node:path';

/** The OS keychain, where the host has one (Electron's safeStorage). */
export interface SecretCipher {
  encrypt(text: string): Buffer;
  decrypt(data: Buffer): string;
}

export type TokenStorage = 'keychain' | 'file' | 'environment' | null;

/**
 * The Hugging Face access token for gated repos. Encrypted with the OS keychain
 * in the desktop app; elsewhere a file only this user can read. HF_TOKEN in the
 * environment wins, as in Hugging Face's own tools.
 */
export class TokenStore {
  private token: string | null = null;
  private readonly file: string;

  constructor(
    dataDir: string,
    private readonly cipher: SecretCipher | undefined,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.file = path.join(dataDir, cipher ? 'hub-token.enc' : 'hub-token');
  }

  async load(): Promise<void> {
    try {
      const data = await fs.readFile(this.file);
      this.token = this.cipher ? this.cipher.decrypt(data) : data.toString('utf8').trim() || null;
    } catch {
      this.token = null;
    }
  }

  get(): string | null {
    return this.env.HF_TOKEN || this.token;
  }

  status(): { set: boolean; storage: TokenStorage } {
    if (this.env.HF_TOKEN) return { set: true, storage: 'environment' };
    return { set: this.token !== null, storage: this.token === null ? null : this.cipher ? 'keychain' : 'file' };
  }

  async set(token: string | null): Promise<{ set: boolean; storage: TokenStorage }> {
    this.token = token;
    if (token === null) await fs.rm(this.file, { force: true });
    else await fs.writeFile(this.file, this.cipher ? this.cipher.encrypt(token) : token, { mode: 0o600 });
    return this.status();
  }
}
