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
export declare function runtimeSpecifiers(code: string): string[];
export declare function belongsOnTarget(pkg: PackageJson, target: Target): boolean;
export declare function currentTarget(): Target;
