// Runs sandboxed with contextIsolation: only `electron`'s renderer modules are
// available, and only this narrow bridge reaches the page.
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { IPC_CHANNEL, type FreeholdBridge } from '../../shared/bridge';

const bridge: FreeholdBridge = {
  send(message: unknown) {
    ipcRenderer.send(IPC_CHANNEL, message);
  },
  onMessage(listener: (message: unknown) => void) {
    // The page never sees the IpcRendererEvent (it carries sender and ports).
    const wrapped = (_event: IpcRendererEvent, message: unknown) => listener(message);
    ipcRenderer.on(IPC_CHANNEL, wrapped);
    return () => {
      ipcRenderer.removeListener(IPC_CHANNEL, wrapped);
    };
  },
  pathForFile(file: File) {
    return webUtils.getPathForFile(file);
  },
};

contextBridge.exposeInMainWorld('freehold', bridge);
