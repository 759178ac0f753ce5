import os from 'node:os';
import path from 'node:path';
import { mkdirSync } from 'node:fs';

export const APP_DIR_NAME = 'Freehold';

/**
 * The per-user data directory. It is the same folder Electron uses for
 * userData, so the desktop app, the headless host and the CLI share one library.
 * Order: --data-dir, then FREEHOLD_DATA_DIR, then the OS default.
 */
export function resolveDataDir(options: {
  flag?: string | undefined;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  home?: string;
}): string {
  const env = options.env ?? process.env;
  if (options.flag) return path.resolve(options.flag);
  if (env.FREEHOLD_DATA_DIR) return path.resolve(env.FREEHOLD_DATA_DIR);
  return path.join(userConfigBase(options.platform ?? process.platform, env, options.home ?? os.homedir()), APP_DIR_NAME);
}

/** Matches Electron's app.getPath('appData') on each platform. */
export function userConfigBase(platform: NodeJS.Platform, env: NodeJS.ProcessEnv, home: string): string {
  if (platform === 'win32') return env.APPDATA ?? path.join(home, 'AppData', 'Roaming');
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support');
  return env.XDG_CONFIG_HOME ?? path.join(home, '.config');
}

export function ensureDataDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
