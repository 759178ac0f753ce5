import { promises as fs } from 'node:fs';
import path from 'node:path';
import { applySettingsPatch, defaultSettings, settingsSchema, type Settings, type SettingsPatch } from '../../shared/settings';
import { SerialFileWriter } from '../platform/atomic-file';

export interface SettingsLoadResult {
  settings: Settings;
  /** Set when the file existed but could not be used; says where the old file was kept. */
  problem?: string;
}

/**
 * Settings in <dataDir>/settings.json, written atomically. A corrupt file is
 * moved aside (never deleted: the user's data is not ours to lose), reported,
 * and replaced by defaults.
 */
export class SettingsStore {
  private current: Settings = defaultSettings;
  private readonly writer: SerialFileWriter;
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'settings.json');
    this.writer = new SerialFileWriter(this.file);
  }

  async load(): Promise<SettingsLoadResult> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.current = defaultSettings;
        return { settings: this.current };
      }
      throw error;
    }
    const reason = this.parse(text);
    if (reason === undefined) return { settings: this.current };

    const kept = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await fs.rename(this.file, kept).catch(() => undefined);
    this.current = defaultSettings;
    await this.persist(this.current);
    return {
      settings: this.current,
      problem: `Settings file was unreadable (${reason}); defaults are in use and the old file was kept as ${path.basename(kept)}.`,
    };
  }

  private parse(text: string): string | undefined {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return 'not valid JSON';
    }
    const parsed = settingsSchema.safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      return `invalid value at ${first?.path.join('.') || 'top level'}`;
    }
    this.current = parsed.data;
    return undefined;
  }

  get(): Settings {
    return this.current;
  }

  async update(patch: SettingsPatch): Promise<Settings> {
    const next = settingsSchema.parse(applySettingsPatch(this.current, patch));
    this.current = next;
    await this.persist(next);
    return next;
  }

  private persist(settings: Settings): Promise<void> {
    return this.writer.write(`${JSON.stringify(settings, null, 2)}\n`);
  }

  /** Resolves when every queued write has reached the disk. */
  flush(): Promise<void> {
    return this.writer.flush();
  }
}
