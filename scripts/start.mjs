// `npm start`: the desktop app where the Electron runtime is installed or can
// be fetched now (see electron-runtime.mjs), otherwise the headless host (same
// services, UI in the browser), after one line that says why.
import { spawn } from 'node:child_process';
import { ensureElectronRuntime } from './electron-runtime.mjs';

const retry = process.argv.includes('--retry-electron');
const args = process.argv.slice(2).filter((arg) => arg !== '--retry-electron');

function run(command, commandArgs) {
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE;
  const child = spawn(command, commandArgs, { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

// FREEHOLD_ELECTRON_PACKAGE points at another copy of the electron package (tests, packagers).
const electronDir = process.env.FREEHOLD_ELECTRON_PACKAGE || undefined;
const runtime = await ensureElectronRuntime({ retry, ...(electronDir ? { electronDir } : {}) });
if (runtime.binary) {
  run(runtime.binary, ['.', ...args]);
} else {
  const hint = runtime.tried === false && !/not installed/.test(runtime.error) ? '; `npm start -- --retry-electron` tries again now' : '';
  console.log(
    `No desktop window: the Electron runtime could not be fetched (${runtime.error}${hint}), so Freehold starts as a headless host: open the URL below in a browser.`,
  );
  run(process.execPath, ['dist/electron/serve.mjs', ...args]);
}
