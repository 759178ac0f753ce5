// `scripts/gpu-check.sh run|build|check` on a machine with an NVIDIA GPU, a
// CUDA toolkit and no network: unpack the archive `pack` made, build
// node-llama-cpp's CUDA backend for this GPU's architecture only (from the
// llama.cpp source node-llama-cpp ships, offline), then drive the app's own CLI
// and inference worker on it. Each step runs under a time limit; the last line
// printed is "gpu-check: ok …" or "gpu-check: FAIL at <step>: <reason>".
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { archivePath, currentTarget, repoRoot } from './pack.mjs';

const MiB = 1024 * 1024;

class StepFailure extends Error {
  /** `context`: lines of the failed command's output worth showing above the summary. */
  constructor(step, message, context) {
    super(message);
    this.step = step;
    this.context = context;
  }
}

function options(env = process.env) {
  return {
    archive: path.resolve(repoRoot, env.GPU_CHECK_ARCHIVE || archivePath),
    dir: path.resolve(env.GPU_CHECK_DIR || path.join(os.tmpdir(), 'freehold-gpu-check')),
    out: env.GPU_CHECK_OUT ? path.resolve(env.GPU_CHECK_OUT) : undefined,
    arch: env.GPU_CHECK_ARCH || undefined,
    vramCapMiB: Number(env.GPU_CHECK_VRAM_CAP_MIB || 1024),
    stepTimeoutS: Number(env.GPU_CHECK_STEP_TIMEOUT_S || 600),
    allowCpu: env.GPU_CHECK_ALLOW_CPU === '1',
  };
}

function findExecutable(command, dirs = (process.env.PATH ?? '').split(path.delimiter)) {
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

function endChildrenOnSignals() {
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      for (const pid of running) killGroup(pid);
      process.exit(130);
    });
  }
}

function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Runs one command in its own process group (so a time-out also ends what it
 * started: the CLI's worker, the compilers), keeping its output in a log file.
 */
function exec(command, args, { cwd, env, timeoutS, logFile }) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child.pid);
    let stdout = '';
    let stderr = '';
    let stdoutChunks = 0;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      stdoutChunks += 1;
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutS * 1000);
    const finish = (code, error) => {
      clearTimeout(timer);
      running.delete(child.pid);
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

function lastLines(text, count) {
  return text.trim().split('\n').filter(Boolean).slice(-count);
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

function oneLine(text) {
  return stripVTControlCharacters(text).replace(/\s+/g, ' ').trim();
}

export async function runCheck(command, env = process.env) {
  endChildrenOnSignals();
  const opts = options(env);
  const result = { command, ok: false, dryRun: opts.allowCpu, steps: {} };
  const appDir = opts.dir;
  const logsDir = path.join(appDir, 'logs');
  const say = (line) => console.log(`gpu-check: ${line}`);

  async function step(name, run) {
    const started = Date.now();
    const detail = await run();
    result.steps[name] = { seconds: Number(((Date.now() - started) / 1000).toFixed(1)) };
    say(`${name}: ${detail} (${result.steps[name].seconds} s)`);
  }

  async function execStep(name, commandPath, args, extra = {}) {
    mkdirSync(logsDir, { recursive: true });
    const logFile = path.join(logsDir, `${name}.log`);
    const timeoutS = extra.timeoutS ?? opts.stepTimeoutS;
    const outcome = await exec(commandPath, args, { cwd: extra.cwd ?? appDir, env: extra.env, timeoutS, logFile });
    if (outcome.timedOut)
      throw new StepFailure(
        name,
        `did not finish within ${timeoutS} s (log: ${logFile})`,
        lastLines(`${outcome.stdout}\n${outcome.stderr}`, 25),
      );
    if (outcome.code !== 0) {
      const { reason, context } = explainFailure(`${outcome.stdout}\n${outcome.stderr}`);
      throw new StepFailure(
        name,
        `${oneLine(reason ?? outcome.error?.message ?? 'no output')} (exit code ${outcome.code}; log: ${logFile})`,
        context,
      );
    }
    return outcome;
  }

  const dataDir = path.join(appDir, 'data');
  const cliPath = path.join(appDir, 'dist', 'electron', 'cli.mjs');
  const cli = (name, args, extra) => execStep(name, process.execPath, [cliPath, '--data-dir', dataDir, ...args], extra);
  const cliJson = async (name, args) => {
    const { stdout } = await cli(name, [...args, '--json']);
    try {
      return JSON.parse(lastLines(stdout, 1)[0] ?? '');
    } catch {
      throw new StepFailure(name, `the CLI printed no JSON: ${oneLine(stdout).slice(0, 200)}`);
    }
  };
  const nodeLlamaCpp = path.join(appDir, 'node_modules', 'node-llama-cpp');
  const nodeLlamaCppCli = path.join(nodeLlamaCpp, 'dist', 'cli', 'cli.js');
  // node-llama-cpp's build runs `npm run cmake-js-llama`; nothing here may reach the network.
  const offlineEnv = {
    NO_UPDATE_NOTIFIER: '1',
    npm_config_update_notifier: 'false',
    npm_config_offline: 'true',
    npm_config_fund: 'false',
    CI: 'false',
  };

  try {
    const building = command !== 'check';
    const buildEnv = {};

    // preflight: everything this machine must have, named at once.
    const nvidiaSmi = findExecutable('nvidia-smi');
    if (!nvidiaSmi && !opts.allowCpu) {
      throw new StepFailure(
        'preflight',
        'nvidia-smi not found: this check needs a machine with an NVIDIA GPU and its driver (GPU_CHECK_ALLOW_CPU=1 runs the rest on the CPU as a dry run)',
      );
    }
    const willBuild = building && (Boolean(nvidiaSmi) || Boolean(opts.arch));
    if (building) {
      const missing = [];
      if (!existsSync(opts.archive)) {
        throw new StepFailure(
          'preflight',
          `${path.relative(repoRoot, opts.archive)} not found: run "scripts/gpu-check.sh pack" where npm install has run, and bring that file along`,
        );
      }
      if (!findExecutable('tar')) missing.push('tar');
      if (!findExecutable('git')) missing.push('git (node-llama-cpp clones llama.cpp from its bundled git bundle)');
      if (willBuild) {
        // The toolkit's own bin folder first: CMake finds the toolkit's root from where nvcc is.
        const cudaDirs = [env.CUDA_PATH, env.CUDA_HOME, '/usr/local/cuda'].filter(Boolean).map((dir) => path.join(dir, 'bin'));
        const nvcc = findExecutable('nvcc', cudaDirs) ?? findExecutable('nvcc');
        if (!nvcc) missing.push('nvcc (the CUDA toolkit: in $CUDA_PATH/bin, /usr/local/cuda/bin or on PATH)');
        else {
          const cublas = findCublas(path.dirname(path.dirname(realpathSync(nvcc))));
          if (cublas) missing.push(cublas);
          buildEnv.CUDACXX = nvcc;
          buildEnv.PATH = `${path.dirname(nvcc)}${path.delimiter}${env.PATH ?? ''}`;
        }
        if (!findExecutable('cmake')) missing.push('cmake');
        if (!findExecutable('npm')) missing.push('npm (node-llama-cpp runs its build through npm run)');
        if (!findExecutable('make') && !findExecutable('ninja')) missing.push('make or ninja');
        if (!['c++', 'g++', 'clang++'].some((cxx) => findExecutable(cxx))) missing.push('a C++ compiler (g++ or clang++)');
      }
      if (missing.length > 0) throw new StepFailure('preflight', `not found: ${missing.join('; ')}`);
    } else if (!existsSync(path.join(appDir, 'gpu-check.json'))) {
      throw new StepFailure('preflight', `nothing unpacked in ${appDir}: run "scripts/gpu-check.sh build" (or run) first`);
    }

    if (building) {
      if (existsSync(appDir) && readdirSync(appDir).length > 0 && !existsSync(path.join(appDir, 'gpu-check.json'))) {
        throw new StepFailure(
          'preflight',
          `${appDir} is not empty and holds no earlier gpu-check: refusing to replace it (set GPU_CHECK_DIR)`,
        );
      }
      const shadowing = ancestorNodeModules(appDir);
      if (shadowing) {
        say(
          `warning: ${shadowing} is above ${appDir}: a package missing from the archive would load from there (set GPU_CHECK_DIR elsewhere)`,
        );
      }
      await step('unpack', async () => {
        rmSync(appDir, { recursive: true, force: true });
        mkdirSync(logsDir, { recursive: true });
        await execStep('unpack', 'tar', ['-xzf', opts.archive, '-C', appDir, '--strip-components=1']);
        const manifest = JSON.parse(readFileSync(path.join(appDir, 'gpu-check.json'), 'utf8'));
        const here = currentTarget();
        const packedFor = `${manifest.target.platform}-${manifest.target.arch}${manifest.target.libc ? ` ${manifest.target.libc}` : ''}`;
        const thisMachine = `${here.platform}-${here.arch}${here.libc ? ` ${here.libc}` : ''}`;
        if (packedFor !== thisMachine)
          throw new StepFailure('unpack', `the archive was packed on ${packedFor}; this machine is ${thisMachine}`);
        const model = readFileSync(path.join(appDir, manifest.model.file));
        if (createHash('sha256').update(model).digest('hex') !== manifest.model.sha256)
          throw new StepFailure('unpack', `${manifest.model.file} is damaged (sha256)`);
        return `${path.relative(repoRoot, opts.archive)} into ${appDir} (commit ${manifest.commit?.slice(0, 10) ?? '?'}${manifest.uncommittedChanges ? ' with uncommitted changes' : ''}, packed ${manifest.createdAt})`;
      });
    }
    const manifest = JSON.parse(readFileSync(path.join(appDir, 'gpu-check.json'), 'utf8'));
    const modelPath = path.join(appDir, manifest.model.file);

    await step('gpu', async () => {
      if (!nvidiaSmi) {
        result.gpus = [];
        result.arch = opts.arch ?? null;
        return `no nvidia-smi: dry run${opts.arch ? `, building for the given architecture ${opts.arch}` : ''}`;
      }
      const { stdout } = await execStep('gpu', nvidiaSmi, ['--query-gpu=name,compute_cap,memory.total', '--format=csv,noheader,nounits'], {
        timeoutS: 60,
      });
      const gpus = lastLines(stdout, 64).map((line) => {
        const [name, cap, memory] = line.split(',').map((s) => s.trim());
        return { name, arch: (cap ?? '').replace('.', ''), memoryMiB: Number(memory) };
      });
      if (gpus.length === 0 || gpus.some((g) => !/^\d+$/.test(g.arch)))
        throw new StepFailure('gpu', `nvidia-smi reported no usable GPU: ${oneLine(stdout)}`);
      result.gpus = gpus.map((g) => g.name);
      result.arch = opts.arch ?? [...new Set(gpus.map((g) => g.arch))].join(';');
      return (
        gpus.map((g) => `${g.name} (compute ${g.arch}, ${g.memoryMiB} MiB)`).join(', ') + `; building for CUDA architecture ${result.arch}`
      );
    });

    if (building) {
      await step('source', async () => {
        // The release node-llama-cpp was published with matches its bundled git bundle, so this clones offline.
        await execStep('source', process.execPath, [nodeLlamaCppCli, 'source', 'download', '--skipBuild', '--noUsageExample'], {
          env: offlineEnv,
        });
        if (!existsSync(path.join(nodeLlamaCpp, 'llama', 'llama.cpp', 'CMakeLists.txt')))
          throw new StepFailure('source', 'node-llama-cpp did not unpack llama.cpp');
        const info = JSON.parse(readFileSync(path.join(nodeLlamaCpp, 'llama', 'llama.cpp.info.json'), 'utf8'));
        result.llamaCppRelease = info.tag;
        return `llama.cpp ${info.tag} from node-llama-cpp's bundle, offline`;
      });

      if (willBuild) {
        await step('build', async () => {
          const outcome = await execStep(
            'build',
            process.execPath,
            [nodeLlamaCppCli, 'source', 'build', '--gpu', 'cuda', '--noUsageExample'],
            {
              env: { ...offlineEnv, ...buildEnv, NODE_LLAMA_CPP_CMAKE_OPTION_CMAKE_CUDA_ARCHITECTURES: result.arch },
              // Under a lender's 10-minute limit per command, stop first and say so.
              timeoutS: env.GPU_CHECK_STEP_TIMEOUT_S ? opts.stepTimeoutS : 540,
            },
          );
          const folder = JSON.parse(readFileSync(path.join(nodeLlamaCpp, 'llama', 'lastBuild.json'), 'utf8')).folderName;
          const metadataFile = findFile(path.join(nodeLlamaCpp, 'llama', 'localBuilds', folder), '_nlcBuildMetadata.json');
          const built = metadataFile ? JSON.parse(readFileSync(metadataFile, 'utf8')).buildOptions : undefined;
          if (built?.gpu !== 'cuda')
            throw new StepFailure('build', `the last build (${folder}) is not a CUDA build: ${JSON.stringify(built?.gpu)}`);
          if (String(built.customCmakeOptions?.CMAKE_CUDA_ARCHITECTURES) !== result.arch) {
            throw new StepFailure(
              'build',
              `built for CUDA architectures ${built.customCmakeOptions?.CMAKE_CUDA_ARCHITECTURES}, not ${result.arch}`,
            );
          }
          result.buildSeconds = Math.round(outcome.seconds);
          return `node-llama-cpp's CUDA backend for architecture ${result.arch} in llama/localBuilds/${folder} with ${os.availableParallelism()} cores`;
        });
      } else say('build: skipped (dry run: no GPU, and no GPU_CHECK_ARCH)');
    }
    if (command === 'build') {
      result.ok = true;
      return finish(
        `gpu-check: built${opts.allowCpu ? ' (dry run)' : ''} arch=${result.arch ?? 'none'} build_s=${result.buildSeconds ?? 'skipped'}; next: scripts/gpu-check.sh check`,
      );
    }

    // check: the app's own CLI, which forks the app's own inference worker.
    rmSync(dataDir, { recursive: true, force: true });
    const expectCuda = !opts.allowCpu || Boolean(nvidiaSmi);
    if (opts.allowCpu) await cli('settings', ['settings', 'set', 'threads=1']);

    await step('hardware', async () => {
      const report = await cliJson('hardware', ['hardware']);
      result.backend = report.backend;
      result.reason = report.reason;
      result.detectedGpus = report.gpus.map((g) => g.name);
      result.versions = report.versions;
      result.threads = report.threads.used;
      if (expectCuda && report.backend !== 'cuda') {
        const cuda = report.attempts.find((a) => a.backend === 'cuda');
        throw new StepFailure(
          'hardware',
          `the app chose ${report.backend}, not CUDA: ${cuda?.reason ?? report.reason}${await diagnoseLocalBuild()}`,
        );
      }
      if (expectCuda && report.gpus.length === 0) throw new StepFailure('hardware', 'CUDA was chosen but the report names no GPU');
      return `${report.backend} (${report.attempts.map((a) => `${a.backend} ${a.outcome}`).join(', ')}); GPUs: ${result.detectedGpus.join(', ') || 'none'}; llama.cpp ${report.versions.llamaCpp} (${report.versions.binary})`;
    });
    say(`reason: ${result.reason}`);

    await step('vram-cap', async () => {
      await cli('vram-cap', ['settings', 'set', `max-vram-per-gpu=${opts.vramCapMiB}`]);
      const report = await cliJson('vram-cap', ['hardware']);
      const expected = report.backend === 'cpu' ? null : opts.vramCapMiB * MiB * Math.max(1, report.gpus.length);
      if (report.vram.capBytes !== expected) {
        throw new StepFailure(
          'vram-cap',
          `max-vram-per-gpu=${opts.vramCapMiB} should cap llama.cpp at ${expected} bytes; the worker reports ${report.vram.capBytes}`,
        );
      }
      result.vramCapMiB = report.backend === 'cpu' ? null : opts.vramCapMiB;
      return expected === null
        ? 'no cap on the CPU backend, as designed'
        : `the worker caps llama.cpp at ${opts.vramCapMiB} MiB x ${Math.max(1, report.gpus.length)} GPU(s)`;
    });

    let modelId;
    await step('import', async () => {
      const [imported] = await cliJson('import', ['models', 'import', modelPath]);
      if (!imported?.ok) throw new StepFailure('import', imported?.error ?? 'nothing imported');
      modelId = imported.model.id;
      return `${modelId} (${imported.model.name})`;
    });

    const prompt = 'Once upon a time';
    const sampling = ['--max-tokens', '64', '--seed', '1', '--temperature', '0'];
    await step('chat', async () => {
      const reply = await cliJson('chat', ['chat', '--model', modelPath, ...sampling, prompt]);
      result.layers = `${reply.model.gpuLayers}/${reply.model.totalLayers}`;
      result.replyTokens = reply.stats.generatedTokens;
      if (reply.stats.generatedTokens <= 0 || !reply.text.trim()) throw new StepFailure('chat', 'the reply is empty');
      if (expectCuda && reply.model.gpuLayers !== reply.model.totalLayers) {
        throw new StepFailure(
          'chat',
          `only ${result.layers} layers were offloaded to the GPU under a ${opts.vramCapMiB} MiB cap${reply.model.retried ? ` (${reply.model.retried})` : ''}`,
        );
      }
      return `${result.layers} layers on the GPU, ${reply.model.contextSize}-token context; ${reply.stats.generatedTokens} tokens at ${reply.stats.tokensPerSecond.toFixed(0)} tokens/s`;
    });

    await step('stream', async () => {
      // Without --json the CLI prints the reply as the worker streams it, then a stats line.
      const { stdout, stderr, stdoutChunks } = await cli('stream', ['chat', '--model', modelPath, ...sampling, prompt]);
      const lines = stdout.trimEnd().split('\n');
      const stats = /^\[(\d+) tokens, ([\d.]+) tokens\/s/.exec(lines.at(-1) ?? '');
      const text = lines.slice(0, -1).join('\n').trim();
      if (!stats || !text) throw new StepFailure('stream', `no streamed reply followed by a stats line: ${oneLine(stdout).slice(0, 200)}`);
      result.streamChunks = stdoutChunks;
      const layers = /(\d+\/\d+) layers on the GPU/.exec(stderr)?.[1];
      return `"${oneLine(text).slice(0, 60)}…" in ${stdoutChunks} chunk(s), ${stats[1]} tokens at ${Number(stats[2]).toFixed(0)} tokens/s${layers ? `, ${layers} layers on the GPU` : ''}`;
    });

    await step('bench', async () => {
      const bench = await cliJson('bench', ['bench', '--model', modelId]);
      if (expectCuda && bench.backend !== 'cuda') throw new StepFailure('bench', `the benchmark ran on ${bench.backend}, not CUDA`);
      result.pp = { tokens: bench.promptTokens, perSecond: bench.promptTokensPerSecond };
      result.tg = { tokens: bench.generatedTokens, perSecond: bench.generationTokensPerSecond };
      return `${bench.backend} pp${bench.promptTokens} ${bench.promptTokensPerSecond.toFixed(1)} tokens/s, tg${bench.generatedTokens} ${bench.generationTokensPerSecond.toFixed(1)} tokens/s`;
    });

    result.ok = true;
    const gpu = result.detectedGpus[0] ?? result.gpus[0];
    return finish(
      [
        `gpu-check: ${opts.allowCpu ? 'DRY RUN (no GPU checked) ok' : 'ok'}`,
        `backend=${result.backend}`,
        `gpu=${gpu ? JSON.stringify(gpu) : 'none'}${result.detectedGpus.length > 1 ? `+${result.detectedGpus.length - 1}` : ''}`,
        `arch=${result.arch ?? 'none'}`,
        `build_s=${result.buildSeconds ?? (command === 'check' ? 'earlier' : 'skipped')}`,
        `layers=${result.layers}`,
        `vram_cap_mib=${result.vramCapMiB ?? 'none'}`,
        `threads=${result.threads}`,
        `reply_tokens=${result.replyTokens}`,
        `pp${result.pp.tokens}=${Math.round(result.pp.perSecond)}`,
        `tg${result.tg.tokens}=${Math.round(result.tg.perSecond)}`,
      ].join(' '),
    );
  } catch (error) {
    const failure = error instanceof StepFailure ? error : new StepFailure('gpu-check', error.stack ?? String(error));
    result.failure = { step: failure.step, reason: failure.message };
    for (const line of failure.context ?? []) console.log(`  | ${oneLine(line).slice(0, 300)}`);
    return finish(`gpu-check: FAIL at ${failure.step}: ${failure.message}`, 1);
  }

  async function diagnoseLocalBuild() {
    // The worker falls back quietly when a local build does not load; ask node-llama-cpp directly why.
    if (!existsSync(path.join(nodeLlamaCpp, 'llama', 'lastBuild.json')))
      return '; no local build exists (scripts/gpu-check.sh build makes one)';
    const probe =
      "const { getLlama } = await import('node-llama-cpp'); const llama = await getLlama('lastBuild', { skipDownload: true, progressLogs: false }); console.log(`loads, gpu: ${llama.gpu}`);";
    const outcome = await exec(process.execPath, ['--input-type=module', '-e', probe], {
      cwd: appDir,
      timeoutS: 120,
      logFile: path.join(logsDir, 'diagnose.log'),
    });
    return `; the local build ${outcome.code === 0 ? oneLine(outcome.stdout) : `does not load: ${oneLine(lastLines(outcome.stderr || outcome.stdout, 3).join(' '))}`}`;
  }

  function finish(summary, code = 0) {
    if (existsSync(appDir)) {
      mkdirSync(logsDir, { recursive: true });
      writeFileSync(path.join(appDir, 'result.json'), `${JSON.stringify({ ...result, summary }, null, 2)}\n`);
      if (opts.out) {
        mkdirSync(opts.out, { recursive: true });
        cpSync(path.join(appDir, 'result.json'), path.join(opts.out, 'result.json'));
        cpSync(logsDir, path.join(opts.out, 'logs'), { recursive: true });
      }
    }
    console.log(summary);
    return code;
  }
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

/** A node_modules folder where Node would look after the unpacked one, if any. */
function ancestorNodeModules(dir) {
  for (let parent = path.dirname(dir); ; parent = path.dirname(parent)) {
    if (existsSync(path.join(parent, 'node_modules'))) return path.join(parent, 'node_modules');
    if (parent === path.dirname(parent)) return undefined;
  }
}

function findFile(dir, name) {
  if (!existsSync(dir)) return undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return full;
    if (entry.isDirectory()) {
      const found = findFile(full, name);
      if (found) return found;
    }
  }
  return undefined;
}
