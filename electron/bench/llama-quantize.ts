/**
 * llama.cpp's llama-quantize for the benchmark model (bench-model.ts): on the
 * PATH, or built once into the bench cache from the llama.cpp source
 * node-llama-cpp bundles.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundledLlama, LLAMA_CMAKE_FLAGS } from '../engines/llama-engines';

/** Runs a program, keeping its last 200 lines of output in `options.log` for the error it fails with. */
export function runQuiet(command: string, args: string[], options: { cwd?: string; log: string[] }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer) => {
      options.log.push(...chunk.toString().split('\n'));
      if (options.log.length > 200) options.log.splice(0, options.log.length - 200);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(
            new Error(
              `${path.basename(command)} ${args.slice(0, 2).join(' ')} failed (${signal ?? `exit ${code}`}): ${options.log.slice(-8).join('\n')}`,
            ),
          ),
    );
  });
}

async function works(command: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

async function onPath(name: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  return null;
}

/**
 * llama-quantize: on the PATH, or built once into the cache from node-llama-cpp's
 * bundled llama.cpp source (CPU, no -march=native: a native build of this
 * version crashes repacking Q4_K). Null, with the reason, where it cannot be had.
 */
export async function findOrBuildQuantize(
  cache: string,
  log: (line: string) => void,
): Promise<{ path: string; how: string } | { path: null; why: string }> {
  if (process.env.FREEHOLD_BENCH_NO_QUANTIZE === '1') return { path: null, why: 'FREEHOLD_BENCH_NO_QUANTIZE=1' };
  const { version, bundle } = bundledLlama();
  const dir = path.join(cache, `llama.cpp-${version.replace(/[^\w.-]/g, '_')}-quantize`);
  const binary = path.join(dir, 'bin', process.platform === 'win32' ? 'llama-quantize.exe' : 'llama-quantize');
  if (existsSync(binary)) return { path: binary, how: `built earlier in ${dir}` };
  const installed = await onPath('llama-quantize');
  if (installed) return { path: installed, how: 'on the PATH' };
  if (!bundle) return { path: null, why: "node-llama-cpp's llama.cpp source bundle is not installed" };
  // A build that failed once is not retried on every run (delete the file to retry).
  const failed = path.join(dir, 'build-failed.txt');
  if (existsSync(failed))
    return { path: null, why: `building it failed earlier (${readFileSync(failed, 'utf8').trim()}; delete ${failed} to retry)` };
  if (!(await works('cmake', ['--version']))) return { path: null, why: 'cmake is not installed' };
  if (!(await works('git', ['--version']))) return { path: null, why: 'git is not installed' };
  await fs.mkdir(cache, { recursive: true });
  const work = await fs.mkdtemp(path.join(cache, '.build-quantize-'));
  const lines: string[] = [];
  try {
    log(`bench model: building llama-quantize from llama.cpp ${version}'s bundled source (once; a few minutes on 2 cores)`);
    await runQuiet('git', ['clone', '--quiet', bundle, path.join(work, 'src')], { log: lines });
    await runQuiet('cmake', ['-S', path.join(work, 'src'), '-B', path.join(work, 'build'), ...LLAMA_CMAKE_FLAGS], { log: lines });
    const jobs = String(Math.max(1, os.availableParallelism()));
    await runQuiet('cmake', ['--build', path.join(work, 'build'), '--config', 'Release', '-j', jobs, '--target', 'llama-quantize'], {
      log: lines,
    });
    const built = [
      path.join(work, 'build', 'bin', path.basename(binary)),
      path.join(work, 'build', 'bin', 'Release', path.basename(binary)),
    ].find((candidate) => existsSync(candidate));
    if (!built) return { path: null, why: 'the build made no llama-quantize' };
    await fs.mkdir(path.dirname(binary), { recursive: true });
    await fs.copyFile(built, `${binary}.tmp`);
    await fs.chmod(`${binary}.tmp`, 0o755);
    await fs.rename(`${binary}.tmp`, binary);
    return { path: binary, how: `built now in ${dir}` };
  } catch (error) {
    const why = (error as Error).message.split('\n')[0]!;
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(failed, `${why}\n`);
    return { path: null, why: `building it failed: ${why}` };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
