// `npm start`: the desktop app where the Electron runtime is installed,
// otherwise the headless host (same services, UI in the browser).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);

export function findElectron() {
  try {
    // The electron package exports the binary's path, and throws when the
    // binary was never downloaded (ELECTRON_SKIP_BINARY_DOWNLOAD, offline).
    const binary = require('electron');
    return typeof binary === 'string' && existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

function run(command, commandArgs) {
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE;
  const child = spawn(command, commandArgs, { stdio: 'inherit', env });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const electron = findElectron();
if (electron) {
  run(electron, ['.', ...args]);
} else {
  console.log(
    'The Electron runtime is not installed (skipped download or offline), so Freehold starts as a headless host: open the URL below in a browser.',
  );
  run(process.execPath, ['dist/electron/serve.mjs', ...args]);
}
