import { spawn, type ChildProcess } from 'node:child_process';

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `dist/electron/serve.mjs` as a real process and waits for the URL it
 * prints. The API server gets a free port unless the test chooses (tests run
 * side by side; the default port would collide).
 */
export function startServeProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const apiArgs = args.includes('--no-api') || args.includes('--api-port') ? [] : ['--api-port', '0'];
  const child = spawn(process.execPath, ['dist/electron/serve.mjs', ...args, ...apiArgs], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Open (http:\/\/\S+)/.exec(output);
      if (match) resolve({ child, url: match[1]!, output: () => output, exited });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code }) => reject(new Error(`serve exited (${code}) before printing a URL:\n${output}`)));
    setTimeout(() => reject(new Error(`serve printed no URL within 20 s:\n${output}`)), 20_000).unref();
  });
}
