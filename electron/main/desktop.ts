import path from 'node:path';
import type * as Electron from 'electron';
import { serveConnection } from '../platform/serve-connection';
import { createHostServices, type HostServices } from '../services/host-services';
import { ensureDataDir, resolveDataDir } from '../platform/data-dir';
import { IpcMainTransport } from './ipc-transport';
import { utilityProcessLauncher } from './utility-launcher';
import { handleAppRequest } from './protocol';
import { APP_ORIGIN, APP_SCHEME, denyAllPermissions, hardenWebContents } from './security';

type ElectronApi = Pick<
  typeof Electron,
  'app' | 'BrowserWindow' | 'ipcMain' | 'protocol' | 'session' | 'shell' | 'utilityProcess' | 'safeStorage'
>;

export interface DesktopPaths {
  /** Folder of the built renderer (index.html). */
  rendererDir: string;
  /** The built preload script. */
  preload: string;
  /** The built inference worker. */
  worker: string;
}

export function dataDirFlag(argv: string[]): string | undefined {
  const index = argv.indexOf('--data-dir');
  if (index >= 0) return argv[index + 1];
  const inline = argv.find((arg) => arg.startsWith('--data-dir='));
  return inline?.slice('--data-dir='.length);
}

/**
 * The desktop shell: app and window lifecycle, security settings and wiring.
 * All real work is in the services, shared with the headless host and the CLI.
 */
export function startDesktop(electron: ElectronApi, paths: DesktopPaths, argv: string[] = process.argv): void {
  const { app, BrowserWindow, ipcMain, protocol, session, shell, utilityProcess, safeStorage } = electron;

  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
  ]);
  app.enableSandbox();

  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }

  let services: HostServices | undefined;
  let mainWindow: Electron.BrowserWindow | undefined;

  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, shell));

  const createWindow = () => {
    const window = new BrowserWindow({
      width: 1200,
      height: 800,
      minWidth: 720,
      minHeight: 480,
      title: 'Freehold',
      show: false,
      // Electron's security checklist, written out here so that static checks
      // (electronegativity, in the test suite) can see every setting.
      webPreferences: {
        preload: paths.preload,
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        nodeIntegrationInWorker: false,
        nodeIntegrationInSubFrames: false,
        webSecurity: true,
        allowRunningInsecureContent: false,
        experimentalFeatures: false,
        webviewTag: false,
        navigateOnDragDrop: false,
        disableBlinkFeatures: 'Auxclick',
        spellcheck: false,
        safeDialogs: true,
      },
    });
    mainWindow = window;
    const transport = new IpcMainTransport(ipcMain, window.webContents, (url) =>
      console.warn(`Ignored an IPC message from an untrusted frame: ${url}`),
    );
    if (services) serveConnection(transport, services.handlers, services.events);
    window.once('ready-to-show', () => window.show());
    window.on('closed', () => {
      if (mainWindow === window) mainWindow = undefined;
    });
    void window.loadURL(`${APP_ORIGIN}/index.html`);
    return window;
  };

  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });

  void app.whenReady().then(async () => {
    const flag = dataDirFlag(argv);
    const dataDir = ensureDataDir(flag || process.env.FREEHOLD_DATA_DIR ? resolveDataDir({ flag }) : app.getPath('userData'));
    app.setPath('userData', dataDir);
    const log = (line: string) => console.error(line);
    services = await createHostServices({
      dataDir,
      host: 'electron',
      versions: { node: process.versions.node, electron: process.versions.electron, chrome: process.versions.chrome },
      workerLauncher: utilityProcessLauncher(app, (...args) => utilityProcess.fork(...args), paths.worker, log),
      log,
      revealFile: (file) => shell.showItemInFolder(file),
      // The hub token goes to the OS keychain (Keychain, DPAPI, libsecret) when there is one.
      cipher: safeStorage.isEncryptionAvailable()
        ? { encrypt: (text) => safeStorage.encryptString(text), decrypt: (data) => safeStorage.decryptString(data) }
        : undefined,
    });
    services.inference.start();
    protocol.handle(APP_SCHEME, (request) => handleAppRequest(paths.rendererDir, request));
    denyAllPermissions(session.defaultSession);
    createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow();
    });
  });

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  let flushed = false;
  app.on('will-quit', (event) => {
    if (flushed || !services) return;
    // Let pending writes reach the disk before the process ends.
    event.preventDefault();
    void services.close().finally(() => {
      flushed = true;
      app.quit();
    });
  });
}

export function defaultPaths(bundleDir: string): DesktopPaths {
  return {
    rendererDir: path.resolve(bundleDir, '../renderer'),
    preload: path.join(bundleDir, 'preload.cjs'),
    // Native binaries are unpacked from the asar; the worker script itself loads from it.
    worker: path.join(bundleDir, 'worker.mjs'),
  };
}
