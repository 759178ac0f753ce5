/**
 * Who may knock on the share port, and how hard: the limits on strangers
 * (connections not yet welcomed as a paired machine's session or tunnel),
 * counted per address (an IPv6 machine by its /64), never in all where a crowd
 * of addresses could fill a shared limit and keep paired machines out.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * Pairing attempts per address per minute. There is no limit in all: the
 * secret has 128 bits, so a global limit protects nothing and would let
 * anyone on the network block the right code by sending wrong ones.
 */
export const PAIR_ATTEMPTS_PER_ADDRESS = 5;
/** Failed attempts (wrong keys or secrets, malformed or oversized hellos) per address per minute, before that address is turned away for the rest of the minute. */
export const AUTH_FAILURES_PER_ADDRESS = 20;
/** Until a peer is welcomed, it may send this much (its hello is a few hundred bytes). */
export const MAX_UNWELCOMED_BYTES = 8 * 1024;
/** Connections not yet welcomed (TLS done, no session yet), per address and in all. */
export const MAX_UNWELCOMED_PER_ADDRESS = 8;
export const MAX_UNWELCOMED_IN_ALL = 64;
/** Connections of any kind from one address (a paired machine needs its link and a tunnel per split device). */
export const MAX_CONNECTIONS_PER_ADDRESS = 32;
/** A connection not welcomed within this time of its handshake is closed (the hello itself must come within 10 s of the upgrade). */
export const UNWELCOMED_DEADLINE_MS = 20_000;
/** A paired machine's replies running or waiting here at once, over all its links. */
export const MAX_GUEST_REPLIES = 4;
/** Addresses remembered by the attempt counters; the oldest are forgotten first. */
const MAX_TRACKED_ADDRESSES = 10_000;

/** Answers and closes: the socket goes once the answer is written, whether or not the other side closes its end. */
export function endThenDestroy(socket: Duplex, text: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(text);
  setTimeout(() => socket.destroy(), 2000).unref();
}

/**
 * Whom attempts are counted against: an IPv4 address, or an IPv6 /64 (one
 * machine usually holds a whole /64, and could otherwise pick a fresh address
 * per attempt).
 */
export function addressKey(address: string): string {
  const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!plain.includes(':')) return plain;
  // Link-local and unique local addresses are machines on this LAN, each with its own address (a /64 is the whole LAN).
  if (/^f[cde]/i.test(plain)) return plain.toLowerCase();
  const [head = '', tail] = plain.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Attempts per key in a sliding window; a bounded table that forgets the least recently seen keys, never all at once. */
export class AttemptCounter {
  private readonly hits = new Map<string, number[]>();
  constructor(
    private readonly windowMs = 60_000,
    private readonly maxKeys = MAX_TRACKED_ADDRESSES,
  ) {}
  /** Counts an attempt by `key`; false when there were already `limit` in the window. */
  take(key: string, limit: number, now = Date.now()): boolean {
    const recent = (this.hits.get(key) ?? []).filter((t) => now - t < this.windowMs);
    const allowed = recent.length < limit;
    if (allowed) recent.push(now);
    // Re-inserted: the Map's order is least recently seen first.
    this.hits.delete(key);
    this.hits.set(key, recent);
    while (this.hits.size > this.maxKeys) this.hits.delete(this.hits.keys().next().value!);
    return allowed;
  }
  count(key: string, now = Date.now()): number {
    return (this.hits.get(key) ?? []).filter((t) => now - t < this.windowMs).length;
  }
  size(): number {
    return this.hits.size;
  }
}

/** Strangers' connections, their bytes and their failed attempts, for SharingService. */
export class StrangerGate {
  private readonly pairAttempts = new AttemptCounter();
  private readonly failures = new AttemptCounter();
  /** TLS connections with no session yet: what each has sent, counted against a small limit. */
  private readonly unwelcomed = new Map<
    Socket,
    { key: string; bytes: number; onData: (chunk: Buffer) => void; deadline: ReturnType<typeof setTimeout> }
  >();
  private readonly unwelcomedBy = new Map<string, number>();
  /** Connections of any kind (a handshake not done yet included), per address. */
  private readonly connections = new Map<string, number>();

  /** A raw connection: false (and destroyed) when its address already has as many as it may. */
  connection(socket: Socket): boolean {
    const key = addressKey(socket.remoteAddress ?? 'unknown');
    const open = this.connections.get(key) ?? 0;
    if (open >= MAX_CONNECTIONS_PER_ADDRESS) {
      socket.destroy();
      return false;
    }
    this.connections.set(key, open + 1);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      const left = (this.connections.get(key) ?? 1) - 1;
      if (left > 0) this.connections.set(key, left);
      else this.connections.delete(key);
    });
    return true;
  }

  /** A failed attempt from `address` (a wrong key or secret, a malformed or oversized hello). */
  failed(address: string): void {
    this.failures.take(address, Number.POSITIVE_INFINITY);
  }

  /** Whether `address` failed too often this minute to be heard. */
  turnedAway(address: string): boolean {
    return this.failures.count(address) >= AUTH_FAILURES_PER_ADDRESS;
  }

  /** Counts a pairing attempt; false beyond the limit per address. */
  pairAttempt(address: string): boolean {
    return this.pairAttempts.take(address, PAIR_ATTEMPTS_PER_ADDRESS);
  }

  /**
   * A TLS connection, not yet welcomed: turned away if its address (or
   * everyone) already has too many such, and cut off (counted as a failure)
   * once it sends more than a hello could need. Nothing of a stranger's is
   * held beyond a few KiB.
   */
  admit(socket: Socket): void {
    const key = addressKey(socket.remoteAddress ?? 'unknown');
    const mine = this.unwelcomedBy.get(key) ?? 0;
    if (mine >= MAX_UNWELCOMED_PER_ADDRESS) {
      socket.destroy();
      return;
    }
    // Full in all: the stranger waiting longest goes, never the newcomer (who may be a paired machine),
    // so that a flood from many addresses can delay a link, not keep it out.
    if (this.unwelcomed.size >= MAX_UNWELCOMED_IN_ALL) this.unwelcomed.keys().next().value?.destroy();
    this.unwelcomedBy.set(key, mine + 1);
    const entry = {
      key,
      bytes: 0,
      onData: (chunk: Buffer) => void this.countUnwelcomed(socket, chunk.length),
      // Welcomed by then, or gone: whatever the stage (an upgrade request never finished, a refusal never read).
      deadline: setTimeout(() => socket.destroy(), UNWELCOMED_DEADLINE_MS),
    };
    entry.deadline.unref();
    this.unwelcomed.set(socket, entry);
    socket.on('data', entry.onData);
    socket.once('close', () => this.welcomed(socket));
  }

  /** Adds bytes a stranger sent; false (and the connection cut) past the limit. */
  private countUnwelcomed(socket: Socket, bytes: number): boolean {
    const entry = this.unwelcomed.get(socket);
    if (!entry) return true;
    entry.bytes += bytes;
    if (entry.bytes <= MAX_UNWELCOMED_BYTES) return true;
    this.failed(entry.key);
    this.welcomed(socket);
    socket.destroy();
    return false;
  }

  /** The connection is a paired machine's session (or tunnel), or gone: no longer counted as a stranger's. */
  welcomed(socket: Socket): void {
    const entry = this.unwelcomed.get(socket);
    if (!entry) return;
    this.unwelcomed.delete(socket);
    clearTimeout(entry.deadline);
    socket.off('data', entry.onData);
    const left = (this.unwelcomedBy.get(entry.key) ?? 1) - 1;
    if (left > 0) this.unwelcomedBy.set(entry.key, left);
    else this.unwelcomedBy.delete(entry.key);
  }
}
