import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  archiveLimitBytes,
  belongsOnTarget,
  currentTarget,
  neverLoaded,
  runtimeSpecifiers,
  type Target,
} from '../../scripts/gpu-check/pack.mjs';
import { explainFailure } from '../../scripts/gpu-check/run.mjs';
import { judgeMeasurements, parseDevices, type Measurements } from '../../scripts/gpu-check/server.mjs';
import { peakWhile, sampleGpu } from '../../scripts/gpu-check/nvidia-smi';
import { suiteTempDirs, tempDir } from '../helpers/temp';

const script = 'scripts/gpu-check.sh';
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const NEW_COMMANDS = ['build-server', 'check-server', 'run-server'];

/** A folder with node in it and nothing else, so no nvidia-smi whatever this machine has. */
function nodeOnlyPath(parent = tempDir('freehold-gpu-check-')): string {
  const bin = path.join(parent, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, path.join(bin, 'node'));
  return bin;
}

/** A folder with a stand-in nvidia-smi: the script's own `body` (sh), given the query as $1. */
function fakeNvidiaSmi(body: string): string {
  const bin = path.join(tempDir('freehold-fake-smi-'), 'bin');
  mkdirSync(bin);
  writeFileSync(path.join(bin, 'nvidia-smi'), `#!/bin/sh\n${body}\n`);
  chmodSync(path.join(bin, 'nvidia-smi'), 0o755);
  return bin;
}

function gpuCheck(args: string[], env: Record<string, string> = {}, timeout = 25_000) {
  const result = spawnSync('/bin/bash', [script, ...args], {
    encoding: 'utf8',
    env: { HOME: process.env.HOME ?? '/tmp', TMPDIR: process.env.TMPDIR ?? '/tmp', PATH: nodeOnlyPath(), ...env },
    timeout,
  });
  return { code: result.status, lines: result.stdout.trim().split('\n'), stdout: result.stdout, stderr: result.stderr };
}

/** An unpacked folder as far as the preflight looks: its manifest. */
function fakeUnpacked(): string {
  const dir = path.join(tempDir(), 'unpacked');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'gpu-check.json'), '{}');
  return dir;
}

describe('GPU check script (scripts/gpu-check.sh)', () => {
  it('is valid bash', () => {
    expect(spawnSync('/bin/bash', ['-n', script], { encoding: 'utf8' }).status).toBe(0);
  });

  it('names every command in its usage, and refuses an unknown one', () => {
    const help = gpuCheck(['help']);
    expect(help.code).toBe(0);
    for (const command of ['pack', 'run', 'build', 'check', ...NEW_COMMANDS]) expect(help.stdout).toContain(`  ${command} `);
    expect(help.stdout).toMatch(/at most 10 minutes/);
    expect(gpuCheck(['frobnicate']).code).toBe(2);
  });

  it('fails in one line, naming nvidia-smi, where there is no NVIDIA GPU (every command run on the GPU machine)', () => {
    for (const command of ['run', 'build', 'check', ...NEW_COMMANDS]) {
      const result = gpuCheck([command], { GPU_CHECK_DIR: path.join(tempDir(), 'unpacked') });
      expect(result.code, command).toBe(1);
      expect(result.lines, command).toHaveLength(1);
      expect(result.lines[0]).toMatch(
        new RegExp(`^gpu-check ${command}: FAIL at preflight: nvidia-smi not found: this check needs a machine with an NVIDIA GPU`),
      );
      expect(result.stderr).toBe('');
    }
  });

  it('fails in one line where Node.js is missing', () => {
    const result = gpuCheck(['run-server'], { PATH: path.join(tempDir(), 'empty') });
    expect(result.code).toBe(1);
    expect(result.lines).toEqual(['gpu-check run-server: FAIL at preflight: node not found on PATH (Node.js 20.19 or newer is needed)']);
  });

  it('says what to do first when the archive or the build is missing (dry run)', () => {
    const dir = tempDir();
    const noArchive = gpuCheck(['run'], {
      GPU_CHECK_ALLOW_CPU: '1',
      GPU_CHECK_ARCHIVE: path.join(dir, 'missing.tar.gz'),
      GPU_CHECK_DIR: path.join(dir, 'u'),
    });
    expect(noArchive.code).toBe(1);
    expect(noArchive.lines.at(-1)).toMatch(
      /^gpu-check run: FAIL at preflight: .*missing\.tar\.gz not found: run "scripts\/gpu-check\.sh pack"/,
    );
    for (const command of ['check', ...NEW_COMMANDS]) {
      const noBuild = gpuCheck([command], { GPU_CHECK_ALLOW_CPU: '1', GPU_CHECK_DIR: path.join(dir, 'u') });
      expect(noBuild.code, command).toBe(1);
      expect(noBuild.lines.at(-1)).toMatch(
        new RegExp(`^gpu-check ${command}: FAIL at preflight: nothing unpacked in .*: run "scripts/gpu-check\\.sh build"`),
      );
    }
  });

  it('on a GPU machine, names the CUDA tools the server build lacks, and asks for the worker build before check-server', () => {
    const smi = fakeNvidiaSmi('echo "NVIDIA Stand-in, 9.0, 81559"');
    const env = { GPU_CHECK_DIR: fakeUnpacked(), PATH: `${nodeOnlyPath()}:${smi}`, CUDA_PATH: path.join(tempDir(), 'no-cuda') };
    const build = gpuCheck(['build-server'], env);
    expect(build.code).toBe(1);
    expect(build.lines).toHaveLength(1);
    // The CUDA toolkit (or, where a toolkit without it is installed, its cuBLAS), and the build tools not on this PATH.
    expect(build.lines[0]).toMatch(/^gpu-check build-server: FAIL at preflight: not found: .*(nvcc \(the CUDA toolkit|cuBLAS \()/);
    expect(build.lines[0]).toMatch(/cmake; make or ninja; a C\+\+ compiler/);
    const check = gpuCheck(['check-server'], env);
    expect(check.code).toBe(1);
    expect(check.lines).toEqual([
      expect.stringMatching(
        /^gpu-check check-server: FAIL at preflight: node-llama-cpp's CUDA build is missing in .*: run "scripts\/gpu-check\.sh build" \(or run\) first/,
      ),
    ]);
  });

  it('packs only what the CLI and the worker load, and no prebuilt GPU binaries', () => {
    const result = gpuCheck(['pack', '--list'], { PATH: `${nodeOnlyPath()}:${SYSTEM_PATH}` }, 60_000);
    expect(result.code, result.lines.join('\n')).toBe(0);
    const { roots, packages } = JSON.parse(result.lines.at(-1)!) as { roots: string[]; packages: string[] };
    // Imported by the bundles (libsql through a runtime require), plus what node-llama-cpp's source build runs.
    expect(roots).toEqual(
      expect.arrayContaining([
        'node-llama-cpp',
        'zod',
        'birpc',
        'fastify',
        '@huggingface/hub',
        'libsql',
        'sharp',
        'cmake-js',
        'node-addon-api',
        'node-api-headers',
      ]),
    );
    expect(packages).toEqual(expect.arrayContaining([...roots, 'simple-git', '@neon-rs/load']));
    const { os: osName, arch } = currentTarget();
    if (existsSync(`node_modules/@node-llama-cpp/${osName}-${arch}`)) expect(packages).toContain(`@node-llama-cpp/${osName}-${arch}`);
    expect(packages.filter((p) => p.startsWith('@node-llama-cpp/'))).toHaveLength(
      existsSync(`node_modules/@node-llama-cpp/${osName}-${arch}`) ? 1 : 0,
    );
    for (const devOnly of ['electron', 'react', 'vite', 'esbuild', 'typescript', 'vitest']) expect(packages).not.toContain(devOnly);
  }, 90_000);
});

/**
 * The archive itself, and a dry run of the steps that use it on this machine
 * (the CPU): `build` (unpack, llama.cpp's source), then `run-server` with
 * llama.cpp's CPU build the tests already made, so nothing is compiled here.
 */
describe('GPU check archive and dry run', () => {
  const work = suiteTempDirs('freehold-gpu-archive-')();
  const archive = path.join(work, 'freehold-gpu-check.tar.gz');
  const unpacked = path.join(work, 'unpacked');
  const enginesDir = process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines');
  const llamaCpp = (JSON.parse(readFileSync('node_modules/node-llama-cpp/llama/llama.cpp.info.json', 'utf8')) as { tag: string }).tag;
  const cpuEngines = path.join(enginesDir, `llama.cpp-${llamaCpp}-cpu`, 'bin', 'llama-server');
  const model = process.env.FREEHOLD_TEST_MODEL ?? path.resolve('..', 'shared', 'models', 'stories260K.gguf');
  const onThisMachine = { PATH: `${nodeOnlyPath(work)}:${SYSTEM_PATH}`, FREEHOLD_TEST_MODEL: model, GPU_CHECK_ARCHIVE: archive };
  const gpuHere = spawnSync('/bin/sh', ['-c', 'command -v nvidia-smi'], { env: { PATH: SYSTEM_PATH } }).status === 0;

  it.skipIf(!existsSync(model))(
    'packs within 64 MiB, with what both halves of the check need',
    () => {
      const result = gpuCheck(['pack'], onThisMachine, 240_000);
      expect(result.code, result.stdout).toBe(0);
      expect(result.lines.at(-1)).toMatch(/^gpu-check pack: ok .*freehold-gpu-check\.tar\.gz: [\d.]+ MiB of 64\.0 MiB/);
      expect(statSync(archive).size).toBeLessThanOrEqual(archiveLimitBytes);
      const listed = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      expect(listed.status).toBe(0);
      const files = new Set(listed.stdout.split('\n').map((f) => f.replace(/^freehold-gpu-check\//, '')));
      for (const needed of [
        'gpu-check.json',
        'dist/electron/cli.mjs',
        'dist/electron/worker.mjs',
        // The server half's own measurements (engines-measure.ts), beside the worker it forks.
        'dist/electron/gpu-check-engines.mjs',
        // llama.cpp's source, for node-llama-cpp's CUDA build and for `freehold engines --build --backend cuda`.
        'node_modules/node-llama-cpp/llama/gitRelease.bundle',
        'node_modules/node-llama-cpp/llama/llama.cpp.info.json',
        // Images are decoded (and checked) with sharp before a vision reply.
        'node_modules/sharp/package.json',
        'models/stories260K.gguf',
      ])
        expect(files, needed).toContain(needed);
      expect([...files].filter((f) => /^node_modules\/@img\/sharp-libvips-/.test(f)).length).toBeGreaterThan(0);
      // Nothing Node never loads, and no prebuilt GPU backend.
      expect([...files].filter((f) => f.startsWith('node_modules/') && neverLoaded(f))).toEqual([]);
      expect([...files].filter((f) => /^node_modules\/@node-llama-cpp\/[^/]+-(cuda|vulkan)/.test(f))).toEqual([]);
      const manifest = JSON.parse(
        spawnSync('tar', ['-xzOf', archive, 'freehold-gpu-check/gpu-check.json'], { encoding: 'utf8' }).stdout,
      ) as { bundles: string[]; llamaCpp: string };
      expect(manifest.bundles).toContain('dist/electron/gpu-check-engines.mjs');
      expect(manifest.llamaCpp).toBe(llamaCpp);
    },
    300_000,
  );

  it.skipIf(!existsSync(model) || !existsSync(cpuEngines) || gpuHere)(
    'dry run: build, then run-server (llama.cpp’s server engine and both engines measured), each ending in one line',
    () => {
      if (!existsSync(archive)) expect(gpuCheck(['pack'], onThisMachine, 240_000).code).toBe(0);
      const env = { ...onThisMachine, GPU_CHECK_ALLOW_CPU: '1', GPU_CHECK_DIR: unpacked, FREEHOLD_ENGINES_DIR: enginesDir };
      const build = gpuCheck(['build'], env, 180_000);
      expect(build.code, build.stdout).toBe(0);
      expect(build.lines.at(-1)).toMatch(/^gpu-check build: ok \(dry run: no GPU checked\) arch=none build_s=skipped; next: /);

      const run = gpuCheck(['run-server'], env, 400_000);
      expect(run.code, run.stdout).toBe(0);
      // Progress lines, then one summary line: the last.
      expect(run.lines.filter((line) => line.startsWith('gpu-check run-server:'))).toEqual([run.lines.at(-1)]);
      expect(run.lines.every((line) => line.startsWith('gpu-check'))).toBe(true);
      expect(run.lines.at(-1)).toMatch(
        new RegExp(
          [
            '^gpu-check run-server: ok \\(dry run: no GPU checked\\) backend=cpu arch=none build_s=reused',
            `llama_cpp=${llamaCpp.replaceAll('.', '\\.')} gpu=none device=CPU`,
            'worker_layers=0/\\d+ server_layers=0/\\d+ vision_layers=0/\\d+ image_tokens=\\d+ load=0/\\d+@CPU cap_mib=skipped',
            'parallel_worker=[\\d.]+ parallel_server=[\\d.]+ worker_vs_llama_server=[\\d.]+ server_vs_llama_server=[\\d.]+',
            'spec_worker=\\d+/\\d+ spec_server=\\d+/\\d+ model=stories260K$',
          ].join(' '),
        ),
      );
      for (const step of [
        /^gpu-check: server-build: llama\.cpp .* for cpu, already built/,
        /^gpu-check: bench-model: skipped \(dry run/,
        /^gpu-check: fixtures: a tiny random vision projector/,
        /^gpu-check: worker-chat: worker: 0\/\d+ layers/,
        /^gpu-check: server-chat: server: 0\/\d+ layers/,
        /^gpu-check: vision: mmproj-tiny\.gguf on llama\.cpp's server.*the image took \d+ of \d+ prompt tokens/,
        /^gpu-check: plan: /,
        /^gpu-check: load: 0\/\d+ layers on the CPU/,
        /^gpu-check: cap: skipped \(dry run/,
        /^gpu-check: memory: not measured \(dry run/,
        /^gpu-check: worker: 0\/\d+ layers; 4 streams [\d.]+ tokens\/s over one [\d.]+ = [\d.]+x; one stream [\d.]+ tokens\/s against a plain llama-server's [\d.]+ = [\d.]+/,
        /^gpu-check: server: 0\/\d+ layers; 4 streams /,
        /^gpu-check: speculative \(worker, prompt-lookup\): /,
        /^gpu-check: speculative \(server, draft\): \d+ of \d+ predicted tokens accepted/,
      ])
        expect(
          run.lines.some((line) => step.test(line)),
          String(step),
        ).toBe(true);

      const result = JSON.parse(readFileSync(path.join(unpacked, 'result-run-server.json'), 'utf8')) as {
        ok: boolean;
        server: { measure: Required<Measurements> };
      };
      expect(result.ok).toBe(true);
      const { engines, speculative } = result.server.measure;
      expect(Object.keys(engines).sort()).toEqual(['server', 'worker']);
      // The model is its own draft on llama.cpp's server: greedy, every prediction is the model's own choice.
      expect(speculative.server).toMatchObject({ mode: 'draft', inUse: 'draft' });
      expect(speculative.server!.accepted).toBeGreaterThan(0);
      expect(speculative.worker).toMatchObject({ mode: 'prompt-lookup', inUse: 'prompt-lookup' });
    },
    600_000,
  );
});

describe('GPU check helpers', () => {
  it('finds the packages a bundle imports, statically, dynamically or through require', () => {
    const code = [
      'import { z } from "zod";',
      'import "@scope/pkg/side-effect";',
      'const llama = await import("node-llama-cpp");',
      'const db = nodeRequire("libsql");',
      'import fs from "node:fs"; import os from "os"; import local from "./local.js";',
      'const where = require.resolve("birpc");',
    ].join('\n');
    expect(runtimeSpecifiers(code)).toEqual(['@scope/pkg', 'birpc', 'libsql', 'node-llama-cpp', 'zod']);
  });

  it("keeps node-llama-cpp's CPU binaries for the target only, and the matching libc", () => {
    const target: Target = { platform: 'linux', os: 'linux', arch: 'x64', libc: 'glibc' };
    expect(belongsOnTarget({ name: '@node-llama-cpp/linux-x64', os: ['linux'], cpu: ['x64'] }, target)).toBe(true);
    expect(belongsOnTarget({ name: '@node-llama-cpp/linux-x64-cuda', os: ['linux'], cpu: ['x64'] }, target)).toBe(false);
    expect(belongsOnTarget({ name: '@node-llama-cpp/linux-x64-vulkan' }, target)).toBe(false);
    expect(belongsOnTarget({ name: '@libsql/linux-x64-gnu', os: ['linux'], cpu: ['x64'] }, target)).toBe(true);
    expect(belongsOnTarget({ name: '@libsql/linux-x64-musl', os: ['linux'], cpu: ['x64'] }, target)).toBe(false);
    expect(belongsOnTarget({ name: 'fsevents', os: ['darwin'] }, target)).toBe(false);
    expect(belongsOnTarget({ name: 'not-on-x64', cpu: ['!x64'] }, target)).toBe(false);
    expect(belongsOnTarget({ name: 'glibc-only', libc: ['glibc'] }, target)).toBe(true);
  });

  it('leaves out only files Node never loads (the C and C++ sources a build compiles stay)', () => {
    for (const file of ['zod/index.d.ts', 'openai/src/index.ts', 'x/y.mts', 'pkg/README.md', 'pkg/CHANGELOG.markdown', 'a/b.js.map'])
      expect(neverLoaded(file), file).toBe(true);
    for (const file of ['zod/index.js', 'openai/index.mjs', 'node-llama-cpp/llama/addon/addon.cpp', 'node-addon-api/napi.h', 'a/LICENSE'])
      expect(neverLoaded(file), file).toBe(false);
  });

  it('explains a failed CUDA build by its CMake error, not by the stack trace after it', () => {
    const output = [
      '\u001b[2K\u001b[1A◷ Compiling llama.cpp',
      'CMake Error at llama.cpp/ggml/src/ggml-cuda/CMakeLists.txt:165 (target_link_libraries):',
      '  Target "ggml-cuda" links to:',
      '    CUDA::cublas',
      '  but the target was not found.',
      'Failed to build llama.cpp with CUDA support. Error: SpawnError: Command npm run -s cmake-js-llama -- compile exited with code 1',
      '    at createError (file:///x/spawnCommand.js:34:20)',
      'Node.js v20.20.2',
    ].join('\n');
    const { reason, context } = explainFailure(output);
    expect(reason).toMatch(/^CMake Error at .*Target "ggml-cuda" links to:\s+CUDA::cublas/);
    expect(context[0]).toMatch(/^CMake Error/);
    expect(
      explainFailure('EnvVarError: env-var: "CI" should be either "true" or "false"\n    at raiseError (x.js:1:1)\nNode.js v20.20.2')
        .reason,
    ).toMatch(/^EnvVarError/);
  });

  it('reads the GPUs llama-server lists (its --list-devices)', () => {
    const text = [
      'ggml_cuda_init: found 2 CUDA devices:',
      'Available devices:',
      '  CUDA0: NVIDIA H100 80GB HBM3 (81079 MiB, 80562 MiB free)',
      '  CUDA1: NVIDIA H100 80GB HBM3 (81079 MiB, 1024 MiB free)',
    ].join('\n');
    expect(parseDevices(text)).toEqual([
      { id: 'CUDA0', name: 'NVIDIA H100 80GB HBM3', totalMiB: 81079, freeMiB: 80562 },
      { id: 'CUDA1', name: 'NVIDIA H100 80GB HBM3', totalMiB: 81079, freeMiB: 1024 },
    ]);
    expect(parseDevices('Available devices:\n')).toEqual([]);
  });

  describe('judging the engines’ measurements', () => {
    const limits = { gpu: true, capMiB: 256, capSlackMiB: 16, minParallelRatio: 2.5, minPeerRatio: 0.5 };
    const good = (): Measurements => ({
      gpu: true,
      device: 'CUDA0',
      memory: { method: 'process', capMiB: 256, cappedOverBaseMiB: 241, fullOverBaseMiB: 790, cappedLayers: '7/24' },
      engines: {
        worker: { layers: '25/25', parallelRatio: 3.1, peerRatio: 0.93 },
        server: { layers: '24/24', parallelRatio: 3.6, peerRatio: 0.99 },
      },
      speculative: {
        worker: { mode: 'prompt-lookup', inUse: 'prompt-lookup', note: null, predicted: 40, accepted: 12 },
        server: { mode: 'draft', inUse: 'draft', note: null, predicted: 60, accepted: 60 },
      },
    });
    const judged = (change: (m: Measurements) => void, options = limits) => {
      const m = good();
      change(m);
      return judgeMeasurements(m, options);
    };

    it('passes figures a GPU should give', () => {
      expect(judgeMeasurements(good(), limits)).toEqual([]);
    });

    it('fails a cap that nvidia-smi saw exceeded, or that did not bind, or a measurement that saw no model', () => {
      expect(judged((m) => (m.memory!.cappedOverBaseMiB = 300))).toEqual([
        { step: 'memory', reason: expect.stringMatching(/under a 256 MiB cap llama-server used 300 MiB on CUDA0 .*44 MiB over the cap/) },
      ]);
      expect(judged((m) => (m.memory!.cappedOverBaseMiB = 270))).toEqual([]);
      expect(judged((m) => (m.memory!.cappedLayers = '24/24'))).toEqual([
        { step: 'memory', reason: expect.stringMatching(/the cap did not bind/) },
      ]);
      expect(judged((m) => (m.memory!.fullOverBaseMiB = 12))).toEqual([
        { step: 'memory', reason: expect.stringMatching(/the measurement did not see the model/) },
      ]);
      expect(judged((m) => (m.memory = null))).toEqual([
        { step: 'memory', reason: expect.stringMatching(/nvidia-smi gave no memory figures/) },
      ]);
    });

    it('fails 4 streams under 2.5x one, an engine far behind llama-server, layers left on the CPU, no accepted predictions', () => {
      expect(judged((m) => (m.engines!.server!.parallelRatio = 1.8))).toEqual([
        { step: 'parallel', reason: expect.stringMatching(/4 streams on the server engine made 1\.8x .*under 2\.5x/) },
      ]);
      expect(judged((m) => (m.engines!.worker!.peerRatio = 0.3))).toEqual([
        { step: 'peer', reason: expect.stringMatching(/the worker engine made 0\.3 of a plain llama-server's tokens\/s/) },
      ]);
      expect(judged((m) => (m.engines!.worker!.layers = '20/25'))).toEqual([
        { step: 'parallel', reason: expect.stringMatching(/offloaded 20\/25 layers/) },
      ]);
      expect(judged((m) => Object.assign(m.speculative!.server!, { inUse: null, note: 'the draft does not fit' }))).toEqual([
        { step: 'speculative', reason: 'draft was not used on the server engine: the draft does not fit' },
      ]);
      expect(judged((m) => (m.speculative!.worker!.accepted = 0))).toEqual([
        { step: 'speculative', reason: expect.stringMatching(/prompt-lookup on the worker engine had no predicted token accepted/) },
      ]);
    });

    it('judges no figure in a dry run, but wants both engines measured', () => {
      const dry = { ...limits, gpu: false };
      expect(
        judged((m) => {
          m.memory = null;
          m.engines!.server!.parallelRatio = 1;
          m.speculative = {};
        }, dry),
      ).toEqual([]);
      expect(judged((m) => delete m.engines!.worker, dry)).toEqual([{ step: 'measure', reason: 'no figures for the worker engine' }]);
    });
  });

  describe('GPU memory from nvidia-smi', () => {
    const savedPath = process.env.PATH;
    afterEach(() => {
      process.env.PATH = savedPath;
    });
    const smi = () =>
      fakeNvidiaSmi(
        [
          'case "$1" in',
          '  --query-gpu=*) printf "0, GPU-aaa, 1234\\n1, GPU-bbb, 99\\n" ;;',
          '  --query-compute-apps=*) printf "4242, 600, GPU-aaa\\n4243, 50, GPU-bbb\\n4244, [N/A], GPU-aaa\\n" ;;',
          'esac',
        ].join('\n'),
      );

    it("reads the processes' used_memory on one GPU, and the GPU's memory.used", async () => {
      process.env.PATH = `${smi()}:${savedPath}`;
      expect(await sampleGpu(0, [4242, 4243])).toEqual({ processMiB: 600, gpuMiB: 1234 });
      expect(await sampleGpu(1, [4243])).toEqual({ processMiB: 50, gpuMiB: 99 });
      // A process nvidia-smi does not name (another pid namespace), or names without a figure: the GPU's only.
      expect(await sampleGpu(0, [1])).toEqual({ processMiB: null, gpuMiB: 1234 });
      expect(await sampleGpu(0, [4244])).toEqual({ processMiB: null, gpuMiB: 1234 });
      const peak = await peakWhile(
        0,
        () => [4242],
        async () => 'done',
        { everyMs: 5, settleMs: 5 },
      );
      expect(peak).toMatchObject({ result: 'done', peak: { processMiB: 600, gpuMiB: 1234 } });
      expect(peak.samples).toBeGreaterThanOrEqual(2);
    });

    it('gives no figures where nvidia-smi is missing', async () => {
      process.env.PATH = path.join(tempDir(), 'empty');
      expect(await sampleGpu(0, [4242])).toEqual({ processMiB: null, gpuMiB: null });
    });
  });
});
