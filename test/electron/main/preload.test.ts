import { beforeEach, describe, expect, it, vi } from 'vitest';
import { EventEmitter } from 'node:events';
import { IPC_CHANNEL } from '../../../shared/bridge';

const exposed: Record<string, unknown> = {};
const ipcRenderer = Object.assign(new EventEmitter(), { send: vi.fn() });

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, api: unknown) => (exposed[key] = api) },
  ipcRenderer,
  webUtils: { getPathForFile: (file: { name: string }) => `/home/me/${file.name}` },
}));

beforeEach(async () => {
  await import('../../../electron/preload/preload');
});

describe('preload bridge', () => {
  it('exposes one narrow bridge: send and onMessage on the app channel, and the path of a dropped file', () => {
    expect(Object.keys(exposed)).toEqual(['freehold']);
    const bridge = exposed.freehold as Record<string, unknown>;
    expect(Object.keys(bridge).sort()).toEqual(['onMessage', 'pathForFile', 'send']);
    expect((bridge.pathForFile as (f: { name: string }) => string)({ name: 'model.gguf' })).toBe('/home/me/model.gguf');
    (bridge.send as (m: unknown) => void)({ t: 'q' });
    expect(ipcRenderer.send).toHaveBeenCalledWith(IPC_CHANNEL, { t: 'q' });
  });

  it('hands the page the message only, never the IPC event', () => {
    const bridge = exposed.freehold as { onMessage: (l: (...args: unknown[]) => void) => () => void };
    const received: unknown[][] = [];
    const off = bridge.onMessage((...args) => received.push(args));
    ipcRenderer.emit(IPC_CHANNEL, { sender: 'secret', ports: [] }, { hello: 1 });
    expect(received).toEqual([[{ hello: 1 }]]);
    off();
    ipcRenderer.emit(IPC_CHANNEL, {}, { hello: 2 });
    expect(received).toHaveLength(1);
  });
});
