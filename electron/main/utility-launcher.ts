import type { App, UtilityProcess } from 'electron';
import type { WorkerExit, WorkerLauncher } from '../inference/launcher';
import { TransportBase, type Transport } from '../../shared/rpc/transport';

type Fork = (modulePath: string, args?: string[], options?: Electron.ForkOptions) => UtilityProcess;

class UtilityProcessTransport extends TransportBase implements Transport {
  constructor(private readonly child: UtilityProcess) {
    super();
    child.on('message', (message: unknown) => this.deliver(message));
    child.on('exit', () => this.markClosed('worker exited'));
  }
  send(message: unknown): void {
    if (!this.closed) this.child.postMessage(message);
  }
  close(reason = 'closed'): void {
    this.markClosed(reason);
  }
}

const SERVICE_NAME = 'Freehold inference';

/**
 * In the desktop app the worker is an Electron utilityProcess (Electron's answer
 * for "CPU intensive tasks or crash prone components"). Its death is reported
 * with Electron's reason ("crashed", "oom", "killed" …) from child-process-gone.
 */
export function utilityProcessLauncher(
  app: Pick<App, 'on'>,
  fork: Fork,
  workerScript: string,
  log: (line: string) => void,
): WorkerLauncher {
  let lastGone: { reason: string; exitCode: number } | undefined;
  app.on('child-process-gone', (_event, details) => {
    if (details.type === 'Utility' && details.name === SERVICE_NAME) lastGone = { reason: details.reason, exitCode: details.exitCode };
  });
  return () => {
    const child = fork(workerScript, [], { serviceName: SERVICE_NAME, stdio: 'pipe' });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) if (line.trim()) log(`worker: ${line}`);
      });
    }
    lastGone = undefined;
    return {
      transport: new UtilityProcessTransport(child),
      pid: child.pid,
      kill: () => child.kill(),
      onExit: (listener: (exit: WorkerExit) => void) =>
        child.once('exit', (code: number) => {
          // child-process-gone arrives around the same time as exit; give it a moment.
          setTimeout(() => listener({ code, signal: null, reason: lastGone?.reason }), 50);
        }),
    };
  };
}
