import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { belongsOnTarget, currentTarget, runtimeSpecifiers, type Target } from '../../scripts/gpu-check/pack.mjs';
import { explainFailure } from '../../scripts/gpu-check/run.mjs';
import { tempDir } from '../helpers/temp';

const script = 'scripts/gpu-check.sh';

/** A PATH with node and nothing else, so no nvidia-smi whatever this machine has. */
function nodeOnlyPath(): string {
  const bin = path.join(tempDir('freehold-gpu-check-'), 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, path.join(bin, 'node'));
  return bin;
}

function gpuCheck(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync('/bin/bash', [script, ...args], {
    encoding: 'utf8',
    env: { HOME: process.env.HOME ?? '/tmp', TMPDIR: process.env.TMPDIR ?? '/tmp', PATH: nodeOnlyPath(), ...env },
    timeout: 25_000,
  });
  return { code: result.status, lines: result.stdout.trim().split('\n'), stderr: result.stderr };
}

describe('GPU check script (scripts/gpu-check.sh)', () => {
  it('is valid bash', () => {
    expect(spawnSync('/bin/bash', ['-n', script], { encoding: 'utf8' }).status).toBe(0);
  });

  it('fails in one line, naming nvidia-smi, where there is no NVIDIA GPU', () => {
    const result = gpuCheck(['run'], { GPU_CHECK_DIR: path.join(tempDir(), 'unpacked') });
    expect(result.code).toBe(1);
    expect(result.lines).toHaveLength(1);
    expect(result.lines[0]).toMatch(/^gpu-check: FAIL at preflight: nvidia-smi not found: this check needs a machine with an NVIDIA GPU/);
    expect(result.stderr).toBe('');
  });

  it('fails in one line where Node.js is missing', () => {
    const result = gpuCheck(['run'], { PATH: path.join(tempDir(), 'empty') });
    expect(result.code).toBe(1);
    expect(result.lines).toEqual(['gpu-check: FAIL at preflight: node not found on PATH (Node.js 20.19 or newer is needed)']);
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
      /^gpu-check: FAIL at preflight: .*missing\.tar\.gz not found: run "scripts\/gpu-check\.sh pack"/,
    );
    const noBuild = gpuCheck(['check'], { GPU_CHECK_ALLOW_CPU: '1', GPU_CHECK_DIR: path.join(dir, 'u') });
    expect(noBuild.code).toBe(1);
    expect(noBuild.lines.at(-1)).toMatch(/^gpu-check: FAIL at preflight: nothing unpacked in .*: run "scripts\/gpu-check\.sh build"/);
  });

  it('packs only what the CLI and the worker load, and no prebuilt GPU binaries', () => {
    const result = gpuCheck(['pack', '--list']);
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
        'cmake-js',
        'node-addon-api',
        'node-api-headers',
      ]),
    );
    expect(packages).toEqual(expect.arrayContaining([...roots, 'simple-git', '@neon-rs/load']));
    const { os, arch } = currentTarget();
    if (existsSync(`node_modules/@node-llama-cpp/${os}-${arch}`)) expect(packages).toContain(`@node-llama-cpp/${os}-${arch}`);
    expect(packages.filter((p) => p.startsWith('@node-llama-cpp/'))).toHaveLength(
      existsSync(`node_modules/@node-llama-cpp/${os}-${arch}`) ? 1 : 0,
    );
    for (const devOnly of ['electron', 'react', 'vite', 'esbuild', 'typescript', 'vitest']) expect(packages).not.toContain(devOnly);
  });
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
});
