import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * A watchdog that ties a program's life to this process (POSIX): the program
 * runs in its own process group with a small shell beside it that blocks
 * reading a pipe whose only writer is this process. When this process ends in
 * any way (a clean exit, a crash, SIGKILL), the pipe reaches end-of-file and
 * the watchdog kills the whole group. The program itself is exec'd in place
 * of the shell, so its PID, exit code and signal are its own.
 *
 * llama.cpp's RPC server has no authentication and accepts tensor writes from
 * any local process: one that outlives Freehold is a hole, not only a leak.
 */
const WATCHDOG = ['exec 3<&0 </dev/null', '(read -r _ <&3; kill -9 0) >/dev/null 2>&1 &', 'exec "$@" 3<&-'].join('\n');

export interface TetheredChild {
  child: ChildProcess;
  /** SIGTERM to the program (and its watchdog), then SIGKILL after `graceMs` if still there. */
  stop(graceMs?: number): void;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // The program leads its own group (detached): the watchdog goes with it.
    process.kill(process.platform === 'win32' ? child.pid : -child.pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Spawns `binary args` so that it dies with this process (see WATCHDOG).
 * stdin is the watchdog's pipe: the program reads /dev/null. On Windows,
 * where there is no shell to lean on, the program is spawned directly and is
 * stopped by `stop()` and by the host's clean exit only.
 */
export function spawnTethered(binary: string, args: string[], options: Omit<SpawnOptions, 'stdio' | 'detached'> = {}): TetheredChild {
  const posix = process.platform !== 'win32';
  const child = posix
    ? spawn('/bin/sh', ['-c', WATCHDOG, 'freehold-tether', binary, ...args], {
        ...options,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : spawn(binary, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  // The pipe is never written; its errors (EPIPE once the group is gone) mean nothing.
  child.stdin?.on('error', () => undefined);
  child.on('exit', () => {
    // The program ended: its watchdog (still in the group) goes too, and the pipe with it.
    if (posix) signalGroup(child, 'SIGKILL');
    child.stdin?.destroy();
  });
  let stopping = false;
  return {
    child,
    stop(graceMs = 2000) {
      if (stopping || child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      // The program alone: its watchdog stays until it has gone (the 'exit' handler ends the group), so a
      // host killed during the grace time still takes a program that ignored SIGTERM with it.
      child.kill('SIGTERM');
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) signalGroup(child, 'SIGKILL');
      }, graceMs).unref();
    },
  };
}
