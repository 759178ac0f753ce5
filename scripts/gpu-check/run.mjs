// `scripts/gpu-check.sh run|build|check|build-server|check-server|run-server`
// on a machine with an NVIDIA GPU, a CUDA toolkit and no network: unpack the
// archive `pack` made, build node-llama-cpp's CUDA backend for this GPU's
// architecture only (from the llama.cpp source node-llama-cpp ships, offline),
// drive the app's own CLI and inference worker on it; then (server.mjs) build
// llama.cpp's own llama-server for CUDA from the same source and check the
// server engine and both engines side by side. Each step runs under a time
// limit, and so does each command (10 minutes, a lender's limit); the last
// line printed is "gpu-check <command>: ok …" or
// "gpu-check <command>: FAIL at <step>: <reason>".
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cudaToolchain,
  endChildrenOnSignals,
  exec,
  explainFailure,
  findExecutable,
  lastLines,
  MiB,
  oneLine,
  StepFailure,
} from './common.mjs';
import { archivePath, currentTarget, repoRoot } from './pack.mjs';
import { buildServer, checkServer, serverSummary } from './server.mjs';

export { explainFailure };

/** Every command: whether it unpacks (a fresh start), builds or checks node-llama-cpp's worker, builds or checks the server engine. */
export const COMMANDS = {
  run: { unpack: true, workerBuild: true, workerCheck: true },
  build: { unpack: true, workerBuild: true },
  check: { workerCheck: true },
  'build-server': { serverBuild: true },
  'check-server': { serverCheck: true },
  'run-server': { serverBuild: true, serverCheck: true },
};

function options(env = process.env) {
  const dir = path.resolve(env.GPU_CHECK_DIR || path.join(os.tmpdir(), 'freehold-gpu-check'));
  const number = (name, fallback) => (env[name] ? Number(env[name]) : fallback);
  return {
    archive: path.resolve(repoRoot, env.GPU_CHECK_ARCHIVE || archivePath),
    dir,
    out: env.GPU_CHECK_OUT ? path.resolve(env.GPU_CHECK_OUT) : undefined,
    arch: env.GPU_CHECK_ARCH || undefined,
    vramCapMiB: number('GPU_CHECK_VRAM_CAP_MIB', 1024),
    stepTimeoutS: number('GPU_CHECK_STEP_TIMEOUT_S', 600),
    /** A lender runs one command for at most 10 minutes: each stops a little before, and says so. */
    runLimitS: number('GPU_CHECK_RUN_LIMIT_S', 590),
    allowCpu: env.GPU_CHECK_ALLOW_CPU === '1',
    // The server engine (server.mjs).
    enginesDir: path.resolve(env.FREEHOLD_ENGINES_DIR || path.join(dir, 'engines')),
    deviceCapMiB: number('GPU_CHECK_DEVICE_CAP_MIB', 256),
    capSlackMiB: number('GPU_CHECK_CAP_SLACK_MIB', 16),
    minParallelRatio: number('GPU_CHECK_MIN_PARALLEL_RATIO', 2.5),
    minPeerRatio: number('GPU_CHECK_MIN_PEER_RATIO', 0.5),
  };
}

/**
 * What every step gets: the options, the unpacked folder, the result being
 * filled, progress lines, and commands run as logged steps under the time limits.
 */
function createContext(command, env) {
  const opts = options(env);
  const appDir = opts.dir;
  const logsDir = path.join(appDir, 'logs');
  const result = { command, ok: false, dryRun: opts.allowCpu, steps: {} };
  const deadline = Date.now() + opts.runLimitS * 1000;
  const say = (line) => console.log(`gpu-check: ${line}`);

  async function step(name, run) {
    const started = Date.now();
    const detail = await run();
    result.steps[name] = { seconds: Number(((Date.now() - started) / 1000).toFixed(1)) };
    say(`${name}: ${detail} (${result.steps[name].seconds} s)`);
  }

  /** Logs written by this command, by step: a step's second command logs to <step>-2.log. */
  const logCounts = new Map();

  /** Runs a command as step `name` (its log: logs/<name>.log); a failure or time-out is that step's. */
  async function execStep(name, commandPath, args, extra = {}) {
    mkdirSync(logsDir, { recursive: true });
    const count = (logCounts.get(name) ?? 0) + 1;
    logCounts.set(name, count);
    const logFile = path.join(logsDir, `${name}${count > 1 ? `-${count}` : ''}.log`);
    const wanted = extra.timeoutS ?? opts.stepTimeoutS;
    const left = Math.floor((deadline - Date.now()) / 1000);
    const timeoutS = Math.max(1, Math.min(wanted, left));
    const outcome = await exec(commandPath, args, { cwd: extra.cwd ?? appDir, env: extra.env, timeoutS, logFile });
    if (outcome.timedOut)
      throw new StepFailure(
        name,
        timeoutS < wanted
          ? `stopped at the run's ${opts.runLimitS} s limit (GPU_CHECK_RUN_LIMIT_S; a lender's 10 minutes), ${timeoutS} s into this step: run the next steps as their own command (log: ${logFile})`
          : `did not finish within ${timeoutS} s (log: ${logFile})`,
        lastLines(`${outcome.stdout}\n${outcome.stderr}`, 25),
      );
    if (outcome.code !== 0 && !(extra.okCodes ?? []).includes(outcome.code)) {
      const { reason, context } = explainFailure(`${outcome.stdout}\n${outcome.stderr}`);
      throw new StepFailure(
        name,
        `${oneLine(reason ?? outcome.error?.message ?? 'no output')} (exit code ${outcome.code}; log: ${logFile})`,
        context,
      );
    }
    return outcome;
  }

  const cliPath = path.join(appDir, 'dist', 'electron', 'cli.mjs');
  /** The app's CLI on a data folder of its own, as a logged step; `cliJson` parses the JSON it prints last. */
  function cliFor(dataDir, cliEnv = {}) {
    const cli = (name, args, extra = {}) =>
      execStep(name, process.execPath, [cliPath, '--data-dir', dataDir, ...args], { ...extra, env: { ...cliEnv, ...extra.env } });
    const cliJson = async (name, args, extra) => {
      const { stdout, stderr, code } = await cli(name, [...args, '--json'], extra);
      try {
        return Object.assign(JSON.parse(lastLines(stdout, 1)[0] ?? ''), code ? { exitCode: code } : {});
      } catch {
        // An exit code let through (a load not as planned prints its JSON and exits 1), but an error instead.
        const said = oneLine(lastLines(stderr, 3).join(' ')) || oneLine(stdout);
        throw new StepFailure(name, `the CLI printed no JSON${code ? ` (exit code ${code})` : ''}: ${said.slice(0, 300)}`);
      }
    };
    return { cli, cliJson };
  }

  const nodeLlamaCpp = path.join(appDir, 'node_modules', 'node-llama-cpp');
  return {
    command,
    env,
    opts,
    appDir,
    logsDir,
    result,
    say,
    step,
    execStep,
    cliFor,
    nodeLlamaCpp,
    nodeLlamaCppCli: path.join(nodeLlamaCpp, 'dist', 'cli', 'cli.js'),
    // node-llama-cpp's build runs `npm run cmake-js-llama`; nothing here may reach the network.
    offlineEnv: {
      NO_UPDATE_NOTIFIER: '1',
      npm_config_update_notifier: 'false',
      npm_config_offline: 'true',
      npm_config_fund: 'false',
      CI: 'false',
    },
    nvidiaSmi: findExecutable('nvidia-smi'),
    /** PATH and CUDACXX for a CUDA build (preflight fills them in). */
    buildEnv: {},
  };
}

export async function runCheck(command, env = process.env) {
  endChildrenOnSignals();
  const plan = COMMANDS[command];
  if (!plan) throw new Error(`unknown command ${command}`);
  const ctx = createContext(command, env);
  const { opts, appDir, result, step, execStep, nvidiaSmi } = ctx;

  try {
    preflight(ctx, plan);

    if (plan.unpack) await unpack(ctx);
    ctx.manifest = JSON.parse(readFileSync(path.join(appDir, 'gpu-check.json'), 'utf8'));

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
      return gpus.map((g) => `${g.name} (compute ${g.arch}, ${g.memoryMiB} MiB)`).join(', ') + `; CUDA architecture ${result.arch}`;
    });

    if (plan.workerBuild) await workerBuild(ctx);
    if (command === 'build') {
      result.ok = true;
      return finish(
        ctx,
        `gpu-check build: ok${opts.allowCpu ? ' (dry run: no GPU checked)' : ''} arch=${result.arch ?? 'none'} build_s=${result.buildSeconds ?? 'skipped'}; next: scripts/gpu-check.sh check, then build-server and check-server (or run-server)`,
      );
    }
    if (plan.workerCheck) {
      await workerCheck(ctx);
      result.ok = true;
      return finish(ctx, workerSummary(ctx));
    }

    if (plan.serverBuild) await buildServer(ctx);
    if (command === 'build-server') {
      result.ok = true;
      return finish(
        ctx,
        `gpu-check build-server: ok${opts.allowCpu ? ' (dry run: no GPU checked)' : ''} ${serverSummary(ctx, 'build')}; next: scripts/gpu-check.sh check-server`,
      );
    }
    await checkServer(ctx);
    result.ok = true;
    return finish(
      ctx,
      `gpu-check ${command}: ok${opts.allowCpu ? ' (dry run: no GPU checked)' : ''} ${serverSummary(ctx, command === 'run-server' ? 'run' : 'check')}`,
    );
  } catch (error) {
    const failure = error instanceof StepFailure ? error : new StepFailure(command, error.stack ?? String(error));
    result.failure = { step: failure.step, reason: failure.message };
    for (const line of failure.context ?? []) console.log(`  | ${oneLine(line).slice(0, 300)}`);
    return finish(ctx, `gpu-check ${command}: FAIL at ${failure.step}: ${failure.message}`, 1);
  }
}

/** Everything this machine must have for the command, named at once. */
function preflight(ctx, plan) {
  const { opts, appDir, env, nvidiaSmi, say } = ctx;
  if (!nvidiaSmi && !opts.allowCpu) {
    throw new StepFailure(
      'preflight',
      'nvidia-smi not found: this check needs a machine with an NVIDIA GPU and its driver (GPU_CHECK_ALLOW_CPU=1 runs the rest on the CPU as a dry run)',
    );
  }
  const willBuild = Boolean(nvidiaSmi) || Boolean(opts.arch);
  const missing = [];
  if (plan.unpack) {
    if (!existsSync(opts.archive)) {
      throw new StepFailure(
        'preflight',
        `${path.relative(repoRoot, opts.archive)} not found: run "scripts/gpu-check.sh pack" where npm install has run, and bring that file along`,
      );
    }
    if (!findExecutable('tar')) missing.push('tar');
    if (!findExecutable('git')) missing.push('git (node-llama-cpp clones llama.cpp from its bundled git bundle)');
    if (willBuild) {
      const toolchain = cudaToolchain(env, realpathSync);
      missing.push(...toolchain.missing);
      Object.assign(ctx.buildEnv, toolchain.buildEnv);
      if (!findExecutable('npm')) missing.push('npm (node-llama-cpp runs its build through npm run)');
    }
  } else if (!existsSync(path.join(appDir, 'gpu-check.json'))) {
    throw new StepFailure('preflight', `nothing unpacked in ${appDir}: run "scripts/gpu-check.sh build" (or run) first`);
  }
  if (plan.serverBuild) {
    if (!findExecutable('git')) missing.push('git (llama.cpp is cloned from the bundled git bundle)');
    if (nvidiaSmi) {
      const toolchain = cudaToolchain(env, realpathSync);
      missing.push(...toolchain.missing);
      Object.assign(ctx.buildEnv, toolchain.buildEnv);
    }
  }
  if (plan.serverCheck && nvidiaSmi && !existsSync(path.join(ctx.nodeLlamaCpp, 'llama', 'lastBuild.json'))) {
    throw new StepFailure(
      'preflight',
      `node-llama-cpp's CUDA build is missing in ${appDir}: run "scripts/gpu-check.sh build" (or run) first; the worker engine runs on it`,
    );
  }
  if (missing.length > 0) throw new StepFailure('preflight', `not found: ${[...new Set(missing)].join('; ')}`);

  if (plan.unpack) {
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
  }
}

async function unpack(ctx) {
  const { opts, appDir, logsDir, step, execStep } = ctx;
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

/** node-llama-cpp's llama.cpp source from its bundle, then its CUDA backend for this GPU's architecture only. */
async function workerBuild(ctx) {
  const { opts, env, result, say, step, execStep, nodeLlamaCpp, nodeLlamaCppCli, offlineEnv, buildEnv, nvidiaSmi } = ctx;
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

  if (!nvidiaSmi && !opts.arch) {
    say('build: skipped (dry run: no GPU, and no GPU_CHECK_ARCH)');
    return;
  }
  await step('build', async () => {
    const outcome = await execStep('build', process.execPath, [nodeLlamaCppCli, 'source', 'build', '--gpu', 'cuda', '--noUsageExample'], {
      env: { ...offlineEnv, ...buildEnv, NODE_LLAMA_CPP_CMAKE_OPTION_CMAKE_CUDA_ARCHITECTURES: result.arch },
      // Under a lender's 10-minute limit per command, stop first and say so.
      timeoutS: env.GPU_CHECK_STEP_TIMEOUT_S ? opts.stepTimeoutS : 540,
    });
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
}

/** The app's own CLI, which forks the app's own inference worker (node-llama-cpp), against that build. */
async function workerCheck(ctx) {
  const { opts, appDir, result, say, step, nvidiaSmi } = ctx;
  const dataDir = path.join(appDir, 'data');
  const { cli, cliJson } = ctx.cliFor(dataDir);
  const modelPath = path.join(appDir, ctx.manifest.model.file);
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
        `the app chose ${report.backend}, not CUDA: ${cuda?.reason ?? report.reason}${await diagnoseLocalBuild(ctx)}`,
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
}

function workerSummary({ command, opts, result }) {
  const gpu = result.detectedGpus[0] ?? result.gpus[0];
  return [
    `gpu-check ${command}: ok${opts.allowCpu ? ' (dry run: no GPU checked)' : ''}`,
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
  ].join(' ');
}

async function diagnoseLocalBuild({ appDir, logsDir, nodeLlamaCpp }) {
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

/** Writes result.json (and copies it and the logs to GPU_CHECK_OUT), then prints the summary line. */
function finish({ appDir, logsDir, opts, result }, summary, code = 0) {
  if (existsSync(appDir)) {
    mkdirSync(logsDir, { recursive: true });
    const file = path.join(appDir, `result-${result.command}.json`);
    writeFileSync(file, `${JSON.stringify({ ...result, summary }, null, 2)}\n`);
    cpSync(file, path.join(appDir, 'result.json'));
    if (opts.out) {
      mkdirSync(opts.out, { recursive: true });
      cpSync(file, path.join(opts.out, path.basename(file)));
      cpSync(file, path.join(opts.out, 'result.json'));
      cpSync(logsDir, path.join(opts.out, 'logs'), { recursive: true });
    }
  }
  console.log(summary);
  return code;
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
