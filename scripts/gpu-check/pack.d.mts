// Types for the parts of pack.mjs the tests use.
export interface Target {
  platform: string;
  os: string;
  arch: string;
  libc: 'glibc' | 'musl' | undefined;
}
export interface PackageJson {
  name?: string;
  os?: string[];
  cpu?: string[];
  libc?: string[];
}
export declare const repoRoot: string;
export declare const archivePath: string;
export declare const archiveLimitBytes: number;
export declare const bundles: string[];
export declare function neverLoaded(file: string): boolean;
export declare function buildMeasureBundle(outfile: string): Promise<void>;
export declare function pack(options?: { listOnly?: boolean; log?: (line: string) => void; env?: NodeJS.ProcessEnv }): Promise<void>;
export declare function runtimeSpecifiers(code: string): string[];
export declare function belongsOnTarget(pkg: PackageJson, target: Target): boolean;
export declare function currentTarget(): Target;
