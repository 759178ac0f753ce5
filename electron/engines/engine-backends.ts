/**
 * Which GPU backend llama.cpp's own programs are built for here, and how:
 * CUDA where the CUDA toolkit (nvcc) is, for this GPU's architecture only;
 * Vulkan where node-llama-cpp's prebuilt Vulkan backend is installed and a
 * Vulkan loader is there (a build of llama.cpp that loads its backends at run
 * time, given node-llama-cpp's libggml-vulkan beside it: the same llama.cpp
 * release, so no shader compiler is needed — Debian 12's glslc cannot compile
 * this version's shaders); Metal on macOS; else the CPU. The reason is said
 * for the backends not chosen.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export type EngineBackend = 'cuda' | 'vulkan' | 'metal' | 'cpu';
/** The order builds are preferred in, best first. */
export const ENGINE_BACKENDS: readonly EngineBackend[] = ['cuda', 'vulkan', 'metal', 'cpu'];
export const ENGINE_BACKEND_LABELS: Record<EngineBackend, string> = { cuda: 'CUDA', vulkan: 'Vulkan', metal: 'Metal', cpu: 'CPU' };

export interface BuildChoice {
  backend: EngineBackend;
  /** Why this backend, and why not the better ones. */
  reason: string;
  /** CMake options beside the common ones (llama-engines.ts). */
  cmake: string[];
  /** A shared build that loads its backends at run time (Vulkan: node-llama-cpp's library copied beside it). */
  shared: boolean;
  /** Files copied beside the programs (node-llama-cpp's libggml-vulkan). */
  extraFiles: string[];
}

function output(command: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    let text = '';
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', () => resolve(null));
    child.on('exit', (code) => resolve(code === 0 ? text : null));
  });
}

/** nvcc: on the PATH, under CUDA_PATH, or in /usr/local/cuda. */
export function findNvcc(env: NodeJS.ProcessEnv): string | null {
  const dirs = [
    ...(env.PATH ?? '').split(path.delimiter).filter(Boolean),
    ...(env.CUDA_PATH ? [path.join(env.CUDA_PATH, 'bin')] : []),
    '/usr/local/cuda/bin',
  ];
  for (const dir of dirs) {
    const file = path.join(dir, process.platform === 'win32' ? 'nvcc.exe' : 'nvcc');
    if (existsSync(file)) return file;
  }
  return null;
}

/** Whether cuBLAS is installed beside the toolkit (or where the system keeps libraries). */
export function hasCublas(nvcc: string, env: NodeJS.ProcessEnv): boolean {
  const roots = [path.dirname(path.dirname(nvcc)), ...(env.CUDA_PATH ? [env.CUDA_PATH] : []), '/usr/local/cuda'];
  const dirs = [
    ...roots.flatMap((root) => [path.join(root, 'lib64'), path.join(root, 'lib'), path.join(root, 'lib', 'x64'), path.join(root, 'bin')]),
    ...roots.flatMap((root) => {
      try {
        return readdirSync(path.join(root, 'targets')).map((target) => path.join(root, 'targets', target, 'lib'));
      } catch {
        return [];
      }
    }),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
  ];
  return dirs.some((dir) => {
    try {
      return readdirSync(dir).some((name) => /^(lib)?cublas(64_\d+)?\.(so|dll|lib)/.test(name));
    } catch {
      return false;
    }
  });
}

/** This GPU's CUDA architecture ("90" for compute capability 9.0): FREEHOLD_CUDA_ARCH, else nvidia-smi's. */
export async function cudaArchitecture(env: NodeJS.ProcessEnv): Promise<string | null> {
  if (env.FREEHOLD_CUDA_ARCH) return env.FREEHOLD_CUDA_ARCH;
  const text = await output('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader']);
  const caps = [
    ...new Set(
      (text ?? '')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^\d+\.\d+$/.test(l))
        .map((l) => l.replace('.', '')),
    ),
  ];
  return caps.length ? caps.join(';') : null;
}

/** node-llama-cpp's prebuilt Vulkan backend library for this platform, if installed. */
export function prebuiltVulkanBackend(): string | null {
  if (process.platform !== 'linux' && process.platform !== 'win32') return null;
  try {
    const require = createRequire(import.meta.url);
    let root = path.dirname(require.resolve('node-llama-cpp'));
    while (!existsSync(path.join(root, 'package.json')) && path.dirname(root) !== root) root = path.dirname(root);
    const plat = process.platform === 'win32' ? 'win' : process.platform;
    const folder = `${plat}-${process.arch}-vulkan`;
    // Its exports do not include package.json: from its entry point up to its folder.
    let pkg = path.dirname(createRequire(path.join(root, 'package.json')).resolve(`@node-llama-cpp/${folder}`));
    while (!existsSync(path.join(pkg, 'package.json')) && path.dirname(pkg) !== pkg) pkg = path.dirname(pkg);
    const file = path.join(pkg, 'bins', folder, process.platform === 'win32' ? 'ggml-vulkan.dll' : 'libggml-vulkan.so');
    return existsSync(file) ? file : null;
  } catch {
    return null;
  }
}

/** Whether a Vulkan loader (libvulkan.so.1) is installed, where ld.so would find it. */
export function hasVulkanLoader(): boolean {
  if (process.platform !== 'linux') return process.platform === 'win32';
  const dirs = [
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/lib/x86_64-linux-gnu',
    '/usr/local/lib',
  ];
  return dirs.some((dir) => {
    try {
      return readdirSync(dir).some((name) => name.startsWith('libvulkan.so'));
    } catch {
      return false;
    }
  });
}

/**
 * The backend to build for here, best first, or the one asked for (which is
 * built if it can be, else refused with the reason).
 */
export async function chooseBuildBackend(env: NodeJS.ProcessEnv, asked?: EngineBackend): Promise<BuildChoice> {
  const notes: string[] = [];
  const consider = asked ? [asked] : ENGINE_BACKENDS;
  for (const backend of consider) {
    if (backend === 'cuda') {
      const nvcc = findNvcc(env);
      if (!nvcc) {
        notes.push('CUDA: no CUDA toolkit (nvcc) found');
        continue;
      }
      if (!hasCublas(nvcc, env)) {
        notes.push(`CUDA: ${nvcc} found, but not cuBLAS (libcublas), which llama.cpp's CUDA backend needs`);
        continue;
      }
      const arch = await cudaArchitecture(env);
      if (!arch) {
        // Without one, CUDA's default list of architectures takes most of an hour to build.
        notes.push(`CUDA: ${nvcc} found, but no NVIDIA GPU (nvidia-smi named none; FREEHOLD_CUDA_ARCH sets one)`);
        continue;
      }
      return {
        backend,
        reason: `CUDA: ${nvcc} found; built for this GPU's architecture only (sm_${arch.split(';').join(', sm_')}).`,
        cmake: ['-DGGML_CUDA=ON', `-DCMAKE_CUDA_ARCHITECTURES=${arch}`],
        shared: false,
        extraFiles: [],
      };
    }
    if (backend === 'vulkan') {
      const library = prebuiltVulkanBackend();
      if (!library) {
        notes.push(`Vulkan: node-llama-cpp's prebuilt Vulkan backend is not installed for ${process.platform}-${process.arch}`);
        continue;
      }
      if (!hasVulkanLoader()) {
        notes.push('Vulkan: no Vulkan loader (libvulkan1) is installed');
        continue;
      }
      return {
        backend,
        reason:
          "Vulkan: built to load its backends at run time, with node-llama-cpp's prebuilt Vulkan backend (the same llama.cpp release) beside it.",
        cmake: ['-DBUILD_SHARED_LIBS=ON', '-DGGML_BACKEND_DL=ON', '-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON', '-DCMAKE_INSTALL_RPATH=$ORIGIN'],
        shared: true,
        extraFiles: [library],
      };
    }
    if (backend === 'metal') {
      if (process.platform !== 'darwin') {
        notes.push('Metal: macOS only');
        continue;
      }
      return { backend, reason: 'Metal: macOS.', cmake: ['-DGGML_METAL=ON'], shared: false, extraFiles: [] };
    }
    return { backend: 'cpu', reason: `CPU${notes.length ? ` (${notes.join('; ')})` : ''}.`, cmake: [], shared: false, extraFiles: [] };
  }
  throw new Error(`${ENGINE_BACKEND_LABELS[asked!]} cannot be built here: ${notes.join('; ')}.`);
}

/** A backend's name from text ("cuda", "Vulkan"), or undefined. */
export function engineBackendOf(text: string | undefined): EngineBackend | undefined {
  const lower = text?.toLowerCase();
  return ENGINE_BACKENDS.find((b) => b === lower);
}
