// Before electron-builder (npm run dist): llama.cpp's own programs for this platform, staged into
// dist-engines/ (or --out DIR), which electron-builder.yml ships as the app's resources/engines. The build
// `freehold engines` would use here (a GPU build where one was made: `freehold engines --build`), else one
// made now for this machine's best backend. A packaged app then needs no compiler for llama.cpp's server
// engine or split models (llama-engines.ts looks in resources/engines after the PATH and the builds here).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const outIndex = process.argv.indexOf('--out');
const out = path.resolve(outIndex > 0 ? process.argv[outIndex + 1] : 'dist-engines');
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'freehold-stage-'));
const cli = (...args) => {
  const result = spawnSync(process.execPath, ['dist/electron/cli.mjs', ...args, '--data-dir', dataDir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FREEHOLD_IGNORE_PATH_ENGINES: '1' },
  });
  if (result.status !== 0) throw new Error(`freehold ${args.join(' ')} failed (${result.status ?? result.signal})`);
  return JSON.parse(result.stdout);
};
try {
  let info = cli('engines', '--json');
  if (!info.found) info = cli('engines', '--build', '--json');
  const found = info.found;
  if (!found) throw new Error('no llama.cpp programs were found or built');
  const bin = path.dirname(found.llamaServer);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(path.join(out, 'bin'), { recursive: true });
  // The two programs, and the libraries a shared (Vulkan) build loads from beside them.
  const wanted = (name) => /^(llama-server|ggml-rpc-server)(\.exe)?$/.test(name) || /\.(so(\.\d+)*|dylib|dll)$/.test(name);
  for (const name of readdirSync(bin).filter(wanted)) copyFileSync(path.join(bin, name), path.join(out, 'bin', name));
  writeFileSync(
    path.join(out, 'engine.json'),
    JSON.stringify({ version: found.version, backend: found.backend, stagedFrom: bin, stagedAt: new Date().toISOString() }, null, 2),
  );
  if (!existsSync(path.join(out, 'bin', path.basename(found.llamaServer)))) throw new Error('llama-server was not staged');
  console.log(`Staged llama.cpp ${found.version} (${found.backend}) from ${bin} into ${out}`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
