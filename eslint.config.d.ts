// Types for what the tests import from eslint.config.js.
export declare const LAYERS: ReadonlyArray<{ name: string; folders: string[] }>;
declare const config: unknown;
export default config;
