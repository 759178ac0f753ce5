// Types for the parts of run.mjs the tests use.
export type GpuCheckCommand = 'run' | 'build' | 'check' | 'build-server' | 'check-server' | 'run-server';
export declare const COMMANDS: Record<
  GpuCheckCommand,
  { unpack?: boolean; workerBuild?: boolean; workerCheck?: boolean; serverBuild?: boolean; serverCheck?: boolean }
>;
export declare function explainFailure(output: string): { reason: string | undefined; context: string[] };
export declare function runCheck(command: GpuCheckCommand, env?: NodeJS.ProcessEnv): Promise<number>;
