/**
 * GPU memory as nvidia-smi sees it, for the GPU check's measurements
 * (engines-measure.ts): what given processes use on one GPU
 * (`--query-compute-apps=pid,used_memory,gpu_uuid`), and what the GPU has in
 * use (`--query-gpu=index,uuid,memory.used`, for where nvidia-smi names no
 * process of ours: inside some containers it sees the host's process ids).
 * The GPU's index is CUDA's when CUDA_DEVICE_ORDER=PCI_BUS_ID (the check sets it).
 */
import { spawn } from 'node:child_process';

export interface GpuSample {
  /** The used_memory nvidia-smi gives the processes asked about on that GPU (null where it lists none of them). */
  processMiB: number | null;
  /** The GPU's memory.used (null where nvidia-smi does not say). */
  gpuMiB: number | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One nvidia-smi query as rows of fields (none where it fails or is missing). */
export function nvidiaSmiRows(query: string, program = 'nvidia-smi'): Promise<string[][]> {
  return new Promise((resolve) => {
    const child = spawn(program, [query, '--format=csv,noheader,nounits'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', () => {
      clearTimeout(timer);
      resolve([]);
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve(
        text
          .split('\n')
          .filter((line) => line.trim())
          .map((line) => line.split(',').map((part) => part.trim())),
      );
    });
  });
}

/** What `pids` use on GPU `index`, and what that GPU has in use, now. */
export async function sampleGpu(index: number, pids: number[]): Promise<GpuSample> {
  const gpus = await nvidiaSmiRows('--query-gpu=index,uuid,memory.used');
  const gpu = gpus.find((row) => Number(row[0]) === index);
  const apps = await nvidiaSmiRows('--query-compute-apps=pid,used_memory,gpu_uuid');
  const ours = apps.filter(
    (row) => pids.includes(Number(row[0])) && Number.isFinite(Number(row[1])) && (!gpu || row[2] === undefined || row[2] === gpu[1]),
  );
  const used = gpu ? Number(gpu[2]) : NaN;
  return {
    processMiB: ours.length ? ours.reduce((sum, row) => sum + Number(row[1]), 0) : null,
    gpuMiB: Number.isFinite(used) ? used : null,
  };
}

/** The largest of each figure over the samples (null where none had it). */
export function peakOf(samples: GpuSample[]): GpuSample {
  const max = (values: Array<number | null>) => {
    const numbers = values.filter((v): v is number => v !== null);
    return numbers.length ? Math.max(...numbers) : null;
  };
  return { processMiB: max(samples.map((s) => s.processMiB)), gpuMiB: max(samples.map((s) => s.gpuMiB)) };
}

/**
 * The most memory nvidia-smi saw while `work` ran: sampled every `everyMs`
 * (after each query), and once more `settleMs` after it ended (buffers a
 * reply grew stay allocated). `pids` is asked again for each sample.
 */
export async function peakWhile<T>(
  index: number,
  pids: () => number[],
  work: () => Promise<T>,
  { everyMs = 150, settleMs = 300 } = {},
): Promise<{ result: T; peak: GpuSample; samples: number }> {
  const samples: GpuSample[] = [];
  let done = false;
  const sampler = (async () => {
    while (!done) {
      samples.push(await sampleGpu(index, pids()));
      if (!done) await sleep(everyMs);
    }
  })();
  let result: T;
  try {
    result = await work();
    await sleep(settleMs);
  } finally {
    done = true;
    await sampler;
  }
  samples.push(await sampleGpu(index, pids()));
  return { result, peak: peakOf(samples), samples: samples.length };
}
