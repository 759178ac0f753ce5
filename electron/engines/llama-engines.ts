/**
 * llama.cpp's own programs, for what node-llama-cpp cannot do (a model split
 * across machines with the RPC backend): `llama-server` and `ggml-rpc-server`.
 * Found or obtained in this order: on the PATH; a build already made in the
 * engines folder; built here from the llama.cpp source node-llama-cpp ships
 * (its git bundle) with cmake and a C++ compiler, cached per version and
 * backend. Between the two, a managed download of llama.cpp's release for
 * this platform where its sha256 is kept in the project (llama-releases.ts).
 */
import { spawn } from 'node:child_process';
import { constants, existsSync, promises as fs, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import { chooseBuildBackend, ENGINE_BACKEND_LABELS, ENGINE_BACKENDS, engineBackendOf, type EngineBackend } from './engine-backends';
import { PINNED_RELEASES, platformKey, type ReleaseTable } from './llama-releases';

export type EngineSource = 'path' | 'download' | 'build' | 'bundled';

export interface EngineBinaries {
  llamaServer: string;
  rpcServer: string;
  source: EngineSource;
  version: string;
  /** What it was built for (its GPU backend, or the CPU); "cpu" where not known (one on the PATH). */
  backend: EngineBackend;
  /** Why this one, in words. */
  reason: string;
}

export interface EnginesStatus {
  version: string;
  found: EngineBinaries | null;
  /** What each way to get them said. */
  attempts: Array<{ source: EngineSource; outcome: 'used' | 'unavailable' | 'available'; reason: string }>;
  /** Where a build goes (and is reused from). */
  buildDir: string;
  /** Whether a build can be made here, for which backend, and why that one. */
  canBuild: { ok: boolean; reason: string; backend?: EngineBackend };
}

const exe = (name: string) => (process.platform === 'win32' ? `${name}.exe` : name);

/** The llama.cpp release node-llama-cpp bundles (its `llama.cpp.info.json`), and where its source bundle is. */
export function bundledLlama(): { version: string; bundle: string | null } {
  const require = createRequire(import.meta.url);
  try {
    // Its exports do not include package.json: find the package folder above its entry point.
    let root = path.dirname(require.resolve('node-llama-cpp'));
    while (!existsSync(path.join(root, 'llama', 'llama.cpp.info.json')) && path.dirname(root) !== root) root = path.dirname(root);
    const dir = path.join(root, 'llama');
    const info = JSON.parse(readFileSync(path.join(dir, 'llama.cpp.info.json'), 'utf8')) as { tag?: string };
    const bundle = path.join(dir, 'gitRelease.bundle');
    return { version: String(info.tag ?? 'unknown'), bundle: existsSync(bundle) ? bundle : null };
  } catch {
    return { version: 'unknown', bundle: null };
  }
}

async function executable(file: string): Promise<boolean> {
  try {
    await fs.access(file, constants.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function onPath(names: string[], env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of names) {
      const file = path.join(dir, exe(name));
      if (await executable(file)) return file;
    }
  }
  return null;
}

/** The engines folder: `<dataDir>/engines`, or FREEHOLD_ENGINES_DIR (tests and CI share one build). */
export function enginesRoot(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.FREEHOLD_ENGINES_DIR ? path.resolve(env.FREEHOLD_ENGINES_DIR) : path.join(dataDir, 'engines');
}

export function releaseDirFor(root: string, version: string, backend = 'cpu'): string {
  return path.join(root, `llama.cpp-${version.replace(/[^\w.-]/g, '_')}-${backend}-release`);
}

export function buildDirFor(root: string, version: string, backend = 'cpu'): string {
  return path.join(root, `llama.cpp-${version.replace(/[^\w.-]/g, '_')}-${backend}`);
}

async function commandWorks(command: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

/**
 * Where a packaged app keeps the llama.cpp programs it ships: `<resources>/engines`, with an engine.json saying
 * what they are (scripts/stage-engines.mjs writes both). The resources folder is Electron's, or given.
 */
export function bundledEnginesDir(resourcesDir?: string): { dir: string; version: string; backend: EngineBackend } | null {
  const resources = resourcesDir ?? (process as { resourcesPath?: string }).resourcesPath;
  if (!resources) return null;
  const dir = path.join(resources, 'engines');
  try {
    const info = JSON.parse(readFileSync(path.join(dir, 'engine.json'), 'utf8')) as { version?: string; backend?: string };
    return { dir, version: String(info.version ?? 'unknown'), backend: engineBackendOf(info.backend) ?? 'cpu' };
  } catch {
    return null;
  }
}

export async function findEngines(options: {
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  releases?: ReleaseTable;
  /** A packaged app's resources folder (default: Electron's process.resourcesPath). */
  resourcesDir?: string;
}): Promise<EnginesStatus> {
  const env = options.env ?? process.env;
  const { version, bundle } = bundledLlama();
  const attempts: EnginesStatus['attempts'] = [];
  const buildDir = buildDirFor(enginesRoot(options.dataDir, env), version);
  let found: EngineBinaries | null = null;

  const server = await onPath(['llama-server'], env);
  const rpc = await onPath(['ggml-rpc-server', 'rpc-server'], env);
  if (server && rpc && env.FREEHOLD_IGNORE_PATH_ENGINES !== '1') {
    found = {
      llamaServer: server,
      rpcServer: rpc,
      source: 'path',
      version: 'installed',
      backend: 'cpu',
      reason: `llama.cpp installed on the PATH (${server}).`,
    };
    attempts.push({ source: 'path', outcome: 'used', reason: found.reason });
  } else {
    attempts.push({
      source: 'path',
      outcome: 'unavailable',
      reason: server ? 'llama-server is on the PATH but ggml-rpc-server is not.' : 'No llama-server on the PATH.',
    });
  }
  const release = releaseDirFor(enginesRoot(options.dataDir, env), version);
  const downloaded = {
    llamaServer: path.join(release, 'bin', exe('llama-server')),
    rpcServer: path.join(release, 'bin', exe('ggml-rpc-server')),
  };
  const pinned = (options.releases ?? PINNED_RELEASES)[version]?.[platformKey()];
  if ((await executable(downloaded.llamaServer)) && (await executable(downloaded.rpcServer))) {
    const reason = `llama.cpp ${version}'s release for ${platformKey()}, downloaded and verified (sha256), in ${release}.`;
    if (!found) found = { ...downloaded, source: 'download', version, backend: 'cpu', reason };
    attempts.push({ source: 'download', outcome: found.source === 'download' ? 'used' : 'available', reason });
  } else {
    attempts.push({
      source: 'download',
      outcome: 'unavailable',
      reason: pinned
        ? `Not downloaded yet: ${pinned.asset} (its sha256 is kept in the project) is fetched when first needed.`
        : `No verified download of llama.cpp ${version} for ${process.platform}-${process.arch} is known to this build (each would need its sha256 kept in the project).`,
    });
  }
  // Builds made here, one per backend, the best first (FREEHOLD_ENGINES_BACKEND picks one).
  const only = engineBackendOf(env.FREEHOLD_ENGINES_BACKEND);
  let haveBuild = false;
  for (const backend of ENGINE_BACKENDS) {
    if (only && backend !== only) continue;
    const dir = buildDirFor(enginesRoot(options.dataDir, env), version, backend);
    const built = { llamaServer: path.join(dir, 'bin', exe('llama-server')), rpcServer: path.join(dir, 'bin', exe('ggml-rpc-server')) };
    if (!((await executable(built.llamaServer)) && (await executable(built.rpcServer)))) continue;
    haveBuild = true;
    const reason = `Built here from llama.cpp ${version}'s source (${ENGINE_BACKEND_LABELS[backend]}), in ${dir}.`;
    if (!found) found = { ...built, source: 'build', version, backend, reason };
    attempts.push({ source: 'build', outcome: found.llamaServer === built.llamaServer ? 'used' : 'available', reason });
  }
  // The programs a packaged app ships (npm run dist stages them into its resources).
  const bundled = bundledEnginesDir(options.resourcesDir);
  if (bundled) {
    const files = {
      llamaServer: path.join(bundled.dir, 'bin', exe('llama-server')),
      rpcServer: path.join(bundled.dir, 'bin', exe('ggml-rpc-server')),
    };
    if ((await executable(files.llamaServer)) && (await executable(files.rpcServer))) {
      const reason = `Shipped with Freehold (llama.cpp ${bundled.version}, ${ENGINE_BACKEND_LABELS[bundled.backend]}), in ${bundled.dir}.`;
      if (!found) found = { ...files, source: 'bundled', version: bundled.version, backend: bundled.backend, reason };
      attempts.push({ source: 'bundled', outcome: found.source === 'bundled' ? 'used' : 'available', reason });
    }
  }
  let canBuild: EnginesStatus['canBuild'];
  // (A verified download, where one is pinned, comes before a build: see SplitService.ensureEngines.)
  if (!bundle) canBuild = { ok: false, reason: "node-llama-cpp's llama.cpp source bundle is not installed." };
  else if (!(await commandWorks('cmake', ['--version'])))
    canBuild = { ok: false, reason: 'cmake is not installed (e.g. apt-get install cmake g++).' };
  else if (!(await commandWorks('git', ['--version'])))
    canBuild = { ok: false, reason: 'git is not installed (needed to unpack the source bundle).' };
  else {
    const choice = await chooseBuildBackend(env, only).catch((error: Error) => error);
    canBuild =
      choice instanceof Error
        ? { ok: false, reason: choice.message }
        : {
            ok: true,
            backend: choice.backend,
            reason: `Can build llama.cpp ${version} here with cmake for ${ENGINE_BACKEND_LABELS[choice.backend]} (${choice.reason}) (5 to 15 minutes on 2 cores).`,
          };
  }
  if (!haveBuild)
    attempts.push({ source: 'build', outcome: 'unavailable', reason: canBuild.ok ? `Not built yet. ${canBuild.reason}` : canBuild.reason });
  else if (canBuild.ok && canBuild.backend && found && found.backend !== canBuild.backend && found.source === 'build')
    attempts.push({
      source: 'build',
      outcome: 'unavailable',
      reason: `No ${ENGINE_BACKEND_LABELS[canBuild.backend]} build yet (the ${ENGINE_BACKEND_LABELS[found.backend]} one is used): "freehold engines --build" makes one. ${canBuild.reason}`,
    });
  return { version, found, attempts, buildDir, canBuild };
}

export interface BuildProgress {
  step: 'unpack' | 'configure' | 'build' | 'install';
  /** 0..1 within the build step. */
  fraction: number;
  line: string;
}

function run(command: string, args: string[], options: { cwd?: string; onLine?: (line: string) => void; log: string[] }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let rest = '';
    const onData = (chunk: Buffer) => {
      const text = rest + chunk.toString();
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        options.log.push(line);
        if (options.log.length > 400) options.log.shift();
        options.onLine?.(line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => reject(new RpcError('unavailable', `Could not run ${command}: ${error.message}`)));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else {
        const tail =
          options.log
            .filter((l) => /error|Error|failed/.test(l))
            .slice(-5)
            .join('\n') || options.log.slice(-5).join('\n');
        reject(new RpcError('internal', `${path.basename(command)} ${args[0] ?? ''} failed (${signal ?? `exit ${code}`}):\n${tail}`));
      }
    });
  });
}

/**
 * How llama.cpp is configured for Freehold's own builds (the programs for split models here, llama-quantize for
 * the benchmark): the configuration tested. GGML_NATIVE stays off: a native build of this version crashed while
 * repacking Q4_K weights.
 */
export const LLAMA_CMAKE_FLAGS = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DGGML_RPC=ON',
  '-DLLAMA_CURL=OFF',
  '-DGGML_NATIVE=OFF',
  '-DBUILD_SHARED_LIBS=OFF',
  '-DLLAMA_BUILD_TESTS=OFF',
  '-DLLAMA_BUILD_EXAMPLES=OFF',
] as const;

/**
 * Builds `llama-server` and `ggml-rpc-server` from the bundled source into the
 * engines folder, for the backend chooseBuildBackend picks here (or the one
 * asked): RPC on, no curl, and no -march=native (a native build of this
 * version crashes repacking Q4_K weights on some CPUs). CPU, CUDA and Metal
 * builds are statically linked, so the two programs need nothing beside them;
 * the Vulkan build is shared, loads its backends at run time and has its
 * libraries (and node-llama-cpp's Vulkan backend) beside the programs.
 */
export async function buildEngines(options: {
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (progress: BuildProgress) => void;
  jobs?: number;
  /** The backend to build for (default: the best that can be built here). */
  backend?: EngineBackend;
}): Promise<EngineBinaries> {
  const env = options.env ?? process.env;
  const { version, bundle } = bundledLlama();
  if (!bundle) throw new RpcError('unavailable', "node-llama-cpp's llama.cpp source bundle is not installed.");
  const choice = await chooseBuildBackend(env, options.backend ?? engineBackendOf(env.FREEHOLD_ENGINES_BACKEND)).catch((error: Error) => {
    throw new RpcError('unavailable', error.message);
  });
  const backend = choice.backend;
  const dir = buildDirFor(enginesRoot(options.dataDir, env), version, backend);
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const work = await fs.mkdtemp(path.join(path.dirname(dir), '.build-'));
  const log: string[] = [];
  const progress = (step: BuildProgress['step'], fraction: number, line: string) => options.onProgress?.({ step, fraction, line });
  const flags = [...LLAMA_CMAKE_FLAGS.filter((f) => !(choice.shared && f.startsWith('-DBUILD_SHARED_LIBS='))), ...choice.cmake];
  const targets = ['llama-server', 'ggml-rpc-server', ...(choice.shared ? ['ggml-cpu'] : [])];
  try {
    progress('unpack', 0, `Unpacking llama.cpp ${version}'s source`);
    await run('git', ['clone', '--quiet', bundle, path.join(work, 'src')], { log });
    progress('configure', 0, `Configuring (cmake) for ${ENGINE_BACKEND_LABELS[backend]}`);
    await run('cmake', ['-S', path.join(work, 'src'), '-B', path.join(work, 'build'), ...flags], { log });
    const jobs = String(options.jobs ?? Math.max(1, os.availableParallelism()));
    await run('cmake', ['--build', path.join(work, 'build'), '--config', 'Release', '-j', jobs, '--target', ...targets], {
      log,
      onLine: (line) => {
        const match = /^\[\s*(\d+)%\]/.exec(line);
        if (match) progress('build', Number(match[1]) / 100, line);
      },
    });
    progress('install', 1, 'Installing');
    // Into a fresh folder beside the old one, then swapped in: a failed install leaves the old build as it was.
    const staging = `${dir}.new`;
    await fs.rm(staging, { recursive: true, force: true });
    const bin = path.join(staging, 'bin');
    await fs.mkdir(bin, { recursive: true });
    const built = [path.join(work, 'build', 'bin'), path.join(work, 'build', 'bin', 'Release')].find((d) => existsSync(d));
    if (!built) throw new RpcError('internal', 'The build made no programs.');
    for (const name of ['llama-server', 'ggml-rpc-server']) {
      const from = path.join(built, exe(name));
      if (!existsSync(from)) throw new RpcError('internal', `The build made no ${name}.`);
      await fs.copyFile(from, path.join(bin, exe(name)));
      await fs.chmod(path.join(bin, exe(name)), 0o755);
    }
    if (choice.shared) {
      // The libraries under every name the programs ask for (symlinks followed), and the backends loaded at run time.
      for (const name of await fs.readdir(built))
        if (/\.(so(\.\d+)*|dylib|dll)$/.test(name)) await fs.copyFile(path.join(built, name), path.join(bin, name));
      for (const file of choice.extraFiles) await fs.copyFile(file, path.join(bin, path.basename(file)));
    }
    await fs.writeFile(
      path.join(staging, 'engine.json'),
      JSON.stringify({ version, backend, reason: choice.reason, builtAt: new Date().toISOString() }, null, 2),
    );
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(staging, dir);
    return {
      llamaServer: path.join(dir, 'bin', exe('llama-server')),
      rpcServer: path.join(dir, 'bin', exe('ggml-rpc-server')),
      source: 'build',
      version,
      backend,
      reason: `Built here from llama.cpp ${version}'s source (${ENGINE_BACKEND_LABELS[backend]}), in ${dir}. ${choice.reason}`,
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
