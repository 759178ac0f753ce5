import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHostClient } from '../../shared/rpc/client';
import { createMemoryPair } from '../../shared/rpc/memory';
import { MAX_MESSAGE_BYTES } from '../../shared/rpc/protocol';
import { RpcError } from '../../shared/errors';
import type { Transport } from '../../shared/rpc/transport';
import { serveConnection } from '../../electron/platform/serve-connection';
import { createHostServices, type HostServices } from '../../electron/services/host-services';
import { tempDir } from '../helpers/temp';

let services: HostServices | undefined;

afterEach(async () => {
  await services?.close();
  services = undefined;
  vi.useRealTimers();
});

async function connect() {
  services = await createHostServices({ dataDir: tempDir(), host: 'web' });
  const [clientEnd, hostEnd] = createMemoryPair();
  const protocolErrors: RpcError[] = [];
  serveConnection(hostEnd, services.handlers, services.events, { onProtocolError: (e) => protocolErrors.push(e) });
  return { client: createHostClient(clientEnd), clientEnd, hostEnd, protocolErrors, services };
}

/** Sends a raw message from the client end and collects what the host answers (waiting for a reply when one is due). */
async function rawExchange(end: Transport, message: unknown, expectReply = true): Promise<unknown[]> {
  const received: unknown[] = [];
  const off = end.onMessage((m) => received.push(m));
  end.send(message);
  const deadline = Date.now() + (expectReply ? 5000 : 20);
  while (Date.now() < deadline && (!expectReply || received.length === 0)) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 10));
  off();
  return received;
}

describe('RPC over the in-memory transport', () => {
  it('calls a method and returns its typed result', async () => {
    const { client } = await connect();
    const info = await client.api['app.info']();
    expect(info.name).toBe('Freehold');
    expect(info.host).toBe('web');
    const settings = await client.api['settings.get']();
    expect(settings.inference.backend).toBe('auto');
  });

  it('validates input at the boundary and answers with a typed error', async () => {
    const { client } = await connect();
    const call = client.api['settings.update']({ inference: { threads: -3 } });
    await expect(call).rejects.toBeInstanceOf(RpcError);
    await expect(call).rejects.toMatchObject({ code: 'invalid_input' });
    // Unknown keys are refused too, not silently dropped.
    await expect(client.api['settings.update']({ appearance: { theme: 'dark', font: 'huge' } } as never)).rejects.toMatchObject({
      code: 'invalid_input',
    });
    // Nothing was changed by the refused calls.
    expect((await client.api['settings.get']()).inference.threads).toBe(0);
  });

  it('refuses unknown methods, including names that exist on every object', async () => {
    const { clientEnd } = await connect();
    for (const name of ['no.such.method', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const replies = await rawExchange(clientEnd, { t: 'q', m: name, a: [], i: `id-${name}` });
      expect(replies).toEqual([{ t: 's', i: `id-${name}`, e: { code: 'unknown_method', message: expect.any(String) } }]);
    }
  });

  it('answers malformed messages with a typed error when it can, and never throws', async () => {
    const { clientEnd, client, protocolErrors } = await connect();
    const bad: unknown[] = [null, 42, 'text', [], { t: 'x' }, { t: 'q' }, { t: 'q', m: 'app.info', a: 'not-an-array', i: 'b1' }];
    for (const message of bad) await rawExchange(clientEnd, message, false);
    expect(protocolErrors.length).toBe(bad.length);
    expect(protocolErrors.every((e) => e.code === 'bad_message')).toBe(true);
    const replies = await rawExchange(clientEnd, { t: 'q', m: 'app.info', a: 'nope', i: 'b2' });
    expect(replies).toEqual([{ t: 's', i: 'b2', e: { code: 'bad_message', message: 'Malformed RPC message.' } }]);
    // The connection still works afterwards.
    expect((await client.api['app.info']()).name).toBe('Freehold');
  });

  it('refuses an oversized payload', async () => {
    const { clientEnd } = await connect();
    const huge = 'x'.repeat(MAX_MESSAGE_BYTES + 10);
    const replies = await rawExchange(clientEnd, { t: 'q', m: 'app.dismissNotice', a: [{ id: huge }], i: 'big' });
    expect(replies).toEqual([{ t: 's', i: 'big', e: expect.objectContaining({ code: 'payload_too_large' }) }]);
  });

  it('fails a call whose input could not cross a process boundary, at the caller, and keeps the connection', async () => {
    const { client } = await connect();
    const call = client.api['settings.update']({ appearance: { theme: (() => 'dark') as never } });
    await expect(call).rejects.toThrow(/could not be cloned/);
    expect((await client.api['app.info']()).name).toBe('Freehold');
  });

  it('pushes events to every connected client', async () => {
    const { client, services: host } = await connect();
    const [secondEnd, secondHost] = createMemoryPair();
    serveConnection(secondHost, host.handlers, host.events);
    const second = createHostClient(secondEnd);
    const seen: string[] = [];
    client.on('onSettingsChanged', (s) => seen.push(`first:${s.appearance.theme}`));
    second.on('onSettingsChanged', (s) => seen.push(`second:${s.appearance.theme}`));
    await client.api['settings.update']({ appearance: { theme: 'dark' } });
    await expect.poll(() => seen.length).toBe(2);
    expect(seen.sort()).toEqual(['first:dark', 'second:dark']);
  });

  it('does not time out a long call while its work continues', async () => {
    const { client, services: host } = await connect();
    vi.useFakeTimers();
    let finish: (() => void) | undefined;
    const original = host.handlers['system.info'];
    host.handlers['system.info'] = () =>
      new Promise((resolve) => {
        finish = () => resolve(original(undefined) as never);
      });
    const call = client.api['system.info']();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    let settled = false;
    void call.then(
      () => (settled = true),
      () => (settled = true),
    );
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(false);
    vi.useRealTimers();
    finish?.();
    await expect(call).resolves.toMatchObject({ logicalCores: expect.any(Number) });
  });

  it('fails pending calls with "disconnected" when the connection drops', async () => {
    const { client, services: host, hostEnd } = await connect();
    host.handlers['system.info'] = () => new Promise(() => undefined);
    const call = client.api['system.info']();
    hostEnd.close('host went away');
    await expect(call).rejects.toMatchObject({ code: 'disconnected' });
    await expect(client.api['app.info']()).rejects.toMatchObject({ code: 'disconnected' });
  });
});
