// `scripts/gpu-check.sh pack`: stages what the GPU check needs on a machine
// with no network (the app's CLI and worker bundles, the check's own measuring
// script for the engines, the node_modules they load at run time,
// node-llama-cpp's llama.cpp source and build tooling, the test model) and
// writes it as one archive of at most 64 MiB.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const archivePath = path.join(repoRoot, '.gpu-check', 'freehold-gpu-check.tar.gz');
export const archiveLimitBytes = 64 * 1024 * 1024;
/**
 * The bundles the check runs: the CLI, the inference worker it forks, and the check's
 * own measurements of the two engines (engines-measure.ts, which forks that worker too).
 */
export const bundles = ['cli.mjs', 'worker.mjs', 'gpu-check-engines.mjs'];
const measureEntry = path.join(repoRoot, 'scripts', 'gpu-check', 'engines-measure.ts');
/** Loaded by node-llama-cpp's own `source build`, which the GPU machine runs offline. */
const buildTools = ['node-llama-cpp', 'cmake-js', 'node-addon-api', 'node-api-headers'];

const builtins = new Set(builtinModules);

/** Bare package names a built bundle imports or requires, static or dynamic. */
export function runtimeSpecifiers(code) {
  const names = new Set();
  const patterns = [
    // Statements only (a line that begins an import or export, or ends a multi-line one), not words in a message.
    /^\s*(?:import|export)\b[^;"'`]*?\bfrom\s*["']([^"']+)["']/gm,
    /^\s*\}\s*from\s*["']([^"']+)["']/gm,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\bimport\s+["']([^"']+)["']/g,
    /[rR]equire(?:\.resolve)?\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const [, specifier] of code.matchAll(pattern)) {
      if (!specifier || specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) continue;
      const parts = specifier.split('/');
      const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      if (name && !builtins.has(name)) names.add(name);
    }
  }
  return [...names].sort();
}

function readJson(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Node's lookup: `name` in node_modules beside `fromDir`, then in each folder above, up to `root`. */
function resolvePackageDir(name, fromDir, root) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === path.dirname(dir)) return undefined;
  }
}

/** npm's rule for a package's os, cpu and libc lists: "!x" excludes x; any plain entry makes it a list of the only ones allowed. */
function allows(values, wanted) {
  if (!values) return true;
  if (values.includes(`!${wanted}`)) return false;
  const plain = values.filter((v) => !v.startsWith('!'));
  return plain.length === 0 || plain.includes(wanted);
}

/**
 * Whether an installed package belongs on the target. node-llama-cpp's prebuilt
 * GPU binaries (CUDA alone is 540 MB) stay behind: the GPU machine builds its
 * own CUDA backend; only the CPU build for this platform travels. Packages that
 * name an os, cpu or libc other than the target's stay behind too, and so do
 * libsql's musl and gnu bindings for the other libc (their package.json says no libc).
 */
export function belongsOnTarget(pkg, target) {
  const name = pkg.name ?? '';
  if (name.startsWith('@node-llama-cpp/')) return name === `@node-llama-cpp/${target.os}-${target.arch}`;
  if (!allows(pkg.os, target.platform) || !allows(pkg.cpu, target.arch) || (target.libc && !allows(pkg.libc, target.libc))) return false;
  if (target.libc === 'glibc' && /-musl/.test(name)) return false;
  if (target.libc === 'musl' && /-gnu/.test(name)) return false;
  return true;
}

/**
 * The installed packages that `names` need at run time: their dependencies and
 * the optional dependencies installed for the target, recursively (devDependencies
 * and peer dependencies never). Returns folders relative to `root`.
 */
export function packageClosure(names, root, target) {
  const found = new Map();
  const queue = names.map((name) => ({ name, from: root, optional: false }));
  while (queue.length > 0) {
    const { name, from, optional } = queue.shift();
    const dir = resolvePackageDir(name, from, root);
    if (!dir) {
      if (optional) continue;
      throw new Error(`${name} is needed at run time but is not installed (run npm install)`);
    }
    const rel = path.relative(root, dir);
    if (found.has(rel)) continue;
    const pkg = readJson(path.join(dir, 'package.json'));
    if (!belongsOnTarget(pkg, target)) continue;
    found.set(rel, pkg);
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(pkg.optionalDependencies ?? {}))
      if (!notForTheCheck.has(dep)) queue.push({ name: dep, from: dir, optional: true });
  }
  return [...found.entries()]
    .map(([dir, pkg]) => ({ dir, name: pkg.name, version: pkg.version, bin: pkg.bin }))
    .sort((a, b) => a.dir.localeCompare(b.dir));
}

export function currentTarget() {
  const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
  const osName = { darwin: 'mac', win32: 'win' }[process.platform] ?? process.platform;
  return {
    platform: process.platform,
    os: osName,
    arch: process.arch,
    libc: process.platform === 'linux' ? (glibc ? 'glibc' : 'musl') : undefined,
  };
}

/**
 * Runs the project's own scripts/build-node.mjs in a scratch folder whose
 * sources are links to this checkout, so that its output never touches the
 * dist/ folder other work in this checkout uses.
 */
async function buildBundles(scratch) {
  for (const entry of ['electron', 'shared', 'package.json', 'tsconfig.json', 'tsconfig.base.json', 'node_modules']) {
    symlinkSync(path.join(repoRoot, entry), path.join(scratch, entry));
  }
  const result = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build-node.mjs'), '--quiet'], {
    cwd: scratch,
    encoding: 'utf8',
  });
  if (result.status !== 0)
    throw new Error(`the Node build failed: ${(result.stderr || result.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  const distDir = path.join(scratch, 'dist', 'electron');
  await buildMeasureBundle(path.join(distDir, 'gpu-check-engines.mjs'));
  return distDir;
}

/**
 * The check's measuring script, bundled as build-node.mjs bundles the app's entry points (esbuild; packages
 * external), to sit beside the worker it forks.
 */
export async function buildMeasureBundle(outfile) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [measureEntry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    logLevel: 'error',
  });
}

/**
 * Optional packages the GPU check never needs: pdf.js's canvas (documents in chat read their text without it;
 * 33 MB of native binaries).
 */
const notForTheCheck = new Set(['@napi-rs/canvas']);
/**
 * Of pdf.js, only what loading Freehold's bundles needs (legacy/build's pdf.mjs and its worker): the check reads no
 * documents, so its other builds, the viewer, fonts and character maps stay behind.
 */
const keepOfPdfjs = ['package.json', 'LICENSE', 'legacy', 'legacy/build', 'legacy/build/pdf.mjs', 'legacy/build/pdf.worker.mjs'];

/** node-llama-cpp minus what the GPU machine makes for itself or never loads. */
const skipInNodeLlamaCpp = ['llama/localBuilds', 'llama/llama.cpp', 'llama/lastBuild.json', 'llama/.temp', 'templates'];
/** A package's own folders that Node never loads from: its tests, docs and examples. */
const skipInPackages = ['test', 'tests', '__tests__', 'docs', 'example', 'examples', '.github'];

/**
 * Files Node never loads: source maps, type declarations, TypeScript sources and Markdown. (C and C++ sources
 * stay: node-llama-cpp's build compiles its addon, and node-addon-api's headers, on the GPU machine.)
 */
export function neverLoaded(file) {
  return /\.(map|ts|mts|cts|tsx|md|markdown)$/i.test(file);
}

function copyPackage(root, rel, stage) {
  const src = path.join(root, rel);
  const skip = new Set([
    path.join(src, 'node_modules'),
    ...skipInPackages.map((p) => path.join(src, p)),
    ...(rel.endsWith('node_modules/node-llama-cpp') ? skipInNodeLlamaCpp.map((p) => path.join(src, p)) : []),
  ]);
  const pdfjs = rel.endsWith('node_modules/pdfjs-dist');
  cpSync(src, path.join(stage, rel), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (file) =>
      !skip.has(file) &&
      !neverLoaded(file) &&
      (!pdfjs || file === src || keepOfPdfjs.includes(path.relative(src, file).split(path.sep).join('/'))),
  });
}

/** `npm run` finds a package's tools (node-llama-cpp runs `cmake-js`) in node_modules/.bin. */
function linkBins(stage, packages) {
  const binDir = path.join(stage, 'node_modules', '.bin');
  mkdirSync(binDir, { recursive: true });
  for (const pkg of packages) {
    if (!pkg.bin || !/^node_modules\/(@[^/]+\/)?[^/]+$/.test(pkg.dir)) continue;
    const bins = typeof pkg.bin === 'string' ? { [pkg.name.split('/').pop()]: pkg.bin } : pkg.bin;
    for (const [command, file] of Object.entries(bins)) {
      const link = path.join(binDir, command);
      if (!existsSync(link)) symlinkSync(path.relative(binDir, path.join(stage, pkg.dir, file)), link);
    }
  }
}

export function testModelPath() {
  return process.env.FREEHOLD_TEST_MODEL || path.resolve(repoRoot, '..', 'shared', 'models', 'stories260K.gguf');
}

function git(args) {
  const result = spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

function mib(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export async function pack({ listOnly = false, log = console.log, env = process.env } = {}) {
  const archive = path.resolve(repoRoot, env.GPU_CHECK_ARCHIVE || archivePath);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'freehold-gpu-pack-'));
  try {
    mkdirSync(path.join(scratch, 'build'));
    const distDir = await buildBundles(path.join(scratch, 'build'));
    const imported = bundles.flatMap((file) => runtimeSpecifiers(readFileSync(path.join(distDir, file), 'utf8')));
    const roots = [...new Set([...imported, ...buildTools])].sort();
    const target = currentTarget();
    const packages = packageClosure(roots, repoRoot, target);
    if (listOnly) {
      log(
        JSON.stringify({ roots, packages: packages.map((p) => p.dir.replace(/^node_modules\//, '').replaceAll('/node_modules/', ' > ')) }),
      );
      return;
    }

    const model = testModelPath();
    if (!existsSync(model)) throw new Error(`the test model is missing: ${model} (set FREEHOLD_TEST_MODEL)`);
    const stage = path.join(scratch, 'freehold-gpu-check');
    mkdirSync(path.join(stage, 'dist', 'electron'), { recursive: true });
    for (const file of bundles) cpSync(path.join(distDir, file), path.join(stage, 'dist', 'electron', file));
    for (const pkg of packages) copyPackage(repoRoot, pkg.dir, stage);
    linkBins(stage, packages);
    mkdirSync(path.join(stage, 'models'));
    cpSync(model, path.join(stage, 'models', path.basename(model)));
    const manifest = {
      createdAt: new Date().toISOString(),
      commit: git(['rev-parse', 'HEAD']),
      uncommittedChanges: Boolean(git(['status', '--porcelain', '--untracked-files=no'])),
      node: process.version,
      target,
      bundles: bundles.map((file) => `dist/electron/${file}`),
      llamaCpp: JSON.parse(readFileSync(path.join(repoRoot, 'node_modules', 'node-llama-cpp', 'llama', 'llama.cpp.info.json'), 'utf8')).tag,
      model: { file: `models/${path.basename(model)}`, sha256: createHash('sha256').update(readFileSync(model)).digest('hex') },
      roots,
      packages: packages.map((p) => `${p.dir.replace(/^node_modules\//, '')}@${p.version}`),
    };
    writeFileSync(path.join(stage, 'gpu-check.json'), `${JSON.stringify(manifest, null, 2)}\n`);

    mkdirSync(path.dirname(archive), { recursive: true });
    rmSync(archive, { force: true });
    const tar = spawnSync('tar', ['-czf', archive, '-C', scratch, 'freehold-gpu-check'], {
      encoding: 'utf8',
      env: { ...process.env, GZIP: '-9' },
    });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr.trim()}`);
    const size = statSync(archive).size;
    const staged = spawnSync('du', ['-sb', stage], { encoding: 'utf8' }).stdout.split('\t')[0];
    const relArchive = path.relative(repoRoot, archive);
    if (size > archiveLimitBytes) {
      rmSync(archive, { force: true });
      throw new Error(`the archive is ${mib(size)}, over the ${mib(archiveLimitBytes)} a GPU machine accepts`);
    }
    log(
      `gpu-check pack: ok ${relArchive}: ${mib(size)} of ${mib(archiveLimitBytes)} (${mib(Number(staged))} unpacked; ${packages.length} packages, model ${path.basename(model)})`,
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
