import { fork } from 'node:child_process';
import type { Transport } from '../../shared/rpc/transport';
import { ChildProcessTransport } from '../worker/process-transports';

export interface WorkerExit {
  code: number | null;
  signal: string | null;
  /** Electron's child-process-gone reason ("crashed", "oom", "killed" …), where known. */
  reason?: string;
}

/** A running worker process, however it was started. */
export interface WorkerHandle {
  transport: Transport;
  pid: number | undefined;
  kill(): void;
  onExit(listener: (exit: WorkerExit) => void): void;
}

export type WorkerLauncher = () => WorkerHandle;

/**
 * Starts the worker as a forked Node process (headless host, CLI, tests). Its
 * output is passed to `log` line by line, never to our stdout, which the CLI's
 * --json output owns.
 */
export function forkLauncher(workerScript: string, log: (line: string) => void, env: NodeJS.ProcessEnv = {}): WorkerLauncher {
  return () => {
    const child = fork(workerScript, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
      env: { ...process.env, ...env },
      execArgv: [],
    });
    for (const stream of [child.stdout, child.stderr]) {
      let buffer = '';
      stream?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) log(`worker: ${line}`);
      });
    }
    const transport = new ChildProcessTransport(child);
    return {
      transport,
      pid: child.pid,
      kill: () => child.kill('SIGKILL'),
      onExit: (listener) => child.once('exit', (code, signal) => listener({ code, signal })),
    };
  };
}
