import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LINK_PATH } from '../../../electron/machines/link-protocol';
import { decodePairingCode } from '../../../electron/machines/pairing-code';
import { AttemptCounter, addressKey, MAX_UNWELCOMED_PER_ADDRESS } from '../../../electron/machines/link-admission';
import { RPC_PATH } from '../../../electron/host/server';
import { createHostClient, type HostClient } from '../../../shared/rpc/client';
import { inferenceHost } from '../../helpers/inference-host';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { startServeProcess, type ServeProcess } from '../../helpers/serve-process';
import { tempDir } from '../../helpers/temp';
import { until } from '../../helpers/until';
import { openSocket } from '../../helpers/ws-client';

/**
 * The share port attacked from outside, on loopback: a Freehold host in its own
 * process (as a user runs it), strangers on other loopback addresses
 * (127.0.0.2 …), and a paired machine that asks too much.
 */

/** Processes carrying this run's tag in their environment (inherited from the host): its RPC helpers. */
function helpersOf(tag: string, binary: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0] !== binary) continue;
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`FREEHOLD_TEST_TAG=${tag}`)) continue;
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (state !== 'Z') found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function rssMb(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

interface Link {
  ws: WebSocket;
  /** The raw TLS socket under the WebSocket: for frames the ws library would never send. */
  raw: () => import('node:net').Socket;
  answer: Promise<Record<string, unknown> | null>;
  closed: Promise<number>;
}

/** A WebSocket to /link from `from` (a loopback address), nothing sent yet. */
function openLink(port: number, from = '127.0.0.1'): Promise<Link> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${LINK_PATH}`, { rejectUnauthorized: false, localAddress: from });
    const answer = new Promise<Record<string, unknown> | null>((r) => {
      ws.once('message', (data) => r(JSON.parse(String(data)) as Record<string, unknown>));
      ws.once('close', () => r(null));
    });
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.on('error', () => undefined);
    ws.once('open', () => resolve({ ws, raw: () => (ws as unknown as { _socket: import('node:net').Socket })._socket, answer, closed }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const mask = Buffer.from([1, 2, 3, 4]);
const masked = (payload: Buffer) => Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
/** Frames the ws library rejects, by kind. */
const badFrames: Record<string, Buffer> = {
  // 14 bytes: FIN+text, MASK+127, a 64-bit length of 17 MiB, the mask key.
  'a header announcing more than 16 MiB': Buffer.concat([
    Buffer.from([0x81, 0xff]),
    (() => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(17n * 1024n * 1024n);
      return b;
    })(),
    mask,
  ]),
  'an unmasked frame': Buffer.concat([Buffer.from([0x81, 5]), Buffer.from('hello')]),
  'invalid UTF-8 in a text frame': Buffer.concat([Buffer.from([0x81, 0x82]), mask, masked(Buffer.from([0xff, 0xfe]))]),
  'a reserved opcode': Buffer.concat([Buffer.from([0x83, 0x81]), mask, masked(Buffer.from('x'))]),
  'RSV1 with no extension': Buffer.concat([Buffer.from([0xc1, 0x81]), mask, masked(Buffer.from('x'))]),
};

const machineId = () => `m${Math.random().toString(36).slice(2).padEnd(20, '0')}`;

describe('the share port, attacked', () => {
  let host: ServeProcess;
  let ui: HostClient;
  let port: number;
  let rpcServer: string;
  const tag = `t${process.pid}${Date.now()}`;
  // The host lives for the whole file: its folder goes at the end, not after each test (tempDir's way).
  const hostDir = mkdtempSync(path.join(os.tmpdir(), 'freehold-share-'));

  const newCode = async () => (await ui.api['machines.newCode']()).code!;
  /** Pairs like a machine would, from `from`: the pairing's id and key. */
  const pair = async (from = '127.0.0.1', code?: string) => {
    const link = await openLink(port, from);
    link.ws.send(
      JSON.stringify({ t: 'pair', v: 1, secret: decodePairingCode(code ?? (await newCode())).secret, name: 'raw', machineId: machineId() }),
    );
    return link.answer;
  };
  const alive = async () => {
    expect(host.child.exitCode, host.output()).toBeNull();
    // Still serving: a stranger's hello is answered (refused) as ever, from an address with a clean record.
    const link = await openLink(port, '127.0.0.250');
    link.ws.send(JSON.stringify({ t: 'auth', v: 1, pairingId: 'a'.repeat(16), key: 'b'.repeat(43) }));
    expect(await link.answer).toMatchObject({ t: 'refused' });
  };

  beforeAll(async () => {
    const engines = await ensureTestEngines();
    rpcServer = engines.rpcServer;
    host = await startServeProcess(
      ['--data-dir', hostDir, '--no-api', '--share', '--share-host', '127.0.0.1', '--share-port', '0', '--name', 'tower'],
      { ...engines.env, FREEHOLD_TEST_TAG: tag },
    );
    await until('the pairing code', () => /Pairing code: /.test(host.output()), 10_000);
    port = Number(/on 127\.0\.0\.1:(\d+) \(TLS/.exec(host.output())![1]);
    const url = new URL(host.url);
    const { transport } = await openSocket(`ws://${url.host}${RPC_PATH}?token=${url.searchParams.get('token')}`);
    ui = createHostClient(transport);
  }, 600_000);

  afterAll(async () => {
    ui?.close();
    if (host && host.child.exitCode === null) {
      host.child.kill('SIGKILL');
      await host.exited;
    }
    rmSync(hostDir, { recursive: true, force: true });
  });

  it('a frame the WebSocket library rejects, before or after the hello, closes that link and nothing else', async () => {
    for (const [kind, frame] of Object.entries(badFrames)) {
      const before = await openLink(port, '127.0.0.3');
      before.raw().write(frame);
      expect(await before.closed, kind).toBeGreaterThan(0);
      await alive();
    }
    // After a welcome, too: a paired machine's broken frame ends its own link only.
    const paired = (await pair()) as { pairingId: string; key: string };
    expect(paired).toMatchObject({ t: 'paired' });
    for (const [kind, frame] of Object.entries(badFrames)) {
      const session = await openLink(port);
      session.ws.send(JSON.stringify({ t: 'auth', v: 1, pairingId: paired.pairingId, key: paired.key }));
      expect(await session.answer).toMatchObject({ t: 'welcome' });
      session.raw().write(frame);
      expect(await session.closed, kind).toBeGreaterThan(0);
      await alive();
    }
  }, 60_000);

  it('holds no more than a few KiB per stranger: 40 hellos of 16 MiB cost the host next to nothing', async () => {
    const payload = Buffer.alloc(16 * 1024 * 1024 - 64);
    const header = Buffer.concat([Buffer.from([0x82, 0xff]), Buffer.alloc(8), mask]);
    header.writeBigUInt64BE(BigInt(payload.length), 2);
    /** A binary frame of almost 16 MiB, written raw (one buffer shared by all: the test holds 16 MiB, not 640). */
    const sendHuge = (link: Link) => {
      link.raw().write(header);
      link.raw().write(payload);
    };
    const before = rssMb(host.child.pid!);
    const cut: Promise<number>[] = [];
    for (let i = 0; i < 40; i++) {
      // Five addresses, eight each: within the limit of connections per address.
      const link = await openLink(port, `127.0.1.${1 + (i % 5)}`).catch(() => null);
      if (!link) continue;
      sendHuge(link);
      cut.push(link.closed);
    }
    await Promise.all(cut);
    const after = rssMb(host.child.pid!);
    // Before the limit, this took the host from 122 MB to 686 MB.
    expect(after - before).toBeLessThan(100);
    // Each counts as a failed attempt: twenty from one address, and it is turned away for the rest of the minute.
    for (let i = 0; i < 20; i++) {
      const link = await openLink(port, '127.0.1.9');
      sendHuge(link);
      await link.closed;
    }
    const again = await openLink(port, '127.0.1.9');
    again.ws.send(JSON.stringify({ t: 'auth', v: 1, pairingId: 'a'.repeat(16), key: 'b'.repeat(43) }));
    expect(await again.answer).toMatchObject({ t: 'refused', code: 'rate_limited' });
    await alive();
  }, 120_000);

  it('malformed hellos count as failures, and connections not yet welcomed are capped per address', async () => {
    for (let i = 0; i < 20; i++) {
      const link = await openLink(port, '127.0.2.1');
      link.ws.send('not json');
      expect(await link.answer).toMatchObject({ t: 'refused', code: 'bad_message' });
    }
    const next = await openLink(port, '127.0.2.1');
    next.ws.send(JSON.stringify({ t: 'auth', v: 1, pairingId: 'a'.repeat(16), key: 'b'.repeat(43) }));
    expect(await next.answer).toMatchObject({ t: 'refused', code: 'rate_limited' });

    // Silent connections (TLS done, nothing sent): the address's share is full, the next is dropped at once.
    const held: tls.TLSSocket[] = [];
    const connect = () =>
      new Promise<tls.TLSSocket | null>((resolve) => {
        const socket = tls.connect({
          socket: net.connect({ host: '127.0.0.1', port, localAddress: '127.0.2.2' }),
          rejectUnauthorized: false,
        });
        socket.once('secureConnect', () => {
          // Closed by the host straight after the handshake, or kept waiting for a hello.
          const timer = setTimeout(() => resolve(socket), 500);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve(null);
          });
        });
        socket.on('error', () => resolve(null));
      });
    for (let i = 0; i < MAX_UNWELCOMED_PER_ADDRESS; i++) {
      const socket = await connect();
      expect(socket, `connection ${i + 1}`).not.toBeNull();
      held.push(socket!);
    }
    expect(await connect()).toBeNull();
    // Another address is not affected.
    await alive();
    for (const socket of held) socket.destroy();

    // A refused upgrade whose sender never closes its end is closed by the host all the same, and not held.
    const halfOpen = tls.connect({
      socket: net.connect({ host: '127.0.0.1', port, localAddress: '127.0.2.3', allowHalfOpen: true }),
      rejectUnauthorized: false,
      allowHalfOpen: true,
    } as tls.ConnectionOptions);
    halfOpen.on('error', () => undefined);
    halfOpen.resume();
    await new Promise((r) => halfOpen.once('secureConnect', r));
    const ended = new Promise((r) => halfOpen.once('end', r)); // the host's answer ends; this side keeps its own end open
    const closed = new Promise((r) => halfOpen.once('close', r));
    halfOpen.write('GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await ended;
    // Still writing: a socket the host only half-closed would take it all; one it let go of resets (EPIPE).
    for (let i = 0; i < 10 && !halfOpen.destroyed; i++) {
      await new Promise((r) => setTimeout(r, 300));
      halfOpen.write('still here');
    }
    await closed;
  }, 60_000);

  it('wrong secrets from other addresses do not block the right code', async () => {
    const code = await newCode();
    const wrong = { ...decodePairingCode(code), secret: 'x'.repeat(22) };
    for (let a = 0; a < 4; a++) {
      for (let i = 0; i < 5; i++) {
        const link = await openLink(port, `127.0.3.${a + 1}`);
        link.ws.send(JSON.stringify({ t: 'pair', v: 1, secret: wrong.secret, name: 'evil', machineId: machineId() }));
        expect(await link.answer).toMatchObject({ t: 'refused' });
      }
    }
    expect(await pair('127.0.3.9', code)).toMatchObject({ t: 'paired' });
  }, 60_000);

  it('a paired machine cannot leave RPC helpers behind: concurrent starts make one, and none outlives the link or the host', async () => {
    const laptop = await inferenceHost({ dataDir: tempDir(), host: 'web', share: { name: 'laptop' } });
    let closed = false;
    try {
      await laptop.services.handlers['machines.add']({ code: await newCode() });
      const tower = await until('the tower online', () =>
        laptop.services.machines.list().find((m) => m.name === 'tower' && m.state === 'online'),
      );
      const remote = laptop.services.machines.remote(tower!.id);
      const starts = await Promise.allSettled(Array.from({ length: 6 }, () => remote['split.helperStart']()));
      expect(starts.every((s) => s.status === 'fulfilled')).toBe(true);
      expect(helpersOf(tag, rpcServer)).toHaveLength(1);
      expect((await remote['split.helperStop']()).stopped).toBe(true);
      await until('no helper after split.helperStop', () => helpersOf(tag, rpcServer).length === 0);

      // Started again, then the link closes (the laptop quits): the helper goes with it.
      await Promise.all(Array.from({ length: 6 }, () => remote['split.helperStart']()));
      expect(helpersOf(tag, rpcServer)).toHaveLength(1);
      await laptop.services.close();
      closed = true;
      await until('no helper after the link closed', () => helpersOf(tag, rpcServer).length === 0);
    } finally {
      if (!closed) await laptop.services.close();
    }

    // And a host killed outright takes its helpers with it.
    const again = await inferenceHost({ dataDir: tempDir(), host: 'web', share: { name: 'laptop2' } });
    try {
      await again.services.handlers['machines.add']({ code: await newCode() });
      const tower = await until('the tower online', () =>
        again.services.machines.list().find((m) => m.name === 'tower' && m.state === 'online'),
      );
      await Promise.all(Array.from({ length: 6 }, () => again.services.machines.remote(tower!.id)['split.helperStart']()));
      const [pid] = helpersOf(tag, rpcServer);
      expect(pid).toBeGreaterThan(0);
      host.child.kill('SIGKILL');
      await host.exited;
      await until('no helper after the host was killed', () => helpersOf(tag, rpcServer).length === 0, 10_000);
    } finally {
      await again.services.close();
    }
  }, 120_000);
});

describe('attempt counting', () => {
  it('forgets the least recently seen addresses, never all at once', () => {
    const counter = new AttemptCounter(60_000, 100);
    const now = 1_000_000;
    for (let i = 0; i < 3; i++) counter.take('attacker', 3, now);
    expect(counter.take('attacker', 3, now)).toBe(false);
    for (let i = 0; i < 99; i++) counter.take(`10.0.0.${i}`, 3, now);
    expect(counter.size()).toBe(100);
    // The attacker was seen most recently of all but the 99: still limited after the table filled up.
    counter.take('attacker', 3, now);
    for (let i = 0; i < 50; i++) counter.take(`10.1.0.${i}`, 3, now);
    expect(counter.size()).toBe(100);
    expect(counter.take('attacker', 3, now)).toBe(false);
    // A minute later the window has passed.
    expect(counter.take('attacker', 3, now + 60_001)).toBe(true);
  });

  it('counts an IPv6 machine by its /64, an IPv4 one by its address', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:192.168.1.7')).toBe('192.168.1.7');
    expect(addressKey('127.0.0.2')).toBe('127.0.0.2');
  });
});
