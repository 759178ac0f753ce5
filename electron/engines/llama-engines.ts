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
import { PINNED_RELEASES, platformKey, type ReleaseTable } from './llama-releases';

export type EngineSource = 'path' | 'download' | 'build';

export interface EngineBinaries {
  llamaServer: string;
  rpcServer: string;
  source: EngineSource;
  version: string;
  backend: 'cpu';
  /** Why this one, in words. */
  reason: string;
}

export interface EnginesStatus {
  version: string;
  found: EngineBinaries | null;
  /** What each way to get them said. */
  attempts: Array<{ source: 'path' | 'download' | 'build'; outcome: 'used' | 'unavailable' | 'available'; reason: string }>;
  /** Where a build goes (and is reused from). */
  buildDir: string;
  canBuild: { ok: boolean; reason: string };
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

export async function findEngines(options: { dataDir: string; env?: NodeJS.ProcessEnv; releases?: ReleaseTable }): Promise<EnginesStatus> {
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
  const built = {
    llamaServer: path.join(buildDir, 'bin', exe('llama-server')),
    rpcServer: path.join(buildDir, 'bin', exe('ggml-rpc-server')),
  };
  const haveBuild = (await executable(built.llamaServer)) && (await executable(built.rpcServer));
  if (haveBuild) {
    const reason = `Built here from llama.cpp ${version}'s source (CPU), in ${buildDir}.`;
    if (!found) found = { ...built, source: 'build', version, backend: 'cpu', reason };
    attempts.push({ source: 'build', outcome: found.source === 'build' ? 'used' : 'available', reason });
  }
  let canBuild: EnginesStatus['canBuild'];
  // (A verified download, where one is pinned, comes before a build: see SplitService.ensureEngines.)
  if (!bundle) canBuild = { ok: false, reason: "node-llama-cpp's llama.cpp source bundle is not installed." };
  else if (!(await commandWorks('cmake', ['--version'])))
    canBuild = { ok: false, reason: 'cmake is not installed (e.g. apt-get install cmake g++).' };
  else if (!(await commandWorks('git', ['--version'])))
    canBuild = { ok: false, reason: 'git is not installed (needed to unpack the source bundle).' };
  else canBuild = { ok: true, reason: `Can build llama.cpp ${version} here with cmake (about 5 minutes on 2 cores).` };
  if (!haveBuild)
    attempts.push({ source: 'build', outcome: 'unavailable', reason: canBuild.ok ? `Not built yet. ${canBuild.reason}` : canBuild.reason });
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
 * engines folder: the CPU backend, RPC on, no curl, and no -march=native (a
 * native build of this version crashes repacking Q4_K weights on some CPUs).
 * Statically linked, so the two programs need nothing beside them.
 */
export async function buildEngines(options: {
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (progress: BuildProgress) => void;
  jobs?: number;
}): Promise<EngineBinaries> {
  const env = options.env ?? process.env;
  const { version, bundle } = bundledLlama();
  if (!bundle) throw new RpcError('unavailable', "node-llama-cpp's llama.cpp source bundle is not installed.");
  const dir = buildDirFor(enginesRoot(options.dataDir, env), version);
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const work = await fs.mkdtemp(path.join(path.dirname(dir), '.build-'));
  const log: string[] = [];
  const progress = (step: BuildProgress['step'], fraction: number, line: string) => options.onProgress?.({ step, fraction, line });
  try {
    progress('unpack', 0, `Unpacking llama.cpp ${version}'s source`);
    await run('git', ['clone', '--quiet', bundle, path.join(work, 'src')], { log });
    progress('configure', 0, 'Configuring (cmake)');
    await run('cmake', ['-S', path.join(work, 'src'), '-B', path.join(work, 'build'), ...LLAMA_CMAKE_FLAGS], { log });
    const jobs = String(options.jobs ?? Math.max(1, os.availableParallelism()));
    await run(
      'cmake',
      ['--build', path.join(work, 'build'), '--config', 'Release', '-j', jobs, '--target', 'llama-server', 'ggml-rpc-server'],
      {
        log,
        onLine: (line) => {
          const match = /^\[\s*(\d+)%\]/.exec(line);
          if (match) progress('build', Number(match[1]) / 100, line);
        },
      },
    );
    progress('install', 1, 'Installing');
    const bin = path.join(dir, 'bin');
    await fs.mkdir(bin, { recursive: true });
    for (const name of ['llama-server', 'ggml-rpc-server']) {
      const candidates = [path.join(work, 'build', 'bin', exe(name)), path.join(work, 'build', 'bin', 'Release', exe(name))];
      const from = candidates.find((c) => existsSync(c));
      if (!from) throw new RpcError('internal', `The build made no ${name}.`);
      await fs.copyFile(from, path.join(bin, `.${exe(name)}.tmp`));
      await fs.chmod(path.join(bin, `.${exe(name)}.tmp`), 0o755);
      await fs.rename(path.join(bin, `.${exe(name)}.tmp`), path.join(bin, exe(name)));
    }
    await fs.writeFile(
      path.join(dir, 'engine.json'),
      JSON.stringify({ version, backend: 'cpu', builtAt: new Date().toISOString() }, null, 2),
    );
    return {
      llamaServer: path.join(bin, exe('llama-server')),
      rpcServer: path.join(bin, exe('ggml-rpc-server')),
      source: 'build',
      version,
      backend: 'cpu',
      reason: `Built here from llama.cpp ${version}'s source (CPU), in ${dir}.`,
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
