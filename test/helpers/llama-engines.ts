import os from 'node:os';
import path from 'node:path';
import { buildEngines, findEngines } from '../../electron/engines/llama-engines';

/**
 * llama.cpp's llama-server and ggml-rpc-server for the split-model tests: built
 * once from node-llama-cpp's bundled source into a cache outside the checkout
 * (about 5 minutes on 2 cores; CI keeps the cache), then reused. Sets
 * FREEHOLD_ENGINES_DIR so every host in the test finds the same build.
 */
export const TEST_ENGINES_DIR = process.env.FREEHOLD_ENGINES_DIR ?? path.join(os.homedir(), '.cache', 'freehold-test', 'engines');

export async function ensureTestEngines(): Promise<{ llamaServer: string; rpcServer: string; env: NodeJS.ProcessEnv }> {
  const env = { ...process.env, FREEHOLD_ENGINES_DIR: TEST_ENGINES_DIR, FREEHOLD_IGNORE_PATH_ENGINES: '1' };
  const status = await findEngines({ dataDir: os.tmpdir(), env });
  const found = status.found ?? (await buildEngines({ dataDir: os.tmpdir(), env }));
  return { llamaServer: found.llamaServer, rpcServer: found.rpcServer, env };
}
