import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type * as Electron from 'electron';
import { startDesktop } from '../../../electron/main/desktop';
import { IPC_CHANNEL } from '../../../shared/bridge';
import type { HardwareReport } from '../../../shared/inference';
import { tempDir } from '../../helpers/temp';
import { createFakeElectron, ipcEvent, type FakeElectron } from '../../helpers/fake-electron';

const launched: FakeElectron[] = [];

afterEach(async () => {
  // Quit as Electron would: the shell's will-quit handler stops the worker.
  for (const fake of launched.splice(0)) {
    fake.app.emit('will-quit', { preventDefault: () => undefined });
    await new Promise((r) => setTimeout(r, 50));
    for (const worker of fake.workers) worker.kill();
  }
});

/** A file beside the UI folder: what a path-traversal bug would serve. */
const SECRET = 'secret beside the UI folder';

async function launch(argv: string[] = [], fakeOptions: { gotLock?: boolean } = {}) {
  const fake = createFakeElectron({ userData: tempDir(), ...fakeOptions });
  const parent = tempDir();
  const rendererDir = path.join(parent, 'ui');
  mkdirSync(rendererDir);
  writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>Freehold</title>');
  writeFileSync(path.join(parent, 'secret.txt'), SECRET);
  launched.push(fake);
  startDesktop(
    fake as unknown as Parameters<typeof startDesktop>[0],
    { rendererDir, preload: '/app/preload.cjs', worker: path.resolve('dist/electron/worker.mjs') },
    argv,
  );
  await fake.app.ready;
  // The window opens once the services are up (settings, library, chat store): wait for it.
  if (fakeOptions.gotLock !== false) await expect.poll(() => fake.windows.length, { timeout: 10_000 }).toBe(1);
  return { fake, window: fake.windows[0]! };
}

/** The reply to request `id`, waited for: a loaded machine may take longer than a fixed pause. */
async function replyTo(window: FakeElectron['windows'][number], id: string, timeout = 10_000): Promise<unknown> {
  await expect.poll(() => window.webContents.sent.some((s) => (s.message as { i?: string }).i === id), { timeout }).toBe(true);
  return window.webContents.sent.find((s) => (s.message as { i?: string }).i === id)!.message;
}

function rpc(fake: FakeElectron, window: FakeElectron['windows'][number], url: string, message: unknown, topLevel = true) {
  fake.ipcMain.emit(IPC_CHANNEL, ipcEvent(window.webContents, url, topLevel), message);
}

describe('desktop shell (faked electron)', () => {
  it('opens one sandboxed, isolated window on the app:// scheme', async () => {
    const { fake, window } = await launch();
    expect(fake.app.enableSandbox).toHaveBeenCalled();
    expect(fake.protocol.registerSchemesAsPrivileged).toHaveBeenCalledWith([
      expect.objectContaining({ scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true }) }),
    ]);
    const prefs = window.options.webPreferences as Electron.WebPreferences;
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      disableBlinkFeatures: 'Auxclick',
      preload: '/app/preload.cjs',
    });
    expect(window.loadedUrl).toBe('app://freehold/index.html');
  });

  it('answers RPC from its own page over IPC', async () => {
    const { fake, window } = await launch();
    rpc(fake, window, 'app://freehold/index.html', { t: 'q', m: 'app.info', a: [], i: 'r1' });
    expect(await replyTo(window, 'r1')).toMatchObject({ t: 's', r: { name: 'Freehold', host: 'electron' } });
    expect(window.webContents.sent.find((s) => (s.message as { i?: string }).i === 'r1')?.channel).toBe(IPC_CHANNEL);
  });

  it('ignores IPC from any other origin or from a subframe', async () => {
    const { fake, window } = await launch();
    rpc(fake, window, 'https://evil.example/', { t: 'q', m: 'app.info', a: [], i: 'x1' });
    rpc(fake, window, 'file:///etc/passwd', { t: 'q', m: 'app.info', a: [], i: 'x2' });
    rpc(fake, window, 'app://freehold/index.html', { t: 'q', m: 'app.info', a: [], i: 'x3' }, false);
    // The same call from its own page, sent last, is answered: by then any answer to the others would have gone out first.
    rpc(fake, window, 'app://freehold/index.html', { t: 'q', m: 'app.info', a: [], i: 'ok' });
    await replyTo(window, 'ok');
    expect(window.webContents.sent.map((s) => (s.message as { i?: string }).i)).toEqual(['ok']);
  });

  it('answers a malformed IPC message with a typed error and keeps running', async () => {
    const { fake, window } = await launch();
    rpc(fake, window, 'app://freehold/', { t: 'q', m: 'settings.update', a: [{ inference: { backend: 'gpu!' } }], i: 'v1' });
    rpc(fake, window, 'app://freehold/', 'garbage');
    rpc(fake, window, 'app://freehold/', { t: 'q', m: 'app.dismissNotice', a: [{ id: 'x'.repeat(2 * 1024 * 1024) }], i: 'big' });
    rpc(fake, window, 'app://freehold/', { t: 'q', m: 'app.info', a: [], i: 'v2' });
    await replyTo(window, 'v2');
    await replyTo(window, 'big');
    const messages = window.webContents.sent.map((s) => s.message as { i: string; e?: { code: string } });
    expect(messages.find((m) => m.i === 'v1')?.e?.code).toBe('invalid_input');
    expect(messages.find((m) => m.i === 'big')?.e?.code).toBe('payload_too_large');
    expect(messages.find((m) => m.i === 'v2')).toMatchObject({ r: { name: 'Freehold' } });
  });

  it('denies navigation, new windows and permission requests; opens only https links outside', async () => {
    const { fake, window } = await launch();
    const contents = window.webContents;
    let prevented = false;
    contents.emit('will-navigate', { preventDefault: () => (prevented = true) }, 'https://evil.example/');
    expect(prevented).toBe(true);
    prevented = false;
    contents.emit('will-navigate', { preventDefault: () => (prevented = true) }, 'app://freehold/index.html#/chat');
    expect(prevented).toBe(false);
    expect(contents.windowOpenHandler?.({ url: 'https://huggingface.co/Qwen' })).toEqual({ action: 'deny' });
    expect(contents.windowOpenHandler?.({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    expect(contents.windowOpenHandler?.({ url: 'javascript:alert(1)' })).toEqual({ action: 'deny' });
    expect(fake.shell.openExternal.mock.calls).toEqual([['https://huggingface.co/Qwen']]);
    let granted: boolean | undefined;
    fake.permissionHandlers.request?.({}, 'media', (answer: boolean) => (granted = answer));
    expect(granted).toBe(false);
    expect(fake.permissionHandlers.check?.({}, 'notifications')).toBe(false);
    // Copy buttons: the app's own page may write the clipboard; nothing may read it; no other page may write.
    expect(fake.permissionHandlers.check?.({}, 'clipboard-sanitized-write', 'app://freehold')).toBe(true);
    expect(fake.permissionHandlers.check?.({}, 'clipboard-read', 'app://freehold')).toBe(false);
    expect(fake.permissionHandlers.check?.({}, 'clipboard-sanitized-write', 'https://evil.example')).toBe(false);
    fake.permissionHandlers.request?.({}, 'clipboard-sanitized-write', (answer: boolean) => (granted = answer), {
      requestingUrl: 'app://freehold/index.html',
    });
    expect(granted).toBe(true);
    fake.permissionHandlers.request?.({}, 'clipboard-read', (answer: boolean) => (granted = answer), {
      requestingUrl: 'app://freehold/index.html',
    });
    expect(granted).toBe(false);
  });

  it('serves the UI on app:// only from its own folder, with the CSP', async () => {
    const { fake } = await launch();
    const handler = fake.protocol.handlers.get('app')!;
    const index = await handler({ url: 'app://freehold/index.html' });
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    for (const url of [
      'app://freehold/../secret.txt',
      'app://freehold/..%2fsecret.txt',
      'app://freehold/%2e%2e%2fsecret.txt',
      'app://freehold/..%5csecret.txt',
      'app://freehold/..%2fsecret',
    ]) {
      const res = await handler({ url });
      expect(res.status, url).toBe(404);
      expect(await res.text(), url).not.toContain(SECRET);
    }
    expect((await handler({ url: 'app://other/index.html' })).status).toBe(404);
  });

  it('uses --data-dir when given', async () => {
    const dir = tempDir();
    const { fake, window } = await launch(['electron', '.', '--data-dir', dir]);
    expect(fake.app.getPath('userData')).toBe(dir);
    rpc(fake, window, 'app://freehold/', { t: 'q', m: 'app.info', a: [], i: 'd1' });
    expect(await replyTo(window, 'd1')).toMatchObject({ r: { dataDir: dir } });
  });

  it('runs inference in a utility process and reports its backend', async () => {
    const { fake, window } = await launch();
    expect(fake.utilityProcess.fork).toHaveBeenCalledWith(
      path.resolve('dist/electron/worker.mjs'),
      [],
      expect.objectContaining({ serviceName: 'Freehold inference' }),
    );
    rpc(fake, window, 'app://freehold/', { t: 'q', m: 'inference.hardware', a: [], i: 'h1' });
    const { r: report } = (await replyTo(window, 'h1', 20_000)) as { r: HardwareReport };
    // Whichever backend this machine loads first (CUDA on a GPU box, the CPU here): the report names it and why.
    expect(report.requested).toBe('auto');
    expect(report.attempts.map((a) => a.backend)).toEqual(['cuda', 'vulkan', 'metal', 'cpu']);
    expect(report.attempts.filter((a) => a.outcome === 'chosen').map((a) => a.backend)).toEqual([report.backend]);
    // …or, where a GPU backend loaded without a GPU to run on (Vulkan with only lavapipe), that it was not used.
    expect(report.reason).toMatch(/is the first that loaded|loaded but found no GPU .*: running on/);
  });

  it('keeps the hub token with the OS keychain and shows model files in the file manager', async () => {
    const dir = tempDir();
    const { fake, window } = await launch(['electron', '.', '--data-dir', dir]);
    rpc(fake, window, 'app://freehold/', { t: 'q', m: 'hub.setToken', a: [{ token: 'hf_secret_value' }], i: 't1' });
    expect(await replyTo(window, 't1')).toMatchObject({ r: { set: true, storage: 'keychain' } });
    const { readFileSync } = await import('node:fs');
    const stored = readFileSync(path.join(dir, 'hub-token.enc'), 'utf8');
    expect(stored).not.toContain('hf_secret_value');
    const { copyFileSync } = await import('node:fs');
    const { testModelPath } = await import('../../helpers/test-model');
    const file = path.join(tempDir(), 'm.gguf');
    copyFileSync(testModelPath(), file);
    rpc(fake, window, 'app://freehold/', { t: 'q', m: 'models.import', a: [{ paths: [file], mode: 'reference' }], i: 'i1' });
    const imported = (await replyTo(window, 'i1')) as { r: Array<{ model: { id: string } }> };
    rpc(fake, window, 'app://freehold/', { t: 'q', m: 'models.reveal', a: [{ id: imported.r[0]!.model.id }], i: 'r1' });
    await replyTo(window, 'r1');
    expect(fake.shell.showItemInFolder).toHaveBeenCalledWith(file);
  });

  it('quits when another instance already runs', async () => {
    const { fake } = await launch([], { gotLock: false });
    expect(fake.app.quit).toHaveBeenCalled();
    expect(fake.windows).toHaveLength(0);
  });
});
