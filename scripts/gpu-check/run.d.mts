// Types for the parts of run.mjs the tests use.
export declare function explainFailure(output: string): { reason: string | undefined; context: string[] };
export declare function runCheck(command: 'run' | 'build' | 'check', env?: NodeJS.ProcessEnv): Promise<number>;
