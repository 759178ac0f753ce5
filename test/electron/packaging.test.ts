import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { minimatch } from 'minimatch';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

interface BuilderConfig {
  files: string[];
  asarUnpack: string[];
  asar: boolean;
  npmRebuild: boolean;
  electronFuses: Record<string, boolean>;
  linux: { target: Array<{ target: string }> };
  win: { target: Array<{ target: string }> };
  mac: { target: Array<{ target: string }> };
}

const config = parse(readFileSync('electron-builder.yml', 'utf8')) as BuilderConfig;
const osName = ({ darwin: 'mac', win32: 'win' } as Record<string, string>)[process.platform] ?? process.platform;

function expand(pattern: string, os = osName, arch = process.arch): string {
  return pattern.replaceAll('${os}', os).replaceAll('${arch}', arch);
}

function listFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [full.split(path.sep).join('/')];
  });
}

/** electron-builder's rule: patterns apply in order, a later match (or "!" exclusion) wins. */
function isPackaged(file: string, os = osName, arch = process.arch): boolean {
  let included = file.startsWith('node_modules/');
  for (const raw of config.files) {
    const negated = raw.startsWith('!');
    const pattern = expand(negated ? raw.slice(1) : raw, os, arch);
    if (minimatch(file, pattern, { dot: true })) included = !negated;
  }
  return included;
}

function isUnpacked(file: string): boolean {
  return config.asarUnpack.some((pattern) => minimatch(file, pattern) || minimatch(file, `${pattern}/**`));
}

const binaries = [...listFiles('node_modules/@node-llama-cpp'), ...listFiles('node_modules/node-llama-cpp/bins')].filter(
  (file) => /\/bins\//.test(file),
);

describe('packaging (electron-builder.yml)', () => {
  it("passes electron-builder's own schema validation", async () => {
    // The same check `electron-builder` runs before packaging, without needing Electron.
    const require = createRequire(import.meta.url);
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
      validateConfiguration: (config: unknown, logger: unknown) => Promise<void>;
    };
    const fresh = () => parse(readFileSync('electron-builder.yml', 'utf8')) as Record<string, unknown>;
    await expect(validateConfiguration(fresh(), { add() {}, isEnabled: false })).resolves.toBeUndefined();
    const broken = fresh();
    (broken.electronFuses as Record<string, unknown>).runAsNodee = false;
    await expect(validateConfiguration(broken, { add() {}, isEnabled: false })).rejects.toThrow(/electronFuses/);
  });

  it('builds AppImage and deb for Linux, nsis for Windows, dmg for macOS', () => {
    expect(config.linux.target.map((t) => t.target)).toEqual(expect.arrayContaining(['AppImage', 'deb']));
    expect(config.win.target.map((t) => t.target)).toContain('nsis');
    expect(config.mac.target.map((t) => t.target)).toContain('dmg');
    expect(config.asar).toBe(true);
    expect(config.npmRebuild).toBe(true);
  });

  it('flips the Electron fuses that harden the binary', () => {
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
    });
  });

  it('finds node-llama-cpp binaries installed for this platform', () => {
    const mine = binaries.filter((file) => file.includes(`/${osName}-${process.arch}`));
    expect(mine.length, `no node-llama-cpp binaries for ${osName}-${process.arch} under node_modules`).toBeGreaterThan(0);
    expect(mine.some((file) => file.endsWith('.node'))).toBe(true);
  });

  it("packages this platform's binaries, outside the asar", () => {
    const mine = binaries.filter((file) => file.includes(`/${osName}-${process.arch}`));
    const missing = mine.filter((file) => !isPackaged(file));
    expect(missing).toEqual([]);
    const packed = mine.filter((file) => !isUnpacked(file));
    expect(packed).toEqual([]);
  });

  it("leaves out other platforms' binaries", () => {
    const foreign = binaries.filter((file) => !file.includes(`/${osName}-${process.arch}`));
    expect(foreign.filter((file) => isPackaged(file))).toEqual([]);
    // And for a build for another target, this platform's binaries are left out in turn.
    const mine = binaries.filter((file) => file.includes(`/${osName}-${process.arch}`));
    expect(mine.filter((file) => isPackaged(file, 'win', 'arm64'))).toEqual([]);
  });

  it('ships the built app but not source maps', () => {
    expect(isPackaged('dist/electron/main.mjs')).toBe(true);
    expect(isPackaged('dist/renderer/index.html')).toBe(true);
    expect(isPackaged('dist/electron/main.mjs.map')).toBe(false);
    const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(pkg.main).toBe('dist/electron/main.mjs');
  });
});
