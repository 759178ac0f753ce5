import os from 'node:os';
import path from 'node:path';
import type { EngineBackend } from '../../electron/engines/engine-backends';
import { buildEngines, findEngines } from '../../electron/engines/llama-engines';

/**
 * llama.cpp's llama-server and ggml-rpc-server for the tests that run them:
 * built once from node-llama-cpp's bundled source into a cache outside the
 * checkout (5 to 15 minutes on 2 cores; CI keeps the cache), then reused. The
 * CPU build by default (FREEHOLD_ENGINES_BACKEND=cpu, set for the whole suite
 * in global-setup.ts); the GPU rig's tests ask for the Vulkan one. Sets
 * FREEHOLD_ENGINES_DIR so every host in the test finds the same build.
 */
export const TEST_ENGINES_DIR = process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines');

export async function ensureTestEngines(
  backend: EngineBackend = 'cpu',
): Promise<{ llamaServer: string; rpcServer: string; env: NodeJS.ProcessEnv }> {
  const env = {
    ...process.env,
    FREEHOLD_ENGINES_DIR: TEST_ENGINES_DIR,
    FREEHOLD_IGNORE_PATH_ENGINES: '1',
    FREEHOLD_ENGINES_BACKEND: backend,
  };
  const status = await findEngines({ dataDir: os.tmpdir(), env });
  const found = status.found ?? (await buildEngines({ dataDir: os.tmpdir(), env, backend }));
  return { llamaServer: found.llamaServer, rpcServer: found.rpcServer, env };
}
