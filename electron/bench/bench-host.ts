/** What every benchmark shares: the median of its rounds, and a host of its own with a real worker process. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { forkLauncher } from '../inference/launcher';
import { createHostServices, type HostServices } from '../services/host-services';

const here = path.dirname(fileURLToPath(import.meta.url));

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Host services in a fresh data folder, with the built worker (dist/) in its
 * own process and the local API on a free port; `close` also removes the folder.
 */
export async function benchServices(
  prefix: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ services: HostServices; dataDir: string; close: () => Promise<void> }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `freehold-bench-${prefix}-`));
  const services = await createHostServices({
    dataDir,
    host: 'cli',
    workerLauncher: forkLauncher(path.join(here, 'worker.mjs'), () => undefined),
    log: () => undefined,
    api: { enabled: true, port: 0 },
    ...(env ? { env } : {}),
  });
  return {
    services,
    dataDir,
    close: async () => {
      await services.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
