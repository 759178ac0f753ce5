/**
 * The client side of a split model's RPC tunnel: a local port that leads,
 * through a paired machine's link, to the RPC helper it runs. The sharing
 * side (machines/sharing.ts) pipes each tunnel to its helper.
 */
import net from 'node:net';
import tls from 'node:tls';
import { fingerprintOf } from '../machines/certificate';
import { addressOf, type PairedMachineRecord } from '../machines/link-client';
import { TUNNEL_PATH, TUNNEL_PROTOCOL } from '../machines/link-protocol';

/**
 * A port on 127.0.0.1 here that leads, through the paired link (TLS, this
 * pairing's key, the pinned certificate), to the machine's RPC helper: each
 * connection made to it opens its own tunnel. Only what runs on this machine
 * can connect to it, and only to that helper.
 */
export async function forwardToHelper(
  record: PairedMachineRecord,
  events: { onTunnelClosed?: (error: Error | null) => void } = {},
): Promise<{ port: number; close(): void; bytes(): { sent: number; received: number } }> {
  const sockets = new Set<net.Socket>();
  let sent = 0;
  let received = 0;
  const where = `${record.name} (${addressOf(record.host, record.port)})`;
  const server = net.createServer((local) => {
    sockets.add(local);
    local.on('close', () => sockets.delete(local));
    local.on('error', () => undefined);
    local.setNoDelay(true);
    local.pause();
    const fail = (error: Error) => {
      events.onTunnelClosed?.(error);
      local.destroy();
    };
    // TLS to the pinned certificate; the upgrade request (with this pairing's key) only once the certificate is checked.
    const remote = tls.connect({
      host: record.host,
      port: record.port,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      servername: undefined,
    });
    remote.setNoDelay(true);
    local.once('close', () => remote.destroy());
    remote.once('secureConnect', () => {
      const raw = remote.getPeerCertificate()?.raw;
      if (!raw || fingerprintOf(raw) !== record.fingerprint) {
        remote.destroy();
        return fail(new Error(`${where} presented a different certificate from the one paired, so the tunnel was refused.`));
      }
      remote.write(
        `GET ${TUNNEL_PATH} HTTP/1.1\r\nHost: ${addressOf(record.host, record.port)}\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_PROTOCOL}\r\n` +
          `X-Freehold-Pairing: ${record.pairingId}\r\nX-Freehold-Key: ${record.key}\r\n\r\n`,
      );
    });
    let head = Buffer.alloc(0);
    const onHead = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16 * 1024) fail(new Error(`${where} answered the tunnel with something unreadable.`));
        return;
      }
      remote.off('data', onHead);
      const response = head.subarray(0, end).toString('utf8');
      const rest = head.subarray(end + 4);
      if (!/^HTTP\/1\.1 101 /.test(response)) {
        const text = rest.toString('utf8').slice(0, 300) || response.split('\r\n')[0];
        remote.destroy();
        return fail(new Error(`${where} refused the tunnel: ${text}`));
      }
      // Closed from this side (llama-server let go of it): nothing lost. From the other side: the helper or the link went away.
      let closedHere = false;
      local.on('close', () => {
        closedHere = true;
        sockets.delete(local);
        remote.destroy();
      });
      remote.on('close', () => {
        if (!closedHere) events.onTunnelClosed?.(new Error(`${record.name} closed the link to its part of the split`));
        local.destroy();
      });
      local.on('error', () => remote.destroy());
      remote.on('error', () => local.destroy());
      local.on('data', (data: Buffer) => (sent += data.length));
      remote.on('data', (data: Buffer) => (received += data.length));
      if (rest.length) local.write(rest);
      local.pipe(remote).pipe(local);
      local.resume();
    };
    remote.on('data', onHead);
    // Errors handled from the first byte, on both sides (a second one, after the first, too).
    let reported = false;
    remote.on('error', (error) => {
      if (reported) return local.destroy();
      reported = true;
      fail(new Error(`${where} could not be reached for the tunnel: ${error.message}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    /** What went through the tunnels so far (the layers' weights on their way, then each step's activations). */
    bytes: () => ({ sent, received }),
    close() {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
