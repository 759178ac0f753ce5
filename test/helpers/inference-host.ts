import path from 'node:path';
import { createHostServices, type HostServices, type HostServicesOptions } from '../../electron/services/host-services';
import { forkLauncher } from '../../electron/inference/launcher';
import type { ApiOverride } from '../../electron/api/api-controller';
import type { Engine } from '../../electron/inference/engine';
import type { ChatDelta, GenerateResult } from '../../shared/inference';
import { tempDir } from './temp';

export const WORKER_SCRIPT = path.resolve('dist/electron/worker.mjs');

/**
 * Host services with a real worker process (the built dist/electron/worker.mjs),
 * one generation thread, test hooks on and short supervision timings.
 */
export async function inferenceHost(
  options: {
    watchdog?: { intervalMs: number; timeoutMs: number };
    env?: NodeJS.ProcessEnv;
    api?: ApiOverride;
    host?: 'cli' | 'electron' | 'web';
    dataDir?: string;
    watchFolders?: boolean;
    engine?: (engine: Engine) => Engine;
    share?: HostServicesOptions['share'];
    machines?: HostServicesOptions['machines'];
    engines?: HostServicesOptions['engines'];
    tools?: HostServicesOptions['tools'];
    /** The services' environment (HF_ENDPOINT for a fake hub), apart from the worker's. */
    hostEnv?: NodeJS.ProcessEnv;
  } = {},
) {
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  const services: HostServices = await createHostServices({
    dataDir: options.dataDir ?? tempDir(),
    host: options.host ?? 'cli',
    api: options.api,
    watchFolders: options.watchFolders,
    workerLauncher: forkLauncher(WORKER_SCRIPT, log, { FREEHOLD_WORKER_TEST_HOOKS: '1', ...options.env }),
    log,
    watchdog: options.watchdog ?? { intervalMs: 1000, timeoutMs: 10_000 },
    backoffMs: [50, 100],
    engine: options.engine,
    share: options.share,
    machines: options.machines,
    engines: options.engines,
    tools: options.tools,
    env: options.hostEnv,
  });
  await services.settings.update({ inference: { threads: 1 } });
  const deltas: ChatDelta[] = [];
  services.events.subscribeAll((event, payload) => {
    if (event === 'onChatDelta') deltas.push(payload as ChatDelta);
  });
  return { services, logs, deltas };
}

export function textOf(deltas: ChatDelta[], requestId: string): string {
  return deltas
    .filter((d) => d.requestId === requestId)
    .flatMap((d) => d.parts)
    .filter((p) => p.kind === 'text')
    .map((p) => p.text)
    .join('');
}

/** An engine wrapper (the `engine` option) that records every reply and completion the engine finished. */
export function recordResults(into: GenerateResult[], kinds: Array<'generate' | 'complete'> = ['generate', 'complete']) {
  return (engine: Engine): Engine => {
    for (const name of kinds) {
      const original = engine[name].bind(engine) as (input: never) => Promise<GenerateResult>;
      (engine as unknown as Record<string, unknown>)[name] = async (input: never) => {
        const result = await original(input);
        into.push(result);
        return result;
      };
    }
    return engine;
  };
}
