import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SettingsStore } from '../../../electron/settings/settings-store';
import { createHostServices } from '../../../electron/services/host-services';
import { defaultSettings } from '../../../shared/settings';
import { tempDir } from '../../helpers/temp';

describe('SettingsStore', () => {
  it('starts from defaults when there is no file', async () => {
    const store = new SettingsStore(tempDir());
    const result = await store.load();
    expect(result).toEqual({ settings: defaultSettings });
  });

  it('persists an update and reads it back in a new process', async () => {
    const dir = tempDir();
    const store = new SettingsStore(dir);
    await store.load();
    await store.update({ inference: { backend: 'vulkan', threads: 3 } });
    const reopened = new SettingsStore(dir);
    const { settings } = await reopened.load();
    expect(settings.inference).toEqual({ backend: 'vulkan', threads: 3, maxVramPerGpuMiB: null, parallel: 4 });
    expect(settings.appearance.theme).toBe('system');
  });

  it('writes atomically: no temporary files are left behind', async () => {
    const dir = tempDir();
    const store = new SettingsStore(dir);
    await store.load();
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.update({ inference: { threads: i + 1 } })));
    expect(readdirSync(dir)).toEqual(['settings.json']);
    // Writes land in order: the file holds the last update.
    expect(JSON.parse(readFileSync(path.join(dir, 'settings.json'), 'utf8')).inference.threads).toBe(20);
  });

  it('replaces a corrupt file with defaults, keeps the old file, and says so', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'settings.json'), '{"version": 1, "appearance": {"theme": "da');
    const store = new SettingsStore(dir);
    const result = await store.load();
    expect(result.settings).toEqual(defaultSettings);
    expect(result.problem).toMatch(/not valid JSON/);
    const kept = readdirSync(dir).filter((name) => name.startsWith('settings.json.corrupt-'));
    expect(kept).toHaveLength(1);
    expect(readFileSync(path.join(dir, kept[0]!), 'utf8')).toContain('"theme": "da');
    expect(JSON.parse(readFileSync(path.join(dir, 'settings.json'), 'utf8'))).toEqual(defaultSettings);
  });

  it('treats well-formed JSON with invalid values as corrupt, naming the field', async () => {
    const dir = tempDir();
    writeFileSync(
      path.join(dir, 'settings.json'),
      JSON.stringify({ ...defaultSettings, inference: { ...defaultSettings.inference, backend: 'rocm9000' } }),
    );
    const result = await new SettingsStore(dir).load();
    expect(result.problem).toMatch(/inference\.backend/);
    expect(result.settings.inference.backend).toBe('auto');
  });

  it('reports a corrupt file to the user as a notice instead of failing to start', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'settings.json'), '\u0000\u0000garbage');
    const services = await createHostServices({ dataDir: dir, host: 'cli' });
    const notices = services.notices.list();
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({ level: 'warning', message: expect.stringMatching(/defaults are in use/) });
    await services.close();
  });

  it('refuses an update that the schema rejects and keeps the old value', async () => {
    const dir = tempDir();
    const store = new SettingsStore(dir);
    await store.load();
    await expect(store.update({ hub: { endpoint: 'ftp://mirror' } })).rejects.toThrow();
    expect(store.get().hub.endpoint).toBe('https://huggingface.co');
    expect(existsSync(path.join(dir, 'settings.json'))).toBe(false);
  });
});
