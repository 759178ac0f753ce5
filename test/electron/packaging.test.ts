import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { minimatch } from 'minimatch';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestEngines, TEST_ENGINES_DIR } from '../helpers/llama-engines';

interface BuilderConfig {
  files: string[];
  extraResources: Array<{ from: string; to: string }>;
  directories: Record<string, string>;
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

const binaries = [...listFiles('node_modules/@node-llama-cpp'), ...listFiles('node_modules/node-llama-cpp/bins')].filter((file) =>
  /\/bins\//.test(file),
);

describe('packaging (electron-builder.yml)', () => {
  it('lists as dependencies only what the Node side imports; what only the renderer imports is a devDependency (Vite bundles it)', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    const sources = [...listFiles('electron'), ...listFiles('shared')]
      .filter((file) => /\.tsx?$/.test(file))
      .map((file) => readFileSync(file, 'utf8'));
    const imported = (name: string) =>
      sources.some((text) => text.includes(`from '${name}'`) || text.includes(`from '${name}/`) || text.includes(`import('${name}`));
    expect(Object.keys(pkg.dependencies).filter((name) => !imported(name))).toEqual([]);
    const renderer = listFiles('renderer')
      .filter((file) => /\.tsx?$/.test(file))
      .map((file) => readFileSync(file, 'utf8'));
    const rendererOnly = ['react', 'react-dom', 'react-markdown', 'rehype-highlight', 'wouter', '@tanstack/react-virtual'];
    expect(rendererOnly.filter((name) => renderer.some((text) => text.includes(`from '${name}`)))).toEqual(rendererOnly);
  });

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
});

/** Electron's fuse wire: this sentinel, then the wire version (1), its length, and one byte per fuse ('0' off, '1' on). */
const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** electronFuses keys in wire order (@electron/fuses, FuseV1Options). */
const fuseOrder = [
  'runAsNode',
  'enableCookieEncryption',
  'enableNodeOptionsEnvironmentVariable',
  'enableNodeCliInspectArguments',
  'enableEmbeddedAsarIntegrityValidation',
  'onlyLoadAppFromAsar',
  'loadBrowserProcessSpecificV8Snapshot',
  'grantFileProtocolExtraPrivileges',
];

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync(command, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0)
    throw new Error(`${[command, ...args].join(' ')} failed (${result.status ?? result.signal}):\n${output.slice(-4000)}`);
  return output;
}

/**
 * The real electron-builder run, offline: the app is built into a private
 * folder (a concurrent `npm run build` cannot change it mid-pack), and the
 * Electron runtime is a stub that carries only the fuse wire, which is all
 * electron-builder touches in the binary for a `dir` target. Linux only: the
 * stub stands in for the Linux layout (a macOS build needs an .app bundle).
 */
describe.skipIf(process.platform !== 'linux')('the packaged app (electron-builder --linux dir, offline, stub Electron)', () => {
  const require = createRequire(import.meta.url);
  const asar = require('@electron/asar') as typeof import('@electron/asar');
  const electronVersion = (JSON.parse(readFileSync('node_modules/electron/package.json', 'utf8')) as { version: string }).version;
  // The ABI Electron's main process requires of a non-N-API module (NODE_MODULE_VERSION), shipped with the electron package.
  const electronAbi = readFileSync('node_modules/electron/abi_version', 'utf8').trim();
  let work: string;
  let resources: string;
  let executable: string;
  let cache: string;
  let entries: string[];

  beforeAll(async () => {
    await ensureTestEngines();
    work = mkdtempSync(path.join(os.tmpdir(), 'freehold-pack-'));
    const dist = path.join(work, 'app', 'dist');
    run(process.execPath, ['scripts/build-node.mjs', '--quiet', '--outdir', path.join(dist, 'electron')]);
    run(process.execPath, [
      'node_modules/vite/bin/vite.js',
      'build',
      '--logLevel',
      'error',
      '--outDir',
      path.join(dist, 'renderer'),
      '--emptyOutDir',
    ]);

    const electronDist = path.join(work, 'electron-dist');
    const defaults = '10110001'; // as in Electron's own binary
    mkdirSync(electronDist);
    writeFileSync(
      path.join(electronDist, 'electron'),
      Buffer.concat([Buffer.from('stub Electron\n'), Buffer.from(FUSE_SENTINEL), Buffer.from([1, defaults.length]), Buffer.from(defaults)]),
      { mode: 0o755 },
    );

    // The checked-in config, with the app's own files taken from the private build.
    const appFiles = ['dist/**/*', '!dist/**/*.map'];
    expect(config.files.slice(0, 2)).toEqual(appFiles);
    // llama.cpp's programs, staged as `npm run dist` stages them (the suite's cached build of them).
    const engines = path.join(work, 'dist-engines');
    run(process.execPath, ['scripts/stage-engines.mjs', '--out', engines], { ...process.env, FREEHOLD_ENGINES_DIR: TEST_ENGINES_DIR });
    expect(config.extraResources).toEqual([{ from: 'dist-engines', to: 'engines' }]);
    const output = path.join(work, 'out');
    const packConfig = {
      ...config,
      extraResources: [{ from: engines, to: 'engines' }],
      files: [{ from: dist, to: 'dist', filter: ['**/*', '!**/*.map'] }, ...config.files.slice(2)],
      directories: { ...config.directories, output },
      electronDist,
      electronVersion,
    };
    const configFile = path.join(work, 'electron-builder.json');
    writeFileSync(configFile, JSON.stringify(packConfig));

    cache = path.join(work, 'cache');
    const arch = process.arch === 'arm64' ? '--arm64' : '--x64';
    run(process.execPath, ['node_modules/electron-builder/cli.js', '--linux', 'dir', arch, '--config', configFile, '--publish', 'never'], {
      ...process.env,
      // Any download would land here (and, through the dead proxy, fail): the test checks that none was tried.
      ELECTRON_BUILDER_CACHE: cache,
      ELECTRON_CACHE: cache,
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      https_proxy: 'http://127.0.0.1:9',
      http_proxy: 'http://127.0.0.1:9',
      NO_PROXY: '',
      no_proxy: '',
    });
    const unpacked = readdirSync(output).find((name) => name.startsWith('linux') && name.endsWith('unpacked'));
    if (!unpacked) throw new Error(`electron-builder left no linux-*unpacked folder in ${output}`);
    resources = path.join(output, unpacked, 'resources');
    executable = path.join(output, unpacked, 'freehold');
    entries = asar.listPackage(path.join(resources, 'app.asar'), { isPack: false }).map((entry) =>
      entry
        .replace(/^[\\/]/, '')
        .split(path.sep)
        .join('/'),
    );
  }, 240_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const stat = (entry: string) => asar.statFile(path.join(resources, 'app.asar'), entry) as { unpacked?: boolean };

  it("ships llama.cpp's programs for this platform, which start, and which the app finds there", async () => {
    const bin = path.join(resources, 'engines', 'bin');
    for (const name of ['llama-server', 'ggml-rpc-server']) expect(existsSync(path.join(bin, name)), name).toBe(true);
    const info = JSON.parse(readFileSync(path.join(resources, 'engines', 'engine.json'), 'utf8')) as { version: string; backend: string };
    expect(info.version).toMatch(/\S/);
    const version = spawnSync(path.join(bin, 'llama-server'), ['--version'], { encoding: 'utf8', timeout: 60_000 });
    expect(version.status, version.stderr).toBe(0);
    expect(`${version.stdout}${version.stderr}`).toMatch(/version: \d+/);
    const devices = spawnSync(path.join(bin, 'llama-server'), ['--list-devices'], { encoding: 'utf8', timeout: 60_000 });
    expect(devices.status, devices.stderr).toBe(0);
    expect(devices.stdout).toMatch(/^Available devices:/m);
    const { findEngines } = await import('../../electron/engines/llama-engines');
    const empty = mkdtempSync(path.join(os.tmpdir(), 'freehold-no-engines-'));
    try {
      const status = await findEngines({
        dataDir: empty,
        env: { PATH: process.env.PATH, FREEHOLD_IGNORE_PATH_ENGINES: '1', FREEHOLD_ENGINES_DIR: empty },
        resourcesDir: resources,
      });
      expect(status.found).toMatchObject({ source: 'bundled', llamaServer: path.join(bin, 'llama-server'), backend: info.backend });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('builds without downloading anything', () => {
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });

  it('packs the renderer, the main process, the preload and the inference worker, without source maps', () => {
    for (const file of [
      'dist/renderer/index.html',
      'dist/electron/main.mjs',
      'dist/electron/preload.cjs',
      'dist/electron/worker.mjs',
      'package.json',
    ]) {
      expect(entries, file).toContain(file);
    }
    expect(entries.filter((entry) => entry.startsWith('dist/') && entry.endsWith('.map'))).toEqual([]);
    const pkg = JSON.parse(asar.extractFile(path.join(resources, 'app.asar'), 'package.json').toString()) as { main: string };
    expect(pkg.main).toBe('dist/electron/main.mjs');
  });

  it("ships node-llama-cpp's binaries for this platform only, outside the asar", () => {
    const binaries = entries.filter((entry) => /^node_modules\/(@node-llama-cpp\/[^/]+|node-llama-cpp)\/bins\/.+\.node$/.test(entry));
    expect(binaries.length, 'no node-llama-cpp binary in the package').toBeGreaterThan(0);
    expect(binaries.filter((entry) => !entry.includes(`/bins/linux-${process.arch}`))).toEqual([]);
    expect(entries.filter((entry) => /\/bins\//.test(entry) && !entry.includes(`linux-${process.arch}`))).toEqual([]);
  });

  it("holds only native modules Electron can load: each unpacked, and N-API or built for Electron's ABI", () => {
    const natives = entries.filter((entry) => entry.endsWith('.node'));
    expect(natives.length).toBeGreaterThan(0);
    const refused = natives.flatMap((entry) => {
      if (!stat(entry).unpacked) return [`${entry}: inside the asar, where it cannot be loaded`];
      const bytes = readFileSync(path.join(resources, 'app.asar.unpacked', entry));
      if (bytes.includes('napi_register_module_v') || bytes.includes(`node_register_module_v${electronAbi}\0`)) return [];
      const abi = /node_register_module_v(\d+)/.exec(bytes.toString('latin1'))?.[1];
      return [
        `${entry}: ${abi ? `built for module ABI ${abi}, Electron ${electronVersion} needs ${electronAbi}` : 'neither N-API nor a Node module'}`,
      ];
    });
    expect(refused).toEqual([]);
  });

  it("ships the chats' SQLite binding (libsql, N-API) with what it needs, and no better-sqlite3", () => {
    for (const file of ['node_modules/libsql/index.js', 'node_modules/@neon-rs/load/package.json']) expect(entries, file).toContain(file);
    expect(entries.some((entry) => /^node_modules\/(libsql\/node_modules\/)?detect-libc\/package\.json$/.test(entry))).toBe(true);
    const bindings = entries.filter((entry) => /^node_modules\/@libsql\/linux-[^/]+\/index\.node$/.test(entry));
    expect(bindings.length, 'no prebuilt libsql binding for Linux in the package').toBeGreaterThan(0);
    // The packaged binary itself loads (N-API: the same file serves Node and Electron).
    const host = bindings.find((entry) => entry.includes(`linux-${process.arch}-gnu`));
    if (host)
      expect(typeof (require(path.join(resources, 'app.asar.unpacked', host)) as { databaseOpen?: unknown }).databaseOpen).toBe('function');
    expect(entries.filter((entry) => /better[-_]sqlite3/.test(entry))).toEqual([]);
  });

  it("ships pdf.js's Node build with its fonts and character maps for documents in chat, without its canvas or viewer", () => {
    for (const file of [
      'node_modules/pdfjs-dist/legacy/build/pdf.mjs',
      'node_modules/pdfjs-dist/legacy/build/pdf.worker.mjs',
      'node_modules/pdfjs-dist/package.json',
      'node_modules/mammoth/package.json',
      'node_modules/htmlparser2/package.json',
    ])
      expect(entries, file).toContain(file);
    expect(entries.some((entry) => entry.startsWith('node_modules/pdfjs-dist/cmaps/'))).toBe(true);
    expect(entries.some((entry) => entry.startsWith('node_modules/pdfjs-dist/standard_fonts/'))).toBe(true);
    expect(entries.filter((entry) => /^node_modules\/(@napi-rs\/canvas|pdfjs-dist\/(build|web)\/)/.test(entry))).toEqual([]);
  });

  it('carries only what runs in Node: no package that only the renderer bundle needs (Vite bundles those)', () => {
    const rendererOnly = ['react', 'react-dom', 'react-markdown', 'rehype-highlight', 'wouter', '@tanstack/react-virtual', 'highlight.js'];
    const shipped = rendererOnly.filter((name) => entries.some((entry) => entry.startsWith(`node_modules/${name}/`)));
    expect(shipped).toEqual([]);
    // What the Node side does need is there.
    for (const name of ['fastify', 'ajv', '@modelcontextprotocol/sdk', 'node-llama-cpp'])
      expect(
        entries.some((entry) => entry.startsWith(`node_modules/${name}/`)),
        name,
      ).toBe(true);
  });

  it('hardens the packaged executable with its fuses: no running as Node, no inspector, only its own checked asar', () => {
    const binary = readFileSync(executable);
    const at = binary.indexOf(FUSE_SENTINEL) + FUSE_SENTINEL.length;
    const wire = [...binary.subarray(at + 2, at + 2 + binary[at + 1]!)].map((byte) => String.fromCharCode(byte));
    const fuses = Object.fromEntries(fuseOrder.map((name, i) => [name, wire[i] === '1']));
    expect(fuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
    });
    // The rest as electron-builder.yml sets them.
    expect(fuses).toEqual(Object.fromEntries(fuseOrder.map((name) => [name, config.electronFuses[name] ?? fuses[name]])));
  });
});
