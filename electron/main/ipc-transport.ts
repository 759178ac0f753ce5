import type { IpcMain, IpcMainEvent, WebContents } from 'electron';
import { IPC_CHANNEL } from '../../shared/bridge';
import { TransportBase, type Transport } from '../../shared/rpc/transport';
import { isTrustedSender } from './security';

/**
 * RPC over Electron IPC for one window. Messages from any other sender, or from
 * a frame that is not the app's own top-level page, are dropped and reported.
 */
export class IpcMainTransport extends TransportBase implements Transport {
  private readonly listener = (event: IpcMainEvent, message: unknown) => {
    if (event.sender !== this.contents) return;
    if (!isTrustedSender(event.senderFrame)) {
      this.onUntrusted?.(event.senderFrame?.url ?? 'unknown frame');
      return;
    }
    this.deliver(message);
  };

  constructor(
    private readonly ipcMain: Pick<IpcMain, 'on' | 'removeListener'>,
    private readonly contents: WebContents,
    private readonly onUntrusted?: (url: string) => void,
  ) {
    super();
    ipcMain.on(IPC_CHANNEL, this.listener);
    contents.once('destroyed', () => this.close('window closed'));
  }

  send(message: unknown): void {
    if (this.closed || this.contents.isDestroyed()) return;
    this.contents.send(IPC_CHANNEL, message);
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.ipcMain.removeListener(IPC_CHANNEL, this.listener);
    this.markClosed(reason);
  }
}
