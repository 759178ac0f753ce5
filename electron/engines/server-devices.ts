/**
 * The GPUs a llama-server build sees, with the memory each reports, from
 * `llama-server --list-devices` ("  Vulkan0: llvmpipe (…) (2048 MiB, 2048 MiB
 * free)"). A CPU build lists none. Asked again for each plan: free memory
 * changes.
 */
import { spawn } from 'node:child_process';
import type { BackendName } from '../../shared/inference';
import type { ComputeDevice } from '../../shared/placement';

const MiB = 1024 * 1024;

export function backendOfDevice(id: string): BackendName {
  if (/^cuda/i.test(id)) return 'cuda';
  if (/^vulkan/i.test(id)) return 'vulkan';
  if (/^(metal|mtl)/i.test(id)) return 'metal';
  return 'cpu';
}

/** The devices in `--list-devices` output. */
export function parseDeviceList(output: string): ComputeDevice[] {
  const devices: ComputeDevice[] = [];
  for (const line of output.split('\n')) {
    const match = /^\s+([A-Za-z][\w]*):\s+(.*)\s+\((\d+) MiB, (\d+) MiB free\)\s*$/.exec(line);
    if (!match) continue;
    const [, id, name, total, free] = match;
    devices.push({
      id: id!,
      name: name!.trim(),
      backend: backendOfDevice(id!),
      totalBytes: Number(total) * MiB,
      freeBytes: Number(free) * MiB,
    });
  }
  return devices;
}

/** Runs `<binary> --list-devices` (at most 30 s). */
export function listServerDevices(binary: string, env: NodeJS.ProcessEnv = process.env): Promise<ComputeDevice[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--list-devices'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      if (errors.length < 8192) errors += chunk.toString();
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(parseDeviceList(output));
      else
        reject(
          new Error(
            `${binary} --list-devices failed (${signal ?? `exit ${code}`}): ${errors.trim().split('\n').slice(-2).join(' ') || 'no output'}`,
          ),
        );
    });
  });
}
