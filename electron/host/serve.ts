/**
 * Headless host: `npm run serve -- [--port N] [--host 127.0.0.1] [--data-dir DIR]`.
 * Runs the services, serves the UI to a browser and carries the contract over a
 * WebSocket. Ctrl+C (SIGINT) or SIGTERM shuts it down cleanly.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHostServices } from '../services/host-services';
import { ensureDataDir, resolveDataDir } from '../services/data-dir';
import { isLoopbackAddress } from './http-security';
import { startHeadlessHost } from './server';

export const DEFAULT_PORT = 4848;

export interface ServeArgs {
  port: number;
  host: string;
  dataDir: string | undefined;
}

export function parseServeArgs(argv: string[]): ServeArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    strict: true,
  });
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a number from 0 to 65535, not "${values.port}".`);
  return { port, host: values.host ?? '127.0.0.1', dataDir: values['data-dir'] };
}

export async function runServe(argv: string[], rendererDir: string): Promise<void> {
  let args: ServeArgs;
  try {
    args = parseServeArgs(argv);
  } catch (error) {
    console.error(`freehold serve: ${(error as Error).message}`);
    process.exitCode = 2;
    return;
  }
  const dataDir = ensureDataDir(resolveDataDir({ flag: args.dataDir }));
  const services = await createHostServices({ dataDir, host: 'web', log: (line) => console.error(line) });
  for (const notice of services.notices.list()) console.warn(`warning: ${notice.message}`);
  // Detect the hardware and start the worker now, so the UI shows the backend at once.
  services.inference.start();

  let host;
  try {
    host = await startHeadlessHost({
      services,
      rendererDir,
      port: args.port,
      host: args.host,
      log: (line) => console.error(line),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    console.error(
      code === 'EADDRINUSE'
        ? `freehold serve: port ${args.port} is in use; pass --port N (or --port 0 for any free port).`
        : `freehold serve: could not listen on ${args.host}:${args.port}: ${(error as Error).message}`,
    );
    await services.close();
    process.exitCode = 1;
    return;
  }

  if (!isLoopbackAddress(args.host)) {
    console.warn(`warning: listening on ${args.host}, reachable from other machines; the secret in the URL is the only key.`);
  }
  console.log(`Freehold is running (data: ${dataDir}).`);
  console.log(`Open ${host.url}`);

  let stoppingSince = 0;
  const stop = async (signal: NodeJS.Signals) => {
    if (stoppingSince) {
      // Ctrl+C reaches both `npm start` and this process, which forwards it too:
      // a repeat within a second is the same request. Later, it means "now".
      if (Date.now() - stoppingSince < 1000) return;
      console.error(`Received ${signal} again; exiting now.`);
      process.exit(130);
    }
    stoppingSince = Date.now();
    console.log(`Received ${signal}; shutting down.`);
    await host.close();
    await services.close();
    console.log('Stopped.');
    process.exit(0);
  };
  process.on('SIGINT', (signal) => void stop(signal));
  process.on('SIGTERM', (signal) => void stop(signal));
}

const isEntry = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  const rendererDir = fileURLToPath(new URL('../renderer/', import.meta.url));
  void runServe(process.argv.slice(2), path.resolve(rendererDir));
}
