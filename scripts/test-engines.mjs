// Before the tests: llama.cpp's llama-server and ggml-rpc-server for the
// split-model and server-engine tests (a CPU build, and a Vulkan one for the GPU rig), built once from node-llama-cpp's bundled source into a
// cache outside the checkout (~/.cache/freehold-test/engines, or
// FREEHOLD_ENGINES_DIR) and reused: `freehold engines --build` does nothing
// when the build for this llama.cpp version is there. About 5 minutes on 2
// cores the first time; here rather than inside a test, so that it has the
// machine to itself and no test timeout.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const enginesDir = process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines');
const env = { ...process.env, FREEHOLD_ENGINES_DIR: enginesDir, FREEHOLD_IGNORE_PATH_ENGINES: '1' };
const build = spawnSync(process.execPath, ['scripts/build-node.mjs', '--quiet'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'freehold-engines-'));
try {
  // The CPU build (what most tests run), then the Vulkan one (node-llama-cpp's backend; no-ops when built).
  // The Vulkan build where Mesa's lavapipe is installed (the GPU rig's tests use the two together).
  const lavapipe = ['/usr/share/vulkan/icd.d/lvp_icd.x86_64.json', '/usr/share/vulkan/icd.d/lvp_icd.aarch64.json'].some((f) =>
    existsSync(f),
  );
  for (const backend of [['--backend', 'cpu'], ...(lavapipe ? [['--backend', 'vulkan']] : [])]) {
    const result = spawnSync(process.execPath, ['dist/electron/cli.mjs', 'engines', '--build', ...backend, '--data-dir', dataDir], {
      stdio: 'inherit',
      env,
    });
    process.exitCode = result.status ?? 1;
    if (process.exitCode !== 0) break;
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
