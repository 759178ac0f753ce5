import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDataDir } from '../../../electron/platform/data-dir';

describe('resolveDataDir', () => {
  const home = '/home/ada';

  it('prefers --data-dir, then FREEHOLD_DATA_DIR', () => {
    expect(resolveDataDir({ flag: '/x/flag', env: { FREEHOLD_DATA_DIR: '/x/env' }, home })).toBe(path.resolve('/x/flag'));
    expect(resolveDataDir({ env: { FREEHOLD_DATA_DIR: '/x/env' }, home })).toBe(path.resolve('/x/env'));
  });

  it('uses the same per-user folder as Electron on each OS', () => {
    expect(resolveDataDir({ env: {}, platform: 'linux', home })).toBe(path.join(home, '.config', 'Freehold'));
    expect(resolveDataDir({ env: { XDG_CONFIG_HOME: '/cfg' }, platform: 'linux', home })).toBe(path.join('/cfg', 'Freehold'));
    expect(resolveDataDir({ env: {}, platform: 'darwin', home })).toBe(path.join(home, 'Library', 'Application Support', 'Freehold'));
    expect(resolveDataDir({ env: { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, platform: 'win32', home })).toBe(
      path.join('C:\\Users\\ada\\AppData\\Roaming', 'Freehold'),
    );
  });
});
