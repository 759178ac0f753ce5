// What the GPU check's steps share (run.mjs: node-llama-cpp's worker; server.mjs:
// llama.cpp's server): running a command in its own process group under a time
// limit with its output kept in a log, finding programs, and explaining a
// failure in one line.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';

export const MiB = 1024 * 1024;

export class StepFailure extends Error {
  /** `context`: lines of the failed command's output worth showing above the summary. */
  constructor(step, message, context) {
    super(message);
    this.step = step;
    this.context = context;
  }
}

export function findExecutable(command, dirs = (process.env.PATH ?? '').split(path.delimiter)) {
  for (const dir of dirs) {
    if (!dir) continue;
    const file = path.join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** The process groups still running, ended if this script is stopped. */
const running = new Set();
let signalsHandled = false;

export function endChildrenOnSignals() {
  if (signalsHandled) return;
  signalsHandled = true;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      for (const pid of running) killGroup(pid);
      process.exit(130);
    });
  }
}

export function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs one command in its own process group (so a time-out also ends what it
 * started: the CLI's worker, llama-server, the compilers), keeping its output in a log file.
 */
export function exec(command, args, { cwd, env, timeoutS, logFile }) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid) running.add(child.pid);
    let stdout = '';
    let stderr = '';
    let stdoutChunks = 0;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      stdoutChunks += 1;
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup(child.pid);
      },
      Math.max(1, timeoutS) * 1000,
    );
    let finished = false;
    const finish = (code, error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      running.delete(child.pid);
      // What the command started and left behind (a server it forked) ends with it.
      if (child.pid) killGroup(child.pid);
      if (logFile)
        writeFileSync(
          logFile,
          `$ ${[command, ...args].join(' ')}\n${stdout}${stderr ? `\n[stderr]\n${stderr}` : ''}${error ? `\n${error.message}` : ''}\n`,
        );
      resolve({ code, stdout, stderr, stdoutChunks, timedOut, seconds: (Date.now() - started) / 1000, error });
    };
    child.on('error', (error) => finish(null, error));
    child.on('close', (code) => finish(code));
  });
}

export function lastLines(text, count) {
  return text.trim().split('\n').filter(Boolean).slice(-count);
}

export function oneLine(text) {
  return stripVTControlCharacters(text).replace(/\s+/g, ' ').trim();
}

/**
 * What a failed command's output says went wrong: the first CMake or compiler
 * error with the lines after it (node-llama-cpp's own error and its usage text
 * come after those), else the last line that names an error, else the last line.
 */
export function explainFailure(output) {
  const lines = stripVTControlCharacters(output)
    .split(/\r?\n|\r/)
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() && !/^\s*(at |\^+$|Node\.js v)/.test(line));
  const first = lines.findIndex((line) => /CMake Error|nvcc fatal|\berror:|\bfatal error\b/i.test(line));
  if (first >= 0) {
    // A CMake error goes on in indented lines; take up to three of them.
    let end = first + 1;
    while (end < lines.length && end <= first + 3 && /^\s/.test(lines[end])) end += 1;
    return { reason: lines.slice(first, end).join(' '), context: lines.slice(first, first + 12) };
  }
  return { reason: lines.findLast((line) => /error|fail|not found|cannot|unable/i.test(line)) ?? lines.at(-1), context: lines.slice(-25) };
}

/**
 * The CUDA toolkit a build needs: nvcc (the toolkit's own bin folder first: CMake finds the
 * toolkit's root from where nvcc is), cuBLAS beside it, cmake, make or ninja and a C++
 * compiler. Returns what is missing, and the environment that points a build at that nvcc.
 */
export function cudaToolchain(env, realpath) {
  const missing = [];
  const buildEnv = {};
  const cudaDirs = [env.CUDA_PATH, env.CUDA_HOME, '/usr/local/cuda'].filter(Boolean).map((dir) => path.join(dir, 'bin'));
  const nvcc = findExecutable('nvcc', cudaDirs) ?? findExecutable('nvcc');
  if (!nvcc) missing.push('nvcc (the CUDA toolkit: in $CUDA_PATH/bin, /usr/local/cuda/bin or on PATH)');
  else {
    const cublas = findCublas(path.dirname(path.dirname(realpath(nvcc))));
    if (cublas) missing.push(cublas);
    buildEnv.CUDACXX = nvcc;
    buildEnv.PATH = `${path.dirname(nvcc)}${path.delimiter}${env.PATH ?? ''}`;
  }
  if (!findExecutable('cmake')) missing.push('cmake');
  if (!findExecutable('make') && !findExecutable('ninja')) missing.push('make or ninja');
  if (!['c++', 'g++', 'clang++'].some((cxx) => findExecutable(cxx))) missing.push('a C++ compiler (g++ or clang++)');
  return { missing, buildEnv };
}

/** llama.cpp's CUDA backend links cuBLAS; some toolkit installs (nvcc and cudart alone) lack it. Says what is missing, if anything. */
function findCublas(toolkitRoot) {
  const targets = (sub) => {
    const dir = path.join(toolkitRoot, 'targets');
    return existsSync(dir) ? readdirSync(dir).map((target) => path.join(dir, target, sub)) : [];
  };
  const includeDirs = [path.join(toolkitRoot, 'include'), ...targets('include'), '/usr/include'];
  const libDirs = [
    path.join(toolkitRoot, 'lib64'),
    path.join(toolkitRoot, 'lib'),
    ...targets('lib'),
    ...(process.env.LD_LIBRARY_PATH ?? '').split(path.delimiter).filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
  ];
  const header = includeDirs.some((dir) => existsSync(path.join(dir, 'cublas_v2.h')));
  const library = libDirs.some((dir) => existsSync(dir) && readdirSync(dir).some((file) => /^libcublas\.so/.test(file)));
  if (header && library) return undefined;
  return `cuBLAS (${[header ? '' : 'cublas_v2.h', library ? '' : 'libcublas.so'].filter(Boolean).join(' and ')} not found for the CUDA toolkit in ${toolkitRoot}; llama.cpp's CUDA backend links it)`;
}
