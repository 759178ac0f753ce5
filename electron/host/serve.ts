/**
 * Headless host: `npm run serve -- [--port N] [--host 127.0.0.1] [--data-dir DIR]
 * [--no-api] [--api-port N] [--api-host ADDR] [--share [--share-host ADDR]
 * [--share-port N] [--name NAME]]`. --share lets paired machines use this one
 * over TLS (on the LAN unless --share-host says otherwise) and prints a pairing code. Runs the services, serves the
 * UI to a browser and carries the contract over a WebSocket, and serves the
 * local OpenAI-compatible API (on unless --no-api). Ctrl+C (SIGINT) or SIGTERM
 * shuts it down cleanly.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createHostServices } from '../services/host-services';
import { ensureDataDir, resolveDataDir } from '../platform/data-dir';
import { isLoopbackAddress } from '../platform/http-security';
import { startHeadlessHost } from './server';

export const DEFAULT_PORT = 4848;

export interface ServeArgs {
  port: number;
  host: string;
  dataDir: string | undefined;
  api: boolean;
  apiPort: number | undefined;
  apiHost: string | undefined;
  share: boolean;
  shareHost: string | undefined;
  sharePort: number | undefined;
  name: string | undefined;
}

function portOf(flag: string, value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${flag} must be a number from 0 to 65535, not "${value}".`);
  return port;
}

export function parseServeArgs(argv: string[]): ServeArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'no-api': { type: 'boolean' },
      'api-port': { type: 'string' },
      'api-host': { type: 'string' },
      share: { type: 'boolean' },
      'share-host': { type: 'string' },
      'share-port': { type: 'string' },
      name: { type: 'string' },
    },
    strict: true,
  });
  return {
    port: values.port === undefined ? DEFAULT_PORT : portOf('--port', values.port),
    host: values.host ?? '127.0.0.1',
    dataDir: values['data-dir'],
    api: !values['no-api'],
    apiPort: values['api-port'] === undefined ? undefined : portOf('--api-port', values['api-port']),
    apiHost: values['api-host'],
    share: Boolean(values.share),
    shareHost: values['share-host'],
    sharePort: values['share-port'] === undefined ? undefined : portOf('--share-port', values['share-port']),
    name: values.name?.trim().slice(0, 60) || undefined,
  };
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
  const services = await createHostServices({
    dataDir,
    host: 'web',
    log: (line) => console.error(line),
    api: {
      enabled: args.api,
      ...(args.apiPort !== undefined ? { port: args.apiPort } : {}),
      ...(args.apiHost ? { host: args.apiHost } : {}),
    },
    // Without --share the stored switch (Hardware → Machines) decides.
    share: {
      ...(args.share ? { enabled: true } : {}),
      ...(args.shareHost ? { host: args.shareHost } : {}),
      ...(args.sharePort !== undefined ? { port: args.sharePort } : {}),
      ...(args.name ? { name: args.name } : {}),
    },
  });
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
  const api = services.api.status();
  if (api.running) {
    console.log(`OpenAI-compatible API: ${api.url}  (key: ${api.requireKey ? api.key : 'not required'}; --no-api turns it off)`);
    if (!isLoopbackAddress(api.host))
      console.warn(`warning: the API listens on ${api.host}, reachable from other machines; the key is required.`);
  } else if (api.enabled) {
    console.warn(`warning: the OpenAI-compatible API is not running: ${api.error}`);
  }

  const sharing = services.sharing.status();
  if (sharing.listening) {
    console.log(`Sharing this machine as "${sharing.name}" on ${sharing.address} (TLS, paired machines only).`);
    console.log(`Pairing code: ${sharing.code}`);
    console.log(
      '  (one use, valid 10 minutes; on the other machine: Hardware → Machines → Add a machine, or `freehold machines add <code>`)',
    );
  } else if (sharing.error) {
    console.warn(`warning: not sharing this machine: ${sharing.error}`);
  }

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
