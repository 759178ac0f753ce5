import { promises as fs } from 'node:fs';
import path from 'node:path';

/** The OS keychain, where the host has one (Electron's safeStorage). */
export interface SecretCipher {
  encrypt(text: string): Buffer;
  decrypt(data: Buffer): string;
}

export type TokenStorage = 'keychain' | 'file' | 'environment' | null;
export type TokenStatus = import('../../shared/hub').HubTokenStatus;

/** An endpoint as compared for the token: no trailing slash, lower-case scheme and host. */
function normalEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`.toLowerCase();
  } catch {
    return url.replace(/\/+$/, '');
  }
}

/**
 * The Hugging Face access token for gated repos. Encrypted with the OS keychain
 * in the desktop app; elsewhere a file only this user can read. HF_TOKEN in the
 * environment wins, as in Hugging Face's own tools.
 *
 * A saved token is bound to the endpoint it was saved for (the hub, or a
 * mirror) and is sent nowhere else: whoever changes the endpoint setting does
 * not get the token sent to theirs. Saving it again binds it to the new one.
 */
export class TokenStore {
  private saved: { token: string; endpoint: string } | null = null;
  private readonly file: string;

  constructor(
    dataDir: string,
    private readonly cipher: SecretCipher | undefined,
    private readonly env: NodeJS.ProcessEnv = process.env,
    /** The endpoint requests go to now (HF_ENDPOINT, or the setting). */
    private readonly endpoint: () => string = () => 'https://huggingface.co',
  ) {
    this.file = path.join(dataDir, cipher ? 'hub-token.enc' : 'hub-token');
  }

  async load(): Promise<void> {
    let text: string;
    try {
      const data = await fs.readFile(this.file);
      text = this.cipher ? this.cipher.decrypt(data) : data.toString('utf8').trim();
    } catch {
      this.saved = null;
      return;
    }
    try {
      const stored = JSON.parse(text) as { token?: unknown; endpoint?: unknown };
      if (typeof stored.token === 'string' && stored.token && typeof stored.endpoint === 'string') {
        this.saved = { token: stored.token, endpoint: normalEndpoint(stored.endpoint) };
        return;
      }
    } catch {
      // A token saved before tokens were bound to an endpoint: the bare token.
    }
    if (!text) return;
    // Bound to the endpoint in use now, and saved that way.
    await this.set(text).catch(() => (this.saved = { token: text, endpoint: normalEndpoint(this.endpoint()) }));
  }

  /** The token to send to the endpoint in use now, if any. */
  get(): string | null {
    if (this.env.HF_TOKEN) return this.env.HF_TOKEN;
    return this.saved && this.saved.endpoint === normalEndpoint(this.endpoint()) ? this.saved.token : null;
  }

  /** Whether a token is saved, where, for which endpoint, and whether it is sent to the endpoint in use now. */
  status(): TokenStatus {
    if (this.env.HF_TOKEN) return { set: true, storage: 'environment', active: true };
    if (this.saved === null) return { set: false, storage: null, active: false };
    return {
      set: true,
      storage: this.cipher ? 'keychain' : 'file',
      endpoint: this.saved.endpoint,
      active: this.saved.endpoint === normalEndpoint(this.endpoint()),
    };
  }

  async set(token: string | null): Promise<TokenStatus> {
    if (token === null) {
      this.saved = null;
      await fs.rm(this.file, { force: true });
      return this.status();
    }
    const saved = { token, endpoint: normalEndpoint(this.endpoint()) };
    const text = JSON.stringify(saved);
    await fs.writeFile(this.file, this.cipher ? this.cipher.encrypt(text) : text, { mode: 0o600 });
    this.saved = saved;
    return this.status();
  }
}
