/**
 * What the desktop app's preload exposes to the renderer as `window.freehold`:
 * one message channel to the host, nothing else. Every message is validated in
 * the main process; the renderer gets no Node, no filesystem, no raw ipcRenderer.
 */
export const IPC_CHANNEL = 'freehold:rpc';

export interface FreeholdBridge {
  send(message: unknown): void;
  onMessage(listener: (message: unknown) => void): () => void;
  /** The path of a file dropped on the window (Electron's webUtils); the page never sees the filesystem otherwise. */
  pathForFile(file: File): string;
}
