import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { vi } from 'vitest';

/**
 * Electron's utilityProcess, played by a forked Node process: the worker
 * script is the real one and sees the same IPC shape (process.send here,
 * parentPort there; the worker supports both).
 */
export class FakeUtilityProcess extends EventEmitter {
  readonly child: ChildProcess;
  readonly stdout;
  readonly stderr;
  constructor(
    modulePath: string,
    readonly options: Record<string, unknown>,
  ) {
    super();
    this.child = fork(modulePath, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced' });
    this.stdout = this.child.stdout;
    this.stderr = this.child.stderr;
    this.child.on('message', (message) => this.emit('message', message));
    this.child.on('exit', (code) => this.emit('exit', code ?? 1));
  }
  get pid() {
    return this.child.pid;
  }
  postMessage(message: unknown) {
    if (this.child.connected) this.child.send(message as never);
  }
  kill() {
    return this.child.kill();
  }
}

/**
 * A stand-in for the `electron` module, enough for the thin shell to run in
 * plain Node: windows, webContents, IPC, protocol, session and shell record
 * what the shell asked of them.
 */
export class FakeWebContents extends EventEmitter {
  static nextId = 1;
  readonly id = FakeWebContents.nextId++;
  readonly sent: Array<{ channel: string; message: unknown }> = [];
  windowOpenHandler: ((details: { url: string }) => { action: string }) | undefined;
  destroyed = false;
  send(channel: string, message: unknown) {
    this.sent.push({ channel, message: structuredClone(message) });
  }
  isDestroyed() {
    return this.destroyed;
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }) {
    this.windowOpenHandler = handler;
  }
  destroy() {
    this.destroyed = true;
    this.emit('destroyed');
  }
}

export function createFakeElectron(options: { gotLock?: boolean; userData?: string } = {}) {
  const windows: FakeBrowserWindow[] = [];
  const app = Object.assign(new EventEmitter(), {
    requestSingleInstanceLock: vi.fn(() => options.gotLock ?? true),
    enableSandbox: vi.fn(),
    quit: vi.fn(),
    ready: Promise.resolve(),
    whenReady() {
      return this.ready;
    },
    paths: { userData: options.userData ?? '/nonexistent/userData' } as Record<string, string>,
    getPath(name: string) {
      return this.paths[name]!;
    },
    setPath(name: string, value: string) {
      this.paths[name] = value;
    },
  });

  class FakeBrowserWindow extends EventEmitter {
    readonly webContents = new FakeWebContents();
    loadedUrl: string | undefined;
    constructor(readonly options: Record<string, unknown>) {
      super();
      windows.push(this);
      app.emit('web-contents-created', {}, this.webContents);
    }
    loadURL(url: string) {
      this.loadedUrl = url;
      return Promise.resolve();
    }
    show = vi.fn();
    focus = vi.fn();
    restore = vi.fn();
    isMinimized = () => false;
    static getAllWindows() {
      return windows;
    }
  }

  const ipcMain = new EventEmitter();
  const protocol = {
    registerSchemesAsPrivileged: vi.fn(),
    handlers: new Map<string, (request: { url: string }) => Promise<Response>>(),
    handle(scheme: string, handler: (request: { url: string }) => Promise<Response>) {
      this.handlers.set(scheme, handler);
    },
  };
  const permissionHandlers: Record<string, (...args: unknown[]) => unknown> = {};
  const session = {
    defaultSession: {
      setPermissionRequestHandler: (h: (...args: unknown[]) => unknown) => (permissionHandlers.request = h),
      setPermissionCheckHandler: (h: (...args: unknown[]) => unknown) => (permissionHandlers.check = h),
      setDevicePermissionHandler: (h: (...args: unknown[]) => unknown) => (permissionHandlers.device = h),
    },
  };
  const shell = { openExternal: vi.fn(async () => undefined), showItemInFolder: vi.fn() };
  // A stand-in keychain: reversible, but visibly not plain text.
  const safeStorage = {
    isEncryptionAvailable: () => true,
    encryptString: (text: string) => Buffer.from(`enc:${Buffer.from(text).toString('base64')}`),
    decryptString: (data: Buffer) => Buffer.from(data.toString().slice(4), 'base64').toString(),
  };
  const workers: FakeUtilityProcess[] = [];
  const utilityProcess = {
    fork: vi.fn((modulePath: string, _args: string[], options: Record<string, unknown>) => {
      const worker = new FakeUtilityProcess(modulePath, options);
      workers.push(worker);
      return worker;
    }),
  };

  return {
    app,
    BrowserWindow: FakeBrowserWindow,
    ipcMain,
    protocol,
    session,
    shell,
    safeStorage,
    utilityProcess,
    windows,
    workers,
    permissionHandlers,
  };
}

export type FakeElectron = ReturnType<typeof createFakeElectron>;

/** The IPC event the main process sees for a message from a frame at `url`. */
export function ipcEvent(sender: FakeWebContents, url: string, isTopLevel = true) {
  return { sender, senderFrame: { url, parent: isTopLevel ? null : {} } };
}
