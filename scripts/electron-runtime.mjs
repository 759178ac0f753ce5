// The Electron runtime (about 100 MB) is not a condition of `npm install`:
// Electron's own install script, which downloads it from GitHub, is not in
// package.json's allowScripts, so `npm install` succeeds on a machine that
// reaches only the npm registry. `npm start` calls ensureElectronRuntime()
// instead: it downloads the runtime with a progress line (through Electron's
// own downloader, @electron/get, verified against the checksums shipped in the
// electron package, honouring ELECTRON_MIRROR and the usual npm config), then
// runs Electron's own installer, which finds the verified zip in the cache
// and unpacks it. A failure is remembered for an hour so an offline machine
// does not wait at every start.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const RETRY_AFTER_MS = 60 * 60 * 1000;

/** Where the electron package lives, or undefined if it is not installed at all. */
export function electronPackageDir(from = import.meta.url) {
  try {
    return path.dirname(createRequire(from).resolve('electron/package.json'));
  } catch {
    return undefined;
  }
}

function platformPath(platform = process.platform) {
  if (platform === 'darwin' || platform === 'mas') return 'Electron.app/Contents/MacOS/Electron';
  if (platform === 'win32') return 'electron.exe';
  return 'electron';
}

/** The runtime's executable if it is installed and matches the package's version (install.js's own test). */
export function installedElectron(electronDir) {
  if (!electronDir) return undefined;
  try {
    const { version } = JSON.parse(readFileSync(path.join(electronDir, 'package.json'), 'utf8'));
    if (readFileSync(path.join(electronDir, 'dist', 'version'), 'utf8').replace(/^v/, '') !== version) return undefined;
    if (readFileSync(path.join(electronDir, 'path.txt'), 'utf8') !== platformPath()) return undefined;
  } catch {
    return undefined;
  }
  const binary = path.join(electronDir, 'dist', platformPath());
  return existsSync(binary) ? binary : undefined;
}

function stateFile(electronDir) {
  return path.join(electronDir, '..', '.cache', 'freehold', 'electron-runtime.json');
}

/** The last failed attempt, if it was less than an hour ago. */
export function recentFailure(electronDir, now = Date.now()) {
  try {
    const state = JSON.parse(readFileSync(stateFile(electronDir), 'utf8'));
    if (typeof state.failedAt === 'number' && now - state.failedAt < RETRY_AFTER_MS) return state;
  } catch {
    // no record
  }
  return undefined;
}

function remember(electronDir, state) {
  try {
    mkdirSync(path.dirname(stateFile(electronDir)), { recursive: true });
    writeFileSync(stateFile(electronDir), JSON.stringify(state));
  } catch {
    // a read-only node_modules only means the next start tries again
  }
}

function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

/** The first line of an error, without the stack, as a user would want it. */
function reasonOf(error) {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0].trim() || 'unknown error';
}

/**
 * Downloads and installs the runtime. Resolves to { binary } or { error } (one line);
 * never throws. `log` receives progress text; `progress` a line that replaces the last.
 */
export async function fetchElectronRuntime({ electronDir, log = console.log, progress, env = process.env } = {}) {
  if (!electronDir) return { error: 'the electron package is not installed (run npm install)' };
  const require = createRequire(path.join(electronDir, 'package.json'));
  const { version } = require('./package.json');
  let downloadArtifact;
  try {
    ({ downloadArtifact } = require('@electron/get'));
  } catch (error) {
    return { error: `Electron's downloader (@electron/get) is missing: ${reasonOf(error)}` };
  }
  const write =
    progress ??
    ((line) => {
      if (process.stdout.isTTY) process.stdout.write(`\r${line}\x1b[K`);
    });
  log(`Fetching the Electron runtime ${version} for ${process.platform}-${process.arch} (once, about 100 MB)…`);
  let lastShown = 0;
  try {
    await downloadArtifact({
      version,
      artifactName: 'electron',
      platform: process.platform,
      arch: process.arch,
      cacheRoot: env.electron_config_cache,
      checksums: require('./checksums.json'),
      downloadOptions: {
        quiet: true,
        timeout: { lookup: 10_000, connect: 15_000, response: 30_000 },
        retry: { limit: 1 },
        getProgressCallback: async ({ percent, transferred, total }) => {
          const now = Date.now();
          if (now - lastShown < 250 && percent < 1) return;
          lastShown = now;
          write(`  ${(percent * 100).toFixed(0).padStart(3)}%  ${formatMB(transferred)} of ${total ? formatMB(total) : '?'}`);
        },
      },
    });
    if (process.stdout.isTTY && !progress) process.stdout.write('\n');
  } catch (error) {
    if (process.stdout.isTTY && !progress && lastShown) process.stdout.write('\n');
    const reason = reasonOf(error);
    remember(electronDir, { failedAt: Date.now(), reason });
    return { error: reason };
  }
  // Electron's own installer: the zip is in the cache now, verified, so it only unpacks it.
  const install = spawnSync(process.execPath, [path.join(electronDir, 'install.js')], {
    cwd: electronDir,
    env: { ...env, ELECTRON_SKIP_BINARY_DOWNLOAD: '' },
    encoding: 'utf8',
  });
  const binary = installedElectron(electronDir);
  if (install.status !== 0 || !binary) {
    const reason = `Electron's installer failed: ${reasonOf(install.stderr || install.stdout || `exit ${install.status}`)}`;
    remember(electronDir, { failedAt: Date.now(), reason });
    return { error: reason };
  }
  remember(electronDir, {});
  log(`Electron ${version} installed.`);
  return { binary };
}

/**
 * The runtime's executable, fetched if needed. Returns { binary } or { error, tried }
 * (tried: false when a recent failure was remembered and `retry` was not asked for).
 */
export async function ensureElectronRuntime({ electronDir = electronPackageDir(), retry = false, log, progress, env } = {}) {
  const binary = installedElectron(electronDir);
  if (binary) return { binary };
  if (!electronDir) return { error: 'the electron package is not installed (run npm install)', tried: false };
  const failure = retry ? undefined : recentFailure(electronDir);
  if (failure) {
    const minutes = Math.max(1, Math.round((Date.now() - failure.failedAt) / 60_000));
    return { error: `${failure.reason} (${minutes} min ago)`, tried: false };
  }
  const result = await fetchElectronRuntime({ electronDir, log, progress, env });
  return result.binary ? result : { ...result, tried: true };
}
