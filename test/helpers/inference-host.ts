import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { createHostServices, type HostServices, type HostServicesOptions } from '../../electron/services/host-services';
import { forkLauncher } from '../../electron/inference/launcher';
import type { ApiOverride } from '../../electron/api/api-controller';
import type { ApiStatus } from '../../shared/api';
import type { Engine } from '../../electron/inference/engine';
import type { ChatDelta, GenerateResult } from '../../shared/inference';
import { tempDir } from './temp';
import { testModelPath } from './test-model';

export const WORKER_SCRIPT = path.resolve('dist/electron/worker.mjs');

export interface InferenceHostOptions {
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
}

/**
 * Host services with a real worker process (the built dist/electron/worker.mjs),
 * one generation thread, test hooks on and short supervision timings.
 */
export async function inferenceHost(options: InferenceHostOptions = {}) {
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

export type InferenceHost = Awaited<ReturnType<typeof inferenceHost>>;

export interface ApiHostSetup {
  /** Runs before the API's status is read (settings that the API or the tests need); `api.apply()` is awaited after it. */
  prepare?: (services: HostServices) => unknown;
  /** Writes more model files into the models folder and gives their names: imported (by reference) with stories260K, in one call. */
  moreModels?: (models: string) => string[];
}

/**
 * An inferenceHost for a whole file, in a folder of its own (`dir`, named
 * freehold-<name>-…: the data in dir/data, the models in dir/models), with its
 * OpenAI-compatible API on a free port of 127.0.0.1 and stories260K copied into
 * dir/models and imported by reference. `close()` closes the services and
 * removes the folder; a set-up that fails does both before it throws.
 */
export async function apiHostWithModel(
  name: string,
  options: Omit<InferenceHostOptions, 'api' | 'dataDir'> = {},
  setup: ApiHostSetup = {},
) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `freehold-${name}-`));
  let host: InferenceHost | undefined;
  const close = async () => {
    await host?.services.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    host = await inferenceHost({ ...options, api: { enabled: true, port: 0 }, dataDir: path.join(dir, 'data') });
    const { services } = host;
    await setup.prepare?.(services);
    // Harmless when nothing changed (the running server is kept); waits for any restart the settings asked for.
    await services.api.apply();
    const status: ApiStatus = services.api.status();
    const models = path.join(dir, 'models');
    mkdirSync(models);
    copyFileSync(testModelPath(), path.join(models, 'stories260K.gguf'));
    const files = ['stories260K.gguf', ...(setup.moreModels?.(models) ?? [])];
    const imported = await services.handlers['models.import']({ paths: files.map((f) => path.join(models, f)), mode: 'reference' });
    expect(imported.every((r) => r.ok)).toBe(true);
    return {
      ...host,
      dir,
      models,
      status,
      baseUrl: status.url!,
      key: status.key,
      port: Number(new URL(status.url!).port),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

export type ApiHost = Awaited<ReturnType<typeof apiHostWithModel>>;

/** Link timings for tests: heartbeats every 200 ms, a link dead after 1.5 s, retries within 0.4 s. */
export const FAST_LINKS = {
  timings: { heartbeatMs: 200, deadAfterMs: 1500, backoffMs: [200, 400], connectTimeoutMs: 3000, refreshMs: 1000 },
  heartbeatMs: 500,
};

/**
 * Two web hosts with workers and fast link timings, not paired yet: `tower`
 * shares (on 127.0.0.1, a free port; it downloads from the hub at `hubUrl`),
 * `laptop` uses what others share. Their data folders come from `dataDir`.
 * `close()` closes the laptop, then the tower.
 */
export async function towerAndLaptop(dataDir: () => string, hubUrl: string) {
  const tower = await inferenceHost({
    dataDir: dataDir(),
    host: 'web',
    share: { enabled: true, host: '127.0.0.1', port: 0, name: 'tower' },
    machines: FAST_LINKS,
    hostEnv: { HF_ENDPOINT: hubUrl },
  });
  try {
    const laptop = await inferenceHost({ dataDir: dataDir(), host: 'web', share: { name: 'laptop' }, machines: FAST_LINKS });
    const close = async () => {
      await laptop.services.close();
      await tower.services.close();
    };
    return { tower, laptop, close };
  } catch (error) {
    await tower.services.close();
    throw error;
  }
}

export type TowerAndLaptop = Awaited<ReturnType<typeof towerAndLaptop>>;

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
