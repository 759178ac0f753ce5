/**
 * Which llama.cpp backend the inference worker runs on, and why not the
 * others: the first of CUDA, Vulkan, Metal, CPU (or the one chosen in the
 * settings) that loads and has a device to run on. A GPU backend that loads
 * but finds no GPU (Vulkan on a machine with only Mesa's lavapipe, a CPU
 * renderer that llama.cpp skips) is not chosen: every layer would run on the
 * CPU under a GPU's name. Runs in the worker process only.
 */
import { fork } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { getLlama, getLlamaGpuTypes, LlamaLogLevel, NoBinaryFoundError, type Llama, type LlamaGpuType } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import { backendLabels, backendNames, type BackendAttempt, type BackendName } from '../../shared/inference';

export type LlamaLogger = (level: LlamaLogLevel, message: string) => void;

function gpuTypeOf(backend: BackendName): LlamaGpuType {
  return backend === 'cpu' ? false : backend;
}

function backendOf(gpu: LlamaGpuType): BackendName {
  return gpu === false ? 'cpu' : gpu;
}

function nodeLlamaCppRoot(): string | undefined {
  try {
    return path.join(path.dirname(createRequire(import.meta.url).resolve('node-llama-cpp')), '..');
  } catch {
    return undefined;
  }
}

export function nodeLlamaCppVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(nodeLlamaCppRoot() ?? '', 'package.json'), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

/** node-llama-cpp's name for a platform, in its folder and package names. */
function platformName(platform: NodeJS.Platform): string {
  return platform === 'win32' ? 'win' : platform === 'darwin' ? 'mac' : platform;
}

/** The folder of a prebuilt binary inside its package ("linux-x64-vulkan"), as node-llama-cpp names it. */
function binaryFolder(backend: BackendName): string {
  return `${platformName(process.platform)}-${process.arch}${backend === 'cpu' ? '' : `-${backend}`}`;
}

/** The npm package that carries node-llama-cpp's prebuilt binary for a backend on this platform. */
function prebuiltPackage(backend: BackendName): string {
  return `@node-llama-cpp/${binaryFolder(backend)}`;
}

/** A package as node-llama-cpp would import it (from its own folder): where it is and its version. */
function installedPackage(name: string): { dir: string; version: string } | undefined {
  const root = nodeLlamaCppRoot();
  if (!root) return undefined;
  try {
    const entry = createRequire(path.join(root, 'package.json')).resolve(name);
    let dir = path.dirname(entry);
    while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    const { version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string };
    return { dir, version };
  } catch {
    return undefined;
  }
}

/** A Vulkan driver the Vulkan loader would find: its manifest, its library, and the CPU renderer it is, if it is one. */
export interface VulkanDriver {
  manifest: string;
  library: string;
  /** The device name of a CPU renderer ("llvmpipe"), which llama.cpp skips unless GGML_VK_VISIBLE_DEVICES names it. */
  cpuRenderer?: string;
}

/** Drivers that render on the CPU, by their library's file name, with the name their device reports. */
const cpuRenderers: [RegExp, string][] = [
  [/^libvulkan_lvp\b/, 'llvmpipe'],
  [/^libvk_swiftshader\b/, 'SwiftShader'],
];

/**
 * Where the Vulkan loader looks for driver manifests on Linux: VK_DRIVER_FILES
 * (or the older VK_ICD_FILENAMES) replace the search, VK_ADD_DRIVER_FILES adds
 * to it; otherwise the XDG config and data folders and /etc, each with vulkan/icd.d.
 */
export function vulkanDriverPaths(env: NodeJS.ProcessEnv, home: string): string[] {
  const list = (value: string | undefined) => (value ?? '').split(path.delimiter).filter(Boolean);
  const added = list(env.VK_ADD_DRIVER_FILES);
  const only = list(env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES);
  if (only.length) return [...only, ...added];
  const configDirs = [env.XDG_CONFIG_HOME || path.join(home, '.config'), ...list(env.XDG_CONFIG_DIRS || '/etc/xdg'), '/etc'];
  const dataDirs = [env.XDG_DATA_HOME || path.join(home, '.local/share'), ...list(env.XDG_DATA_DIRS || '/usr/local/share:/usr/share')];
  return [...added, ...[...configDirs, ...dataDirs].map((dir) => path.join(dir, 'vulkan', 'icd.d'))];
}

/**
 * The Vulkan drivers installed, from their manifests; undefined where this
 * cannot be told from files (Windows keeps them in the registry, macOS has none).
 */
export function vulkanDrivers(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): VulkanDriver[] | undefined {
  if (platform !== 'linux') return undefined;
  const manifests = new Set<string>();
  for (const entry of vulkanDriverPaths(env, os.homedir())) {
    try {
      if (statSync(entry).isDirectory()) {
        for (const name of readdirSync(entry).sort()) if (name.endsWith('.json')) manifests.add(path.join(entry, name));
      } else manifests.add(entry);
    } catch {
      // Not there: the loader skips it too.
    }
  }
  const drivers: VulkanDriver[] = [];
  for (const manifest of manifests) {
    let library: string;
    try {
      library = (JSON.parse(readFileSync(manifest, 'utf8')) as { ICD?: { library_path?: string } }).ICD?.library_path ?? '';
    } catch {
      continue; // Unreadable or not JSON: the loader ignores it.
    }
    if (!library) continue;
    const file = path.basename(library);
    const cpuRenderer = cpuRenderers.find(([pattern]) => pattern.test(file))?.[1];
    drivers.push({ manifest, library: file, ...(cpuRenderer ? { cpuRenderer } : {}) });
  }
  return drivers;
}

/** "a and b", "a, b and c". */
function listed(items: readonly string[]): string {
  return items.length < 2 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * Why a GPU backend that loaded has nothing to run on, in the words that
 * follow "Vulkan loaded but ": "found no GPU (only llvmpipe, a CPU renderer)".
 * `drivers` are the Vulkan drivers installed (vulkanDrivers), undefined where unknown.
 */
export function noGpuReason(backend: BackendName, env: NodeJS.ProcessEnv, drivers: VulkanDriver[] | undefined): string {
  if (backend === 'vulkan') {
    if (env.GGML_VK_VISIBLE_DEVICES !== undefined)
      return `found no GPU among the devices that GGML_VK_VISIBLE_DEVICES=${env.GGML_VK_VISIBLE_DEVICES} selects`;
    if (drivers === undefined) return 'found no GPU (llama.cpp skips CPU renderers)';
    const renderers = [...new Set(drivers.flatMap((d) => (d.cpuRenderer ? [d.cpuRenderer] : [])))];
    if (renderers.length) return `found no GPU (only ${listed(renderers)}, ${renderers.length > 1 ? 'CPU renderers' : 'a CPU renderer'})`;
    if (drivers.length) return `found no GPU (its drivers, ${listed(drivers.map((d) => d.library))}, found no device)`;
    return 'found no GPU (no Vulkan driver is installed)';
  }
  if (backend === 'cuda' && env.CUDA_VISIBLE_DEVICES !== undefined)
    return `found no GPU among the devices that CUDA_VISIBLE_DEVICES=${env.CUDA_VISIBLE_DEVICES} selects`;
  return 'found no GPU';
}

/** What a Vulkan loader without a driver means for the user. */
function noVulkanDriver(env: NodeJS.ProcessEnv): string {
  const chosen = env.VK_DRIVER_FILES ? 'VK_DRIVER_FILES' : env.VK_ICD_FILENAMES ? 'VK_ICD_FILENAMES' : undefined;
  const where = chosen ? `among the files ${chosen}=${env[chosen]} names` : 'in any vulkan/icd.d folder';
  return (
    `no Vulkan driver is installed (libvulkan, the Vulkan loader, is there, but there is no driver manifest ${where}): ` +
    "install your GPU's Vulkan driver, such as Mesa's mesa-vulkan-drivers for AMD and Intel GPUs or NVIDIA's driver"
  );
}

/**
 * node-llama-cpp's own load test of a binary (its testBindingBinary.js, run in
 * a child process as it runs it), keeping what the test printed: node-llama-cpp
 * runs it silently and then says only that no binary was found. Resolves to the
 * error, or undefined if the test passed.
 */
export async function binaryLoadTestError(
  bindingPath: string,
  extBackendsPath: string | undefined,
  gpu: LlamaGpuType,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 60_000,
): Promise<string | undefined> {
  const testScript = path.join(nodeLlamaCppRoot() ?? '', 'dist', 'bindings', 'utils', 'testBindingBinary.js');
  if (!existsSync(testScript)) return 'node-llama-cpp gave no detail (its load test is not where this version of Freehold expects it)';
  return new Promise((resolve) => {
    let stderr = '';
    let passed = false;
    const child = fork(testScript, [], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // In Electron's worker, process.execPath is Electron: run it as Node, as node-llama-cpp's own fork does.
      env: { ...env, TEST_BINDING_CP: 'true', ...(process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}) },
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(`its load test did not finish in ${timeoutMs / 1000} s`);
    }, timeoutMs);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 16_384) stderr += chunk;
    });
    child.on('message', (message: { type?: string }) => {
      const send = (m: object) => child.connected && child.send(m);
      if (message.type === 'ready') send({ type: 'start', bindingBinaryPath: bindingPath, extBackendsPath, gpu });
      else if (message.type === 'loaded') send({ type: 'test', bindingBinaryPath: bindingPath, extBackendsPath, gpu });
      else if (message.type === 'done') {
        passed = true;
        send({ type: 'exit' });
      }
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve(`its load test could not run: ${error.message}`);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (passed && code === 0) return resolve(undefined);
      const said = stderr
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line && !line.startsWith('at '))
        .slice(0, 3)
        .join(' ');
      const how = signal ? `the test process was killed by ${signal}` : `the test process exited with code ${code}`;
      resolve(said ? said.replace(/^Error: /, '') : how);
    });
  });
}

/**
 * node-llama-cpp's NoBinaryFoundError means both "no binary is installed" and
 * "the binary is there but could not be used" (its load test failed): tell
 * them apart, and name the cause.
 */
export async function explainNoBinary(backend: BackendName, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const label = backendLabels[backend];
  const pkg = prebuiltPackage(backend);
  const installed = installedPackage(pkg);
  const build = `build one with "npx node-llama-cpp source build --gpu ${backend === 'cpu' ? 'false' : backend}"`;
  if (!installed)
    return `its libraries are present, but no ${label} build of llama.cpp is installed for ${process.platform}-${process.arch} (the ${pkg} package is missing; reinstall Freehold, or ${build})`;
  const ours = nodeLlamaCppVersion();
  if (installed.version !== ours)
    return `the ${pkg} package is version ${installed.version}, but node-llama-cpp ${ours} uses only its own version (reinstall Freehold, or ${build})`;
  const drivers = backend === 'vulkan' ? vulkanDrivers(env) : undefined;
  if (drivers?.length === 0) return noVulkanDriver(env);
  const bindingPath = path.join(installed.dir, 'bins', binaryFolder(backend), 'llama-addon.node');
  if (!existsSync(bindingPath)) return `the ${pkg} package is installed but has no binary (${bindingPath} is missing; reinstall Freehold)`;
  const ext = backend === 'cuda' ? installedPackage(`${pkg}-ext`) : undefined;
  const extBackendsPath = ext ? path.join(ext.dir, 'bins', binaryFolder(backend)) : undefined;
  const error = await binaryLoadTestError(bindingPath, extBackendsPath, gpuTypeOf(backend), env);
  if (error === undefined) return `the ${pkg} package is installed and passes its load test, but node-llama-cpp did not load it`;
  // ggml registers no backend of that kind: its library loaded, its API did not start.
  if (/GPU type mismatch/i.test(error) && /got: false/i.test(error)) {
    const libraries = (drivers ?? []).map((d) => d.library);
    const cause =
      backend === 'vulkan'
        ? libraries.length
          ? `the Vulkan ${libraries.length > 1 ? 'drivers' : 'driver'} installed (${listed(libraries)}) could not be started`
          : 'no Vulkan driver could be started'
        : backend === 'cuda'
          ? 'the NVIDIA driver or the CUDA libraries could not be loaded'
          : 'it found nothing to run on';
    return `the ${pkg} binary loaded, but llama.cpp's ${label} backend did not start: ${cause}`;
  }
  return `the ${pkg} package is installed, but its binary failed to load on this machine: ${error}`;
}

/** node-llama-cpp's errors name a class; say what it means for the user. */
export async function explainLoadFailure(backend: BackendName, error: unknown): Promise<string> {
  if (error instanceof NoBinaryFoundError) return explainNoBinary(backend);
  return `failed to load: ${(error as Error).message ?? String(error)}`;
}

/**
 * A backend the user compiled with `npx node-llama-cpp source build --gpu …`
 * (custom CUDA architectures, say) is the "last build". It is used only when
 * its folder still exists, so that nothing here ever starts a compile.
 */
async function lastLocalBuild(backend: BackendName, maxThreads: number, logger: LlamaLogger): Promise<Llama | undefined> {
  const root = nodeLlamaCppRoot();
  if (!root) return undefined;
  try {
    const info = JSON.parse(readFileSync(path.join(root, 'llama', 'lastBuild.json'), 'utf8')) as { folderName?: string };
    if (!info.folderName || !existsSync(path.join(root, 'llama', 'localBuilds', info.folderName))) return undefined;
  } catch {
    return undefined;
  }
  const llama = await getLlama('lastBuild', { skipDownload: true, maxThreads, logLevel: LlamaLogLevel.error, logger, progressLogs: false });
  if (llama.gpu === gpuTypeOf(backend)) return llama;
  await llama.dispose();
  return undefined;
}

/** The devices a GPU backend that loaded can run on; none means it would run every layer on the CPU. */
async function gpuDevices(llama: Llama): Promise<string[]> {
  if (llama.gpu === false || !llama.supportsGpuOffloading) return [];
  try {
    const [names, vram] = await Promise.all([llama.getGpuDeviceNames(), llama.getVramState()]);
    return vram.total > 0 ? names : [];
  } catch {
    // The devices could not be asked: not known to be none, so the backend is kept (as before this check).
    return ['unknown GPU'];
  }
}

export interface Detection {
  llama: Llama;
  backend: BackendName;
  attempts: BackendAttempt[];
  /** Why this backend, in a sentence or two, for the Hardware view and `freehold hardware`. */
  reason: string;
}

/**
 * Picks the backend: the one chosen in the settings if it loads and has a
 * device, else the first in the order CUDA, Vulkan, Metal, CPU that does,
 * recording why each other one was not used.
 */
export async function detectBackend(
  requested: 'auto' | BackendName,
  maxThreads: number,
  logger: LlamaLogger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Detection> {
  const label = backendLabels;
  const [allValid, supported] = await Promise.all([getLlamaGpuTypes('allValid'), getLlamaGpuTypes('supported')]);
  const order: BackendName[] = requested === 'auto' ? [...backendNames] : [requested, ...backendNames.filter((b) => b !== requested)];
  const attempts: BackendAttempt[] = [];
  /** GPU backends that loaded but had no device to run on, and why ("found no GPU (only llvmpipe, a CPU renderer)"). */
  const deviceless = new Map<BackendName, string>();
  let llama: Llama | undefined;
  let overrideFailure: string | undefined;

  for (const backend of order) {
    if (llama) {
      const works = backend === 'cpu' || supported.includes(gpuTypeOf(backend));
      attempts.push({
        backend,
        outcome: works ? 'available' : allValid.includes(gpuTypeOf(backend)) ? 'not-tried' : 'unavailable',
        reason: works
          ? `available, but ${label[backendOf(llama.gpu)]} comes first`
          : allValid.includes(gpuTypeOf(backend))
            ? 'its drivers or libraries were not found on this machine'
            : `not available on ${process.platform}-${process.arch}`,
      });
      continue;
    }
    let reason: string | undefined;
    if (backend !== 'cpu' && !allValid.includes(gpuTypeOf(backend))) reason = `not available on ${process.platform}-${process.arch}`;
    else if (backend !== 'cpu' && !supported.includes(gpuTypeOf(backend)))
      reason = 'its drivers or libraries were not found on this machine';
    if (!reason) {
      let loaded: Llama | undefined;
      let how = 'loaded';
      try {
        loaded = await getLlama({ gpu: gpuTypeOf(backend), build: 'never', maxThreads, logLevel: LlamaLogLevel.error, logger });
      } catch (error) {
        // A backend compiled here (npx node-llama-cpp source build) is used when no prebuilt one loads.
        let localFailure = '';
        loaded = await lastLocalBuild(backend, maxThreads, logger).catch((localError: unknown) => {
          localFailure = `; the local build (npx node-llama-cpp source build) exists but did not load: ${(localError as Error).message.split('\n')[0]}`;
          return undefined;
        });
        if (loaded) how = 'loaded from a local build (npx node-llama-cpp source build)';
        else reason = (await explainLoadFailure(backend, error)) + localFailure;
      }
      if (loaded && backend !== 'cpu' && (await gpuDevices(loaded)).length === 0) {
        const why = noGpuReason(backend, env, backend === 'vulkan' ? vulkanDrivers(env) : undefined);
        deviceless.set(backend, why);
        reason = `loaded but ${why}`;
        await loaded.dispose();
        loaded = undefined;
      }
      if (loaded) {
        llama = loaded;
        attempts.push({ backend, outcome: 'chosen', reason: how });
        continue;
      }
    }
    reason ??= 'failed to load';
    attempts.push({ backend, outcome: 'unavailable', reason });
    if (backend === requested) {
      const why = deviceless.get(backend);
      overrideFailure = why
        ? `${label[backend]} was selected in settings, but it ${why}`
        : `${label[backend]} was selected in settings but ${reason}`;
    }
  }
  if (!llama)
    throw new RpcError(
      'unavailable',
      `No inference backend could be loaded: ${attempts.map((a) => `${label[a.backend]}: ${a.reason}`).join('; ')}`,
    );

  const chosen = backendOf(llama.gpu);
  const where = chosen === 'cpu' ? 'the CPU' : label[chosen];
  const skipped = attempts
    .filter((a) => a.outcome === 'unavailable' && !deviceless.has(a.backend))
    .map((a) => `${label[a.backend]}: ${a.reason}`);
  const devices = chosen === 'cpu' ? [] : await gpuDevices(llama);
  const selection =
    chosen === 'vulkan' && env.GGML_VK_VISIBLE_DEVICES !== undefined
      ? ` GGML_VK_VISIBLE_DEVICES=${env.GGML_VK_VISIBLE_DEVICES} selects its devices: ${devices.join(', ')}.`
      : chosen === 'cuda' && env.CUDA_VISIBLE_DEVICES !== undefined
        ? ` CUDA_VISIBLE_DEVICES=${env.CUDA_VISIBLE_DEVICES} selects its devices: ${devices.join(', ')}.`
        : '';
  let reason: string;
  if (requested !== 'auto')
    reason = overrideFailure ? `${overrideFailure}; fell back to ${label[chosen]}.` : `${label[chosen]} was selected in settings.`;
  else if (deviceless.size)
    reason = `${[...deviceless].map(([b, why]) => `${label[b]} loaded but ${why}`).join('; ')}: running on ${where}.${skipped.length ? ` Not used: ${skipped.join('; ')}.` : ''}`;
  else
    reason = `${label[chosen]} is the first that loaded, in the order CUDA, Vulkan, Metal, CPU${skipped.length ? `. Not used: ${skipped.join('; ')}` : ''}.`;
  return { llama, backend: chosen, attempts, reason: reason + selection };
}
