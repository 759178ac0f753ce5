#!/usr/bin/env node
// `freehold` on the PATH (npm install -g, npm link, npx): runs the bundled CLI.
// An installed package ships dist/electron/{cli,worker}.mjs (built by prepack).
// A source checkout (npm link) rebuilds them first when a source file is newer,
// as `npm run cli` does, so a linked command never runs stale code.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Node resolves the bin symlink, so this is the package (or checkout) root.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'electron', 'cli.mjs');
const builder = path.join(root, 'scripts', 'build-node.mjs');

function newestMtime(file) {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(file)) newest = Math.max(newest, newestMtime(path.join(file, entry)));
  return newest;
}

if (existsSync(builder)) {
  const built = Math.min(...['cli.mjs', 'worker.mjs'].map((name) => newestMtime(path.join(root, 'dist', 'electron', name))));
  const sources = Math.max(...['electron', 'shared', 'package.json', builder].map((p) => newestMtime(path.resolve(root, p))));
  if (sources > built) {
    const build = spawnSync(process.execPath, [builder, '--quiet'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) {
      process.stderr.write(`freehold: could not build the CLI in ${root} (run npm install there first).\n`);
      process.exit(1);
    }
  }
}

const { main } = await import(pathToFileURL(cli).href);
main(process.argv.slice(2), 'freehold');
