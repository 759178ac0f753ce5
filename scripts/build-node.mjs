// Bundles the Node side (Electron main, preload, headless host, CLI) with esbuild.
// Dependencies stay external (node_modules ships with the app; node-llama-cpp's
// native binaries must not be bundled). The sandboxed preload is the exception:
// it can load no modules but electron's, so it is bundled whole, as CommonJS.
import { build } from 'esbuild';

const quiet = process.argv.includes('--quiet');
// `--outdir DIR` builds elsewhere than dist/electron (the packaging test builds a private copy).
const outIndex = process.argv.indexOf('--outdir');
const outdir = outIndex > 0 ? process.argv[outIndex + 1] : 'dist/electron';
const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: quiet ? 'error' : 'info' };

await Promise.all([
  build({
    ...common,
    entryPoints: {
      main: 'electron/main/main.ts',
      serve: 'electron/host/serve.ts',
      cli: 'electron/cli/cli.ts',
      worker: 'electron/worker/worker-main.ts',
      bench: 'electron/bench/bench.ts',
      // Documents are parsed in a worker thread (electron/docs/parse-in-worker.ts).
      'docs-parser': 'electron/docs/parse-worker.ts',
    },
    outdir,
    format: 'esm',
    outExtension: { '.js': '.mjs' },
    packages: 'external',
  }),
  build({
    ...common,
    entryPoints: { preload: 'electron/preload/preload.ts' },
    outdir,
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    external: ['electron'],
  }),
]);
