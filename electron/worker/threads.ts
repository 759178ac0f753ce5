/**
 * The default number of generation threads. llama.cpp's decode loop spins while
 * it waits for its threads, so more threads than free cores is ruinous: on a
 * 2-core machine running the app, 1 thread gave about 1,000 tokens/s on
 * stories260K, 2 threads about 80 and 4 threads about 2 (node-llama-cpp's own
 * default is max(4, cores)). SMT siblings add little to memory-bound decoding,
 * so the default is half the logical cores, at least 1, and always one fewer
 * than all of them so the app and the OS keep a core.
 */
export function defaultThreadCount(logicalCores: number): number {
  return Math.max(1, Math.min(Math.floor(logicalCores / 2), logicalCores - 1));
}

export function resolveThreads(setting: number, logicalCores: number): { used: number; reason: string } {
  if (setting > 0) return { used: setting, reason: 'set in settings' };
  const used = defaultThreadCount(logicalCores);
  return { used, reason: `automatic: half of ${logicalCores} logical cores, leaving at least one free` };
}
