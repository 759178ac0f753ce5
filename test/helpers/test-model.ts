import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TEST_MODEL_SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';
export const TEST_MODEL_REPO = 'ggml-org/models';
export const TEST_MODEL_FILE = 'tinyllamas/stories260K.gguf';
const HOW =
  'Set FREEHOLD_TEST_MODEL to a copy of stories260K.gguf (Hugging Face ggml-org/models, file tinyllamas/stories260K.gguf, ' +
  `sha256 ${TEST_MODEL_SHA256}), or place it at ../shared/models/stories260K.gguf beside the project.`;

export const defaultCacheDir = () => path.join(os.homedir(), '.cache', 'freehold-test');

function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function localCandidates(env: NodeJS.ProcessEnv, cacheDir: string): string[] {
  const cached = existsSync(path.join(cacheDir, 'models'))
    ? readdirSync(path.join(cacheDir, 'models')).map((id) => path.join(cacheDir, 'models', id, 'model.gguf'))
    : [];
  return [env.FREEHOLD_TEST_MODEL, path.resolve('..', 'shared', 'models', 'stories260K.gguf'), ...cached].filter((p): p is string =>
    Boolean(p),
  );
}

let cached: string | undefined;

/**
 * The real tiny model the inference tests use: $FREEHOLD_TEST_MODEL, else
 * ../shared/models/stories260K.gguf, else a copy the suite downloaded earlier,
 * each verified by sha256. Tests that need it fail (never skip) with
 * instructions when it is missing; the suites' global setup downloads it first
 * (ensureTestModel) where a hub is reachable.
 */
export function testModelPath(env?: NodeJS.ProcessEnv, cacheDir?: string): string {
  const useCache = env === undefined && cacheDir === undefined;
  if (useCache && cached) return cached;
  env ??= process.env;
  cacheDir ??= defaultCacheDir();
  const candidates = localCandidates(env, cacheDir);
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    const digest = sha256Of(candidate);
    if (digest !== TEST_MODEL_SHA256) {
      if (candidate === env.FREEHOLD_TEST_MODEL) throw new Error(`${candidate} is not stories260K.gguf (sha256 ${digest}). ${HOW}`);
      continue;
    }
    if (useCache) cached = path.resolve(candidate);
    return path.resolve(candidate);
  }
  throw new Error(`The test model stories260K.gguf was not found (looked at: ${candidates.join(', ')}). ${HOW}`);
}

/**
 * Finds the test model, or downloads it once through the app's own download
 * code (hub from HF_ENDPOINT, sha256 checked against the hub's record and
 * against the known digest) into a cache folder. Returns its path.
 */
export async function ensureTestModel(options: { env?: NodeJS.ProcessEnv; cacheDir?: string } = {}): Promise<string> {
  const env = options.env ?? process.env;
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  try {
    return testModelPath(env, cacheDir);
  } catch (notFound) {
    const { createHostServices } = await import('../../electron/services/host-services');
    const services = await createHostServices({
      dataDir: cacheDir,
      host: 'cli',
      env,
      log: () => undefined,
      workerLauncher: () => {
        throw new Error('no inference needed to download the test model');
      },
      downloads: { retryDelaysMs: [500, 1000] },
    });
    try {
      const job = await services.downloads.start(TEST_MODEL_REPO, undefined, TEST_MODEL_FILE, undefined);
      const done = await new Promise<import('../../shared/hub').DownloadJob>((resolve) => {
        const check = () => {
          const current = services.downloads.list().find((j) => j.id === job.id);
          if (current && ['done', 'failed', 'canceled'].includes(current.state)) resolve(current);
        };
        services.events.subscribeAll((event) => event === 'onDownloadProgress' && check());
        check();
      });
      if (done.state !== 'done') throw new Error(done.error ?? done.state, { cause: notFound });
      const file = services.library.get(done.modelId!)!.files[0]!;
      if (sha256Of(file) !== TEST_MODEL_SHA256)
        throw new Error(`the downloaded file's sha256 is not ${TEST_MODEL_SHA256}`, { cause: notFound });
      return file;
    } catch (error) {
      throw new Error(`${(notFound as Error).message} Downloading it also failed: ${(error as Error).message}`, { cause: error });
    } finally {
      await services.close();
    }
  }
}
