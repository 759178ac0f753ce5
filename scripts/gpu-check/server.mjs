// The GPU check's server-engine half (issue 26): `build-server` builds
// llama.cpp's own llama-server (and ggml-rpc-server) for CUDA from the source
// node-llama-cpp bundles, through the app's own `freehold engines --build
// --backend cuda`, while the 0.7B bench model is written beside it;
// `check-server` drives the app's CLI on both engines (node-llama-cpp's worker
// and llama.cpp's server): replies on CUDA with every layer offloaded, a
// vision reply, a plan and a load placed on a named device, a per-GPU cap;
// then engines-measure.ts (bundled as dist/electron/gpu-check-engines.mjs)
// measures what only a running host shows: the cap as nvidia-smi sees it, 4
// streams against 1 on each engine, each engine against a plain llama-server
// on the same GPU, speculative decoding. Measurements are judged here, after
// all of them are taken, so that one run reports every figure.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { lastLines, MiB, oneLine, StepFailure } from './common.mjs';

const SCRIPT = ['dist', 'electron', 'gpu-check-engines.mjs'];

function onGpu(ctx) {
  return Boolean(ctx.nvidiaSmi);
}

function device(ctx) {
  return ctx.env.GPU_CHECK_DEVICE || 'CUDA0';
}

/** The environment every server-side command gets: where the engines are, which build, CUDA's device order as nvidia-smi's. */
function serverEnv(ctx) {
  return {
    FREEHOLD_ENGINES_DIR: ctx.opts.enginesDir,
    // A llama-server on the PATH is not the one built here.
    FREEHOLD_IGNORE_PATH_ENGINES: '1',
    FREEHOLD_ENGINES_BACKEND: onGpu(ctx) ? 'cuda' : 'cpu',
    // CUDA0 is then nvidia-smi's GPU 0.
    CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    ...(onGpu(ctx) && ctx.result.arch ? { FREEHOLD_CUDA_ARCH: ctx.result.arch } : {}),
  };
}

const dataDirOf = (ctx) => path.join(ctx.appDir, 'data-server');
const scriptOf = (ctx) => path.join(ctx.appDir, ...SCRIPT);
const modelOf = (ctx) => path.join(ctx.appDir, ctx.manifest.model.file);

function requireScript(ctx, step) {
  if (!existsSync(scriptOf(ctx)))
    throw new StepFailure(step, `${SCRIPT.join('/')} is not in ${ctx.appDir}: the archive predates the server check (pack it again)`);
}

/** The JSON a command printed last. */
function jsonOf(step, stdout) {
  try {
    return JSON.parse(lastLines(stdout, 1)[0] ?? '');
  } catch {
    throw new StepFailure(step, `printed no JSON: ${oneLine(stdout).slice(0, 200)}`);
  }
}

/** The devices a llama-server build sees ("  CUDA0: NVIDIA H100 80GB HBM3 (81079 MiB, 80562 MiB free)"). */
export function parseDevices(text) {
  const devices = [];
  for (const line of text.split('\n')) {
    const match = /^\s+([A-Za-z][\w]*):\s+(.*?)\s+\((\d+) MiB, (\d+) MiB free\)\s*$/.exec(line);
    if (match) devices.push({ id: match[1], name: match[2], totalMiB: Number(match[3]), freeMiB: Number(match[4]) });
  }
  return devices;
}

async function listDevices(ctx, name, llamaServer) {
  const { stdout, stderr } = await ctx.execStep(name, llamaServer, ['--list-devices'], { timeoutS: 60, env: serverEnv(ctx) });
  const devices = parseDevices(`${stdout}\n${stderr}`);
  ctx.result.server.devices = devices.map((d) => `${d.id}: ${d.name}`);
  if (onGpu(ctx) && !devices.some((d) => d.id.toLowerCase() === device(ctx).toLowerCase())) {
    throw new StepFailure(
      name,
      `${path.basename(llamaServer)} sees ${devices.length ? devices.map((d) => d.id).join(', ') : 'no GPU'}, not ${device(ctx)}: ${oneLine(stderr || stdout).slice(0, 200)}`,
    );
  }
  return devices.length
    ? devices.map((d) => `${d.id} ${d.name} (${d.freeMiB} of ${d.totalMiB} MiB free)`).join(', ')
    : 'no GPU (a CPU build)';
}

/** The 0.7B bench model (random weights, Q8_0), made once in models/bench of the unpacked folder. */
async function benchModel(ctx) {
  requireScript(ctx, 'bench-model');
  const { stdout } = await ctx.execStep(
    'bench-model',
    process.execPath,
    [scriptOf(ctx), 'bench-model', modelOf(ctx), path.join(ctx.appDir, 'models', 'bench')],
    { timeoutS: 300 },
  );
  const made = jsonOf('bench-model', stdout);
  ctx.result.server.benchModel = made;
  return made;
}

function describeBenchModel(made) {
  return `${path.basename(made.path)}: ${(made.parameters / 1e9).toFixed(2)}B parameters, ${made.quantization}, random weights (${made.note}; ${made.seconds} s)`;
}

// ---------------------------------------------------------------- build-server

export async function buildServer(ctx) {
  const { result, step, opts, env, say } = ctx;
  result.server ??= {};
  const gpu = onGpu(ctx);
  const { cliJson } = ctx.cliFor(dataDirOf(ctx), { ...serverEnv(ctx), ...ctx.offlineEnv, ...ctx.buildEnv });
  // The bench model is written on one core while llama.cpp builds on the others.
  const making = gpu
    ? benchModel(ctx).then(
        (made) => ({ made }),
        (error) => ({ error }),
      )
    : null;
  try {
    await step('server-build', async () => {
      const started = Date.now();
      const info = await cliJson('server-build', ['engines', '--build', '--backend', gpu ? 'cuda' : 'cpu'], {
        // Under a lender's 10-minute limit per command, stop first and say so.
        timeoutS: env.GPU_CHECK_STEP_TIMEOUT_S ? opts.stepTimeoutS : 540,
      });
      const found = info.found;
      if (!found) {
        throw new StepFailure(
          'server-build',
          `no llama-server after "freehold engines --build": ${(info.attempts ?? []).map((a) => `${a.source}: ${a.reason}`).join('; ') || JSON.stringify(info).slice(0, 300)}`,
        );
      }
      if (gpu && found.backend !== 'cuda')
        throw new StepFailure(
          'server-build',
          `the llama-server in use is built for ${found.backend ?? 'the CPU'}, not CUDA: ${found.reason}`,
        );
      const builtAt = engineBuiltAt(found.llamaServer);
      const reused = builtAt !== null && builtAt < started - 1000;
      Object.assign(result.server, {
        backend: found.backend ?? 'cpu',
        llamaServer: found.llamaServer,
        llamaCpp: info.version,
        source: found.source,
        buildSeconds: reused ? 'reused' : Math.round((Date.now() - started) / 1000),
      });
      return `llama.cpp ${info.version}'s llama-server and ggml-rpc-server for ${result.server.backend}${reused ? ', already built' : ''}: ${found.reason}`;
    });
    await step('server-devices', () => listDevices(ctx, 'server-devices', result.server.llamaServer));
  } finally {
    if (making) {
      const outcome = await making;
      // Said either way; a failed build is the failure reported, else a failed bench model is.
      if (outcome.error) {
        say(`bench-model: ${outcome.error.message}`);
        result.benchModelError = outcome.error;
      } else say(`bench-model: ${describeBenchModel(outcome.made)}`);
    }
  }
  if (result.benchModelError) {
    const error = result.benchModelError;
    delete result.benchModelError;
    throw error instanceof StepFailure ? error : new StepFailure('bench-model', error.message);
  }
  if (!gpu) say('bench-model: skipped (dry run: stories260K stands in for the 0.7B model)');
}

/** When the engines build was made (its engine.json), or null. */
function engineBuiltAt(llamaServer) {
  try {
    const info = JSON.parse(readFileSync(path.join(path.dirname(path.dirname(llamaServer)), 'engine.json'), 'utf8'));
    const at = Date.parse(info.builtAt);
    return Number.isFinite(at) ? at : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- check-server

export async function checkServer(ctx) {
  const { opts, result, say, step } = ctx;
  result.server ??= {};
  const s = result.server;
  const gpu = onGpu(ctx);
  const dev = device(ctx);
  const dataDir = dataDirOf(ctx);
  rmSync(dataDir, { recursive: true, force: true });
  const { cli, cliJson } = ctx.cliFor(dataDir, serverEnv(ctx));
  requireScript(ctx, 'preflight');
  if (!gpu) await cli('server-settings', ['settings', 'set', 'threads=1']);
  const allLayers = (model) => model.gpuLayers === model.totalLayers && model.totalLayers > 0;
  const layers = (model) => `${model.gpuLayers}/${model.totalLayers}`;

  await step('server-engines', async () => {
    const info = await cliJson('server-engines', ['engines']);
    if (!info.found)
      throw new StepFailure(
        'server-engines',
        `llama.cpp's programs are not built in ${opts.enginesDir}: run "scripts/gpu-check.sh build-server" (or run-server) first`,
      );
    if (gpu && info.found.backend !== 'cuda')
      throw new StepFailure(
        'server-engines',
        `the llama-server in use is built for ${info.found.backend ?? 'the CPU'}, not CUDA: ${info.found.reason}`,
      );
    Object.assign(s, { backend: info.found.backend ?? 'cpu', llamaServer: info.found.llamaServer, llamaCpp: info.version });
    return `${info.found.reason}`;
  });
  await step('server-devices', () => listDevices(ctx, 'server-devices', s.llamaServer));

  let fixtures;
  await step('fixtures', async () => {
    const { stdout } = await ctx.execStep('fixtures', process.execPath, [
      scriptOf(ctx),
      'fixtures',
      path.join(ctx.appDir, 'models', 'vision'),
      modelOf(ctx),
    ]);
    fixtures = jsonOf('fixtures', stdout);
    return `a tiny random vision projector for stories260K and a 32x32 PNG in ${path.dirname(fixtures.mmproj)}`;
  });

  let bigPath = modelOf(ctx);
  if (gpu) {
    await step('bench-model', async () => describeBenchModel(await benchModel(ctx)));
    bigPath = s.benchModel.path;
  } else say('bench-model: skipped (dry run: stories260K stands in for the 0.7B model)');

  const ids = {};
  await step('server-import', async () => {
    const models = await cliJson('server-import', ['models', 'import', modelOf(ctx), ...(bigPath !== modelOf(ctx) ? [bigPath] : [])]);
    const refused = models.find((r) => !r.ok);
    if (refused) throw new StepFailure('server-import', `${refused.path}: ${refused.error}`);
    const idOf = (file) => models.find((r) => path.resolve(r.path) === path.resolve(file))?.model?.id;
    ids.small = idOf(modelOf(ctx));
    ids.big = idOf(bigPath);
    if (!ids.small || !ids.big) throw new StepFailure('server-import', `not imported as asked: ${JSON.stringify(models).slice(0, 300)}`);
    const [model, projector] = await cliJson('server-import', ['models', 'import', fixtures.model, fixtures.mmproj]);
    if (!model?.ok || !projector?.ok) throw new StepFailure('server-import', `the vision model: ${(model?.ok ? projector : model)?.error}`);
    if (projector.attachedTo !== model.model.id)
      throw new StepFailure('server-import', `the projector was attached to ${projector.attachedTo}, not to ${model.model.id}`);
    ids.vision = model.model.id;
    return `stories260K ${ids.small}${ids.big !== ids.small ? `, the bench model ${ids.big}` : ''}, stories260K with its projector ${ids.vision}`;
  });

  const sampling = ['--max-tokens', '32', '--seed', '1', '--temperature', '0'];
  // A reply on each engine, set per model as a user sets it.
  for (const engine of ['worker', 'server']) {
    await step(`${engine}-chat`, async () => {
      await cli(`${engine}-chat`, ['models', 'set', ids.small, `engine=${engine}`]);
      const reply = await cliJson(`${engine}-chat`, ['chat', '--model', ids.small, ...sampling, 'Once upon a time']);
      if (reply.model.engine !== engine)
        throw new StepFailure(`${engine}-chat`, `the reply came from the ${reply.model.engine} engine: ${reply.model.engineReason}`);
      if (gpu && !allLayers(reply.model))
        throw new StepFailure(
          `${engine}-chat`,
          `only ${layers(reply.model)} layers were offloaded to the GPU${reply.model.retried ? ` (${reply.model.retried})` : ''}`,
        );
      if (reply.stats.generatedTokens <= 0) throw new StepFailure(`${engine}-chat`, 'the reply is empty');
      s[`${engine}Layers`] = layers(reply.model);
      return `${reply.model.engine}: ${layers(reply.model)} layers on the GPU; ${reply.stats.generatedTokens} tokens at ${reply.stats.tokensPerSecond.toFixed(0)} tokens/s (${reply.model.engineReason})`;
    });
  }

  await step('vision', async () => {
    await cli('vision', ['models', 'set', ids.vision, 'engine=server']);
    const reply = await cliJson('vision', [
      'chat',
      '--model',
      ids.vision,
      '--image',
      fixtures.image,
      ...sampling,
      'What is in this picture?',
    ]);
    if (!reply.model.vision) throw new StepFailure('vision', `${reply.model.name} was loaded without its projector`);
    if (reply.model.engine !== 'server') throw new StepFailure('vision', `the reply came from the ${reply.model.engine} engine`);
    if (gpu && !allLayers(reply.model)) throw new StepFailure('vision', `only ${layers(reply.model)} layers were offloaded to the GPU`);
    const media = reply.stats.mediaTokens;
    if (media !== undefined && !(media > 0)) throw new StepFailure('vision', `the image took ${media} tokens of the prompt`);
    Object.assign(s, { visionLayers: layers(reply.model), imageTokens: media ?? null });
    return `${reply.model.projector ?? 'projector'} on llama.cpp's server, ${layers(reply.model)} layers on the GPU; the image took ${media ?? '?'} of ${reply.stats.promptTokens} prompt tokens; ${reply.stats.generatedTokens} tokens: "${oneLine(reply.text).slice(0, 60)}"`;
  });

  // Placement on a named device: the plan, then a load checked against what llama.cpp reported per device.
  const placement = gpu ? ['--devices', dev] : ['--devices', 'cpu'];
  await step('plan', async () => {
    const view = await cliJson('plan', ['plan', ids.small, ...placement], { okCodes: [1] });
    const plan = view.plan;
    if (!plan) throw new StepFailure('plan', `no plan: ${JSON.stringify(view).slice(0, 200)}`);
    if (!plan.fits) throw new StepFailure('plan', `stories260K does not fit as placed: ${plan.short?.message ?? plan.summary}`);
    if (gpu) {
      if (view.engine !== 'server')
        throw new StepFailure('plan', `a placement naming ${dev} runs on ${view.engine}, not llama.cpp's server`);
      const devices = plan.devices.map((d) => d.id);
      if (devices.length !== 1 || devices[0].toLowerCase() !== dev.toLowerCase())
        throw new StepFailure('plan', `the plan places layers on ${devices.join(', ') || 'no GPU'}, not on ${dev} alone`);
      if (plan.gpuLayers !== plan.totalLayers)
        throw new StepFailure('plan', `the plan offloads ${plan.gpuLayers}/${plan.totalLayers} layers`);
    } else if (plan.gpuLayers !== 0) throw new StepFailure('plan', `a CPU placement plans ${plan.gpuLayers} layers on a GPU`);
    s.plan = `${plan.gpuLayers}/${plan.totalLayers}@${plan.devices.map((d) => d.id).join('+') || 'CPU'}`;
    return `${plan.summary} (${view.engine}: ${view.engineReason}); GPUs seen: ${(view.devices ?? []).map((d) => `${d.id} ${d.name}`).join(', ') || 'none'}`;
  });

  await step('load', async () => {
    const loaded = await cliJson('load', ['load', ids.small, ...placement], { okCodes: [1] });
    if (loaded.engine !== 'server') throw new StepFailure('load', `it loaded on the ${loaded.engine} engine: ${loaded.engineReason}`);
    const check = loaded.placement?.check;
    if (gpu) {
      if (!allLayers(loaded)) throw new StepFailure('load', `only ${layers(loaded)} layers were offloaded`);
      if (!check) throw new StepFailure('load', 'the load reports no check of the placement against llama.cpp');
      const on = check.devices.find((d) => d.id.toLowerCase() === dev.toLowerCase());
      if (!on || !(on.modelBytes > 0)) throw new StepFailure('load', `llama.cpp put no weights on ${dev}: ${check.note}`);
      const elsewhere = check.devices.filter((d) => d !== on && /^cuda/i.test(d.id) && d.totalBytes > 0);
      if (elsewhere.length) throw new StepFailure('load', `llama.cpp also used ${elsewhere.map((d) => d.id).join(', ')}: ${check.note}`);
      if (check.offloaded && check.offloaded.layers !== check.offloaded.of)
        throw new StepFailure('load', `llama.cpp offloaded ${check.offloaded.layers}/${check.offloaded.of} layers`);
    } else if (loaded.gpuLayers !== 0) throw new StepFailure('load', `a CPU placement put ${loaded.gpuLayers} layers on a GPU`);
    if (check && !check.asPlanned) throw new StepFailure('load', `not as planned: ${check.note}`);
    s.load = `${layers(loaded)}@${gpu ? dev : 'CPU'}`;
    return `${layers(loaded)} layers on ${gpu ? dev : 'the CPU'}; ${check?.note ?? 'no check'}`;
  });

  if (gpu) {
    await step('cap', async () => {
      const cap = opts.deviceCapMiB;
      const loaded = await cliJson('cap', ['load', ids.big, '--devices', dev, '--max-memory-per-gpu', `${cap}MiB`], { okCodes: [1] });
      if (loaded.engine !== 'server') throw new StepFailure('cap', `it loaded on the ${loaded.engine} engine`);
      const planned = loaded.placement?.plan?.devices?.find((d) => d.id.toLowerCase() === dev.toLowerCase());
      if (!planned) throw new StepFailure('cap', `the plan puts nothing on ${dev}: ${loaded.placement?.plan?.summary}`);
      if (planned.capBytes !== cap * MiB) throw new StepFailure('cap', `the plan caps ${dev} at ${planned.capBytes} bytes, not ${cap} MiB`);
      if (planned.plannedBytes > cap * MiB)
        throw new StepFailure('cap', `the plan puts ${(planned.plannedBytes / MiB).toFixed(1)} MiB on ${dev}, over its ${cap} MiB cap`);
      const measured = loaded.placement?.check?.devices?.find((d) => d.id.toLowerCase() === dev.toLowerCase());
      if (!measured) throw new StepFailure('cap', `the load reports no buffers on ${dev}`);
      if (measured.totalBytes > cap * MiB)
        throw new StepFailure(
          'cap',
          `llama.cpp reported ${(measured.totalBytes / MiB).toFixed(1)} MiB of buffers on ${dev}, over its ${cap} MiB cap`,
        );
      if (allLayers(loaded))
        throw new StepFailure('cap', `all ${layers(loaded)} layers went on ${dev} under a ${cap} MiB cap: the cap did not bind`);
      if (!loaded.placement.check.asPlanned) throw new StepFailure('cap', `not as planned: ${loaded.placement.check.note}`);
      s.capLayers = layers(loaded);
      s.capReportedMiB = Number((measured.totalBytes / MiB).toFixed(1));
      return `the bench model under ${dev} <= ${cap} MiB: ${layers(loaded)} layers there, llama.cpp's buffers ${(measured.totalBytes / MiB).toFixed(1)} MiB (planned ${(planned.plannedBytes / MiB).toFixed(1)})`;
    });
  } else say('cap: skipped (dry run: no GPU to cap)');

  await step('measure', async () => {
    const env = ctx.env;
    const { stdout } = await ctx.execStep(
      'measure',
      process.execPath,
      [
        scriptOf(ctx),
        'measure',
        '--small',
        modelOf(ctx),
        '--big',
        bigPath,
        '--llama-server',
        s.llamaServer,
        ...(gpu ? ['--device', dev, '--cap-mib', String(opts.deviceCapMiB)] : ['--cpu']),
        ...(env.GPU_CHECK_MEASURE_ROUNDS ? ['--rounds', env.GPU_CHECK_MEASURE_ROUNDS] : []),
        ...(env.GPU_CHECK_MEASURE_TOKENS ? ['--tokens', env.GPU_CHECK_MEASURE_TOKENS] : []),
      ],
      { env: serverEnv(ctx) },
    );
    s.measure = jsonOf('measure', stdout);
    return `both engines measured${gpu ? ` on ${dev}` : ' on the CPU'} with ${path.basename(bigPath)} (${s.measure.rounds} rounds of ${s.measure.tokens} tokens)`;
  });
  for (const line of describeMeasure(s.measure)) say(line);
  const problems = judgeMeasurements(s.measure, {
    gpu,
    capMiB: opts.deviceCapMiB,
    capSlackMiB: opts.capSlackMiB,
    minParallelRatio: opts.minParallelRatio,
    minPeerRatio: opts.minPeerRatio,
  });
  if (problems.length) {
    const [first, ...rest] = problems;
    throw new StepFailure(
      first.step,
      `${first.reason}${rest.length ? ` (and ${rest.map((p) => `${p.step}: ${p.reason}`).join('; ')})` : ''}`,
    );
  }
}

function describeMeasure(m) {
  const lines = [];
  const mem = m.memory;
  if (mem)
    lines.push(
      `memory: under ${m.device} <= ${mem.capMiB} MiB llama-server used ${mem.cappedOverBaseMiB} MiB over its baseline (${mem.cappedLayers} layers; llama.cpp reported ${mem.cappedReportedMiB ?? '?'} MiB); uncapped ${mem.fullOverBaseMiB} MiB (${mem.fullLayers}); baseline ${mem.baseMiB} MiB with stories260K (nvidia-smi, ${mem.method === 'process' ? "the process's used_memory" : "the GPU's memory.used"})`,
    );
  else lines.push('memory: not measured (dry run: no nvidia-smi)');
  const e = m.engines;
  for (const name of ['worker', 'server'])
    if (e[name])
      lines.push(
        `${name}: ${e[name].layers} layers; 4 streams ${e[name].fourTps} tokens/s over one ${e[name].oneTps} = ${e[name].parallelRatio}x${e[name].parallelNote ? ` (${e[name].parallelNote})` : ''}; one stream ${e[name].oursTps} tokens/s against a plain llama-server's ${e[name].llamaServerTps} = ${e[name].peerRatio} (first token ${e[name].oursTtftMs} vs ${e[name].llamaServerTtftMs} ms)`,
      );
  for (const name of ['worker', 'server']) {
    const sp = m.speculative[name];
    if (sp)
      lines.push(
        `speculative (${name}, ${sp.mode}): ${sp.inUse ? `${sp.accepted} of ${sp.predicted} predicted tokens accepted, ${sp.generated} generated at ${sp.tokensPerSecond} tokens/s` : `not in use: ${sp.note}`}`,
      );
  }
  return lines;
}

/**
 * What the measurements (engines-measure.ts's JSON) say is wrong, each with the step it belongs to: on a GPU,
 * the cap as nvidia-smi saw it, every layer offloaded, 4 streams against one, each engine against a plain
 * llama-server, tokens accepted by speculative decoding; in a dry run, only figures missing.
 */
export function judgeMeasurements(m, { gpu, capMiB, capSlackMiB, minParallelRatio, minPeerRatio }) {
  const problems = [];
  const problem = (step, reason) => problems.push({ step, reason });
  for (const name of ['worker', 'server']) {
    const e = m.engines?.[name];
    if (!e || !Number.isFinite(e.parallelRatio) || !Number.isFinite(e.peerRatio)) problem('measure', `no figures for the ${name} engine`);
  }
  if (!gpu) return problems;

  const mem = m.memory;
  if (!mem || !Number.isFinite(mem.cappedOverBaseMiB) || !Number.isFinite(mem.fullOverBaseMiB))
    problem('memory', `nvidia-smi gave no memory figures for ${m.device}`);
  else {
    if (mem.fullOverBaseMiB <= capMiB)
      problem(
        'memory',
        `the measurement did not see the model: uncapped it used ${mem.fullOverBaseMiB} MiB over the baseline, not more than the ${capMiB} MiB cap`,
      );
    if (mem.cappedOverBaseMiB > capMiB + capSlackMiB)
      problem(
        'memory',
        `under a ${capMiB} MiB cap llama-server used ${mem.cappedOverBaseMiB} MiB on ${m.device} over its baseline (nvidia-smi: ${mem.method}), ${mem.cappedOverBaseMiB - capMiB} MiB over the cap (GPU_CHECK_CAP_SLACK_MIB=${capSlackMiB})`,
      );
    const [on, of] = String(mem.cappedLayers).split('/').map(Number);
    if (on === of) problem('memory', `under a ${capMiB} MiB cap all ${mem.cappedLayers} layers went on ${m.device}: the cap did not bind`);
  }
  for (const name of ['worker', 'server']) {
    const e = m.engines?.[name];
    if (!e) continue;
    const [on, of] = String(e.layers).split('/').map(Number);
    if (!(on > 0 && on === of)) problem('parallel', `the ${name} engine offloaded ${e.layers} layers of the bench model`);
    if (e.parallelRatio < minParallelRatio)
      problem(
        'parallel',
        `4 streams on the ${name} engine made ${e.parallelRatio}x one stream's tokens/s, under ${minParallelRatio}x (GPU_CHECK_MIN_PARALLEL_RATIO)${e.parallelNote ? `: ${e.parallelNote}` : ''}`,
      );
    if (e.peerRatio < minPeerRatio)
      problem(
        'peer',
        `the ${name} engine made ${e.peerRatio} of a plain llama-server's tokens/s, under ${minPeerRatio} (GPU_CHECK_MIN_PEER_RATIO)`,
      );
  }
  for (const name of ['worker', 'server']) {
    const sp = m.speculative?.[name];
    if (!sp) problem('speculative', `not measured on the ${name} engine`);
    else if (!sp.inUse) problem('speculative', `${sp.mode} was not used on the ${name} engine: ${sp.note}`);
    else if (!(sp.accepted > 0))
      problem('speculative', `${sp.mode} on the ${name} engine had no predicted token accepted (${sp.predicted} predicted)`);
  }
  return problems;
}

/** The summary line's fields: of `build`(-server), of `check`(-server), or both for `run`(-server). */
export function serverSummary(ctx, kind) {
  const s = ctx.result.server ?? {};
  const fields = [];
  if (kind === 'build' || kind === 'run') {
    fields.push(`backend=${s.backend}`, `arch=${ctx.result.arch ?? 'none'}`, `build_s=${s.buildSeconds}`, `llama_cpp=${s.llamaCpp}`);
    if (kind === 'build')
      fields.push(
        `devices=${(s.devices ?? []).map((d) => d.split(':')[0]).join(',') || 'none'}`,
        `bench_model=${s.benchModel ? s.benchModel.quantization : 'skipped'}`,
      );
  }
  if (kind === 'check' || kind === 'run') {
    const m = s.measure ?? {};
    const e = m.engines ?? {};
    const mem = m.memory;
    const sp = m.speculative ?? {};
    const gpu = ctx.result.gpus?.[0];
    if (kind === 'check') fields.push(`llama_server=${s.backend}`);
    fields.push(
      `gpu=${gpu ? JSON.stringify(gpu) : 'none'}`,
      `device=${m.device ?? 'none'}`,
      `worker_layers=${s.workerLayers}`,
      `server_layers=${s.serverLayers}`,
      `vision_layers=${s.visionLayers}`,
      `image_tokens=${s.imageTokens ?? '?'}`,
      `load=${s.load}`,
      `cap_mib=${mem ? mem.capMiB : 'skipped'}`,
      ...(mem
        ? [
            `cap_layers=${mem.cappedLayers}`,
            `cap_used_mib=${mem.cappedOverBaseMiB}`,
            `uncapped_used_mib=${mem.fullOverBaseMiB}`,
            `measured_by=${mem.method}`,
          ]
        : []),
      `parallel_worker=${e.worker?.parallelRatio}`,
      `parallel_server=${e.server?.parallelRatio}`,
      `worker_vs_llama_server=${e.worker?.peerRatio}`,
      `server_vs_llama_server=${e.server?.peerRatio}`,
      `spec_worker=${sp.worker ? `${sp.worker.accepted}/${sp.worker.predicted}` : 'none'}`,
      `spec_server=${sp.server ? `${sp.server.accepted}/${sp.server.predicted}` : 'none'}`,
      `model=${path.basename(m.models?.big ?? 'none', '.gguf')}`,
    );
  }
  return fields.join(' ');
}
