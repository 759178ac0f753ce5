import { readdirSync, readFileSync } from 'node:fs';
import tls from 'node:tls';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from 'selfsigned';
import WebSocket from 'ws';
import { decodePairingCode, encodePairingCode } from '../../../electron/machines/pairing-code';
import { LINK_PATH } from '../../../electron/machines/link-protocol';
import { remoteModelRef, UPLOAD_CHUNK_BYTES, type MachineInfo } from '../../../shared/machines';
import type { ChatDelta } from '../../../shared/inference';
import { FAST_LINKS, inferenceHost, towerAndLaptop, type InferenceHost, type TowerAndLaptop } from '../../helpers/inference-host';
import { startFakeHub, type FakeHub } from '../../helpers/fake-hub';
import { suiteTempDirs } from '../../helpers/temp';
import { testModelPath, TEST_MODEL_SHA256 } from '../../helpers/test-model';
import { until } from '../../helpers/until';

// Hosts live for the whole file (tempDir folders go after each test).
const dataDir = suiteTempDirs('freehold-link-');

describe('paired machines over TLS links', () => {
  let hosts: TowerAndLaptop | undefined;
  let tower: InferenceHost; // shares its models
  let laptop: InferenceHost; // uses them
  let hub: FakeHub;
  let towerModelId: string;

  beforeAll(async () => {
    const model = readFileSync(testModelPath());
    hub = await startFakeHub([
      {
        id: 'acme/tiny-GGUF',
        author: 'acme',
        downloads: 10,
        likes: 1,
        lastModified: '2026-01-01T00:00:00.000Z',
        sha: 'a'.repeat(40),
        files: [{ path: 'tiny-Q8_0.gguf', data: model }],
      },
    ]);
    hosts = await towerAndLaptop(dataDir, hub.url);
    ({ tower, laptop } = hosts);
    // A copy, so the tower knows the file's hash (what fallback matches on).
    const [imported] = await tower.services.handlers['models.import']({ paths: [testModelPath()], mode: 'copy' });
    towerModelId = imported!.model!.id;
  }, 60_000);

  afterAll(async () => {
    await hosts?.close();
    await hub?.close();
  });

  const towerOnLaptop = () => laptop.services.machines.list().find((m) => m.name === 'tower');

  it('pairs with a code; lists the machine, its hardware and its models with a fit computed there', async () => {
    const status = tower.services.sharing.status();
    expect(status.listening).toBe(true);
    expect(status.code).toMatch(/^FH1-/);
    const code = decodePairingCode(status.code!);
    expect(code).toMatchObject({ host: '127.0.0.1', name: 'tower', fingerprint: status.fingerprint });

    const added = await laptop.services.handlers['machines.add']({ code: status.code! });
    expect(added.name).toBe('tower');
    const online = await until('tower online with its model', () => {
      const m = towerOnLaptop();
      return m?.state === 'online' && m.models.length > 0 ? m : undefined;
    });
    expect(online.hardware?.backend).toBe((await tower.services.inference.hardware()).backend);
    expect(online.hardware?.ramTotalBytes).toBeGreaterThan(0);
    expect(online.models[0]).toMatchObject({ modelId: towerModelId, sha256: TEST_MODEL_SHA256, machineName: 'tower' });
    expect(online.models[0]!.fit?.verdict).toBeTruthy();
    // The tower lists the laptop among its paired machines, connected.
    await until('laptop listed as connected', () =>
      tower.services.sharing.status().clients.find((c) => c.name === 'laptop' && c.connected),
    );
    // The code was used: the tower shows a new one.
    expect(tower.services.sharing.status().code).not.toBe(status.code);
  }, 30_000);

  it('a chat on the remote model streams, and the conversation is stored on the laptop only', async () => {
    const machine = towerOnLaptop()!;
    const conversation = await laptop.services.handlers['chats.create']({ modelId: remoteModelRef(machine.id, towerModelId) });
    const { reply } = await laptop.services.handlers['chats.send']({
      conversationId: conversation.id,
      parentId: null,
      text: 'Once upon a time',
    });
    expect(reply.error).toBeNull();
    expect(reply.status).toBe('complete');
    expect(reply.content.length).toBeGreaterThan(0);
    expect(reply.stats?.generatedTokens).toBeGreaterThan(0);
    // Streamed on the laptop's own bus as local replies are, under the reply's id.
    const streamed = laptop.deltas.filter((d: ChatDelta) => d.requestId === reply.id);
    expect(streamed.length).toBeGreaterThan(0);
    expect(streamed.flatMap((d) => d.parts.map((p) => p.text)).join('')).toBe(reply.content + reply.reasoning);
    // Stored here; nothing on the tower.
    expect((await laptop.services.handlers['chats.get']({ id: conversation.id })).messages.map((m) => m.role)).toEqual([
      'user',
      'assistant',
    ]);
    expect(await tower.services.handlers['chats.list'](undefined)).toEqual([]);
  }, 60_000);

  it('stop ends a remote reply there and keeps what came; regenerate runs there again', async () => {
    const machine = towerOnLaptop()!;
    const conversation = await laptop.services.handlers['chats.create']({
      modelId: remoteModelRef(machine.id, towerModelId),
      settings: { maxTokens: 100_000, temperature: 1 },
    });
    const sending = laptop.services.handlers['chats.send']({ conversationId: conversation.id, parentId: null, text: 'Once upon a time' });
    const detail = await until('a reply streaming', async () => {
      const d = await laptop.services.handlers['chats.get']({ id: conversation.id });
      return d.messages.find((m) => m.role === 'assistant') ? d : undefined;
    });
    const replyId = detail.messages.find((m) => m.role === 'assistant')!.id;
    await until('text streamed', () => laptop.deltas.some((d) => d.requestId === replyId));
    expect(await laptop.services.handlers['chats.stop']({ id: conversation.id })).toEqual({ stopped: true });
    const { reply } = await sending;
    expect(reply.status).toBe('complete');
    expect(reply.stats?.stopReason).toBe('abort');
    expect(reply.content.length).toBeGreaterThan(0);
    // The tower is free again: its queue is empty.
    await until('tower idle', () => tower.services.inference.status().queue.running === null);
    await laptop.services.handlers['chats.update']({ id: conversation.id, settings: { maxTokens: 16 } });
    const again = await laptop.services.handlers['chats.regenerate']({ conversationId: conversation.id, messageId: reply.id });
    expect(again.status).toBe('complete');
    expect(again.parentId).toBe(reply.parentId);
    expect(again.stats?.generatedTokens).toBeLessThanOrEqual(16);
  }, 60_000);

  it('a paired machine sees no paths, no data folder, no chats, no settings', async () => {
    const machine = towerOnLaptop()!;
    const backend = (
      laptop.services.machines as unknown as { backends: Map<string, { api(): Record<string, (i?: unknown) => Promise<unknown>> }> }
    ).backends.get(machine.id)!;
    const api = backend.api();
    const library = (await api['models.list']!()) as { models: Array<{ files: string[] }>; folders: unknown[] };
    expect(library.models.length).toBeGreaterThan(0);
    expect(library.models[0]!.files.every((f) => !f.includes('/') && !f.includes('\\'))).toBe(true);
    expect(((await api['app.info']!()) as { dataDir: string }).dataDir).toBe('');
    for (const [method, input] of [
      ['chats.list', undefined],
      ['settings.get', undefined],
      ['models.import', { paths: ['/etc/passwd'], mode: 'copy' }],
      ['folders.add', { path: '/' }],
      ['machines.sharing', undefined],
      ['models.reveal', { id: towerModelId }],
      // Paired machines never start tools on each other, nor see or change the MCP servers.
      ['tools.list', undefined],
      ['tools.add', { name: 'evil', config: { transport: 'stdio', command: '/bin/sh', args: ['-c', 'id'], env: {}, cwd: null } }],
      ['tools.import', { json: '{"mcpServers": {}}' }],
      ['tools.setEnabled', { name: 'weather', enabled: true }],
      ['chats.toolDecision', { conversationId: 'c', messageId: 'm', callId: 'call_1', decision: 'always' }],
    ] as const) {
      await expect(api[method]!(input), method).rejects.toMatchObject({ code: 'forbidden' });
    }
  });

  it('downloads onto the remote machine from the hub', async () => {
    const machine = towerOnLaptop()!;
    const job = await laptop.services.handlers['machines.download']({
      machineId: machine.id,
      repo: 'acme/tiny-GGUF',
      file: 'tiny-Q8_0.gguf',
    });
    expect(job.repo).toBe('acme/tiny-GGUF');
    await until('the download on the tower', () =>
      tower.services.library.snapshot().models.find((m) => m.source?.repo === 'acme/tiny-GGUF'),
    );
    // The laptop sees the job finish and the new model in the tower's list.
    await until('the laptop sees the new model', () =>
      towerOnLaptop()!.models.find((m) => m.name && m.sha256 === TEST_MODEL_SHA256 && m.modelId !== towerModelId),
    );
    expect(laptop.services.library.snapshot().models).toEqual([]);
  }, 60_000);

  it('imports a file onto the remote machine in pieces; a wrong file or a cut-off import leaves nothing there', async () => {
    const machine = towerOnLaptop()!;
    const call = laptop.services.handlers;
    const data = readFileSync(testModelPath());
    const before = tower.services.library.snapshot().models.length;
    const { uploadId } = await call['machines.uploadBegin']({ machineId: machine.id, name: 'my-story.gguf', sizeBytes: data.length });
    for (let offset = 0; offset < data.length; offset += UPLOAD_CHUNK_BYTES) {
      const piece = data.subarray(offset, offset + UPLOAD_CHUNK_BYTES);
      const { receivedBytes } = await call['machines.uploadChunk']({
        machineId: machine.id,
        uploadId,
        offset,
        data: piece.toString('base64'),
      });
      expect(receivedBytes).toBe(offset + piece.length);
    }
    const model = await call['machines.uploadFinish']({ machineId: machine.id, uploadId });
    expect(model.sha256).toBe(TEST_MODEL_SHA256);
    expect(model.files.every((f) => !f.includes('/'))).toBe(true); // a file name, not the tower's path
    expect(tower.services.library.snapshot().models).toHaveLength(before + 1);
    await until('the laptop lists it', () => towerOnLaptop()!.models.find((m) => m.modelId === model.id));

    // Not a GGUF: refused at the first piece, nothing stored.
    const modelsDir = tower.services.library.modelsDirectory();
    const entriesBefore = readdirSync(modelsDir).length;
    const bad = await call['machines.uploadBegin']({ machineId: machine.id, name: 'notes.gguf', sizeBytes: 8 });
    await expect(
      Promise.resolve()
        .then(() =>
          call['machines.uploadChunk']({
            machineId: machine.id,
            uploadId: bad.uploadId,
            offset: 0,
            data: Buffer.from('NOTGGUF!').toString('base64'),
          }),
        )
        .then(() => call['machines.uploadFinish']({ machineId: machine.id, uploadId: bad.uploadId })),
    ).rejects.toMatchObject({ message: expect.stringMatching(/not a GGUF/) });
    // Out of order, and more than announced: refused with the reason.
    const cut = await call['machines.uploadBegin']({ machineId: machine.id, name: 'cut.gguf', sizeBytes: data.length });
    await expect(
      Promise.resolve(call['machines.uploadChunk']({ machineId: machine.id, uploadId: cut.uploadId, offset: 5, data: 'AAAA' })),
    ).rejects.toMatchObject({ message: expect.stringMatching(/in order/) });
    await call['machines.uploadChunk']({
      machineId: machine.id,
      uploadId: cut.uploadId,
      offset: 0,
      data: data.subarray(0, 1000).toString('base64'),
    });
    // Finished early: nothing stored, and the pieces that came are removed.
    await expect(Promise.resolve(call['machines.uploadFinish']({ machineId: machine.id, uploadId: cut.uploadId }))).rejects.toMatchObject({
      message: expect.stringMatching(/Only 1000 of/),
    });
    // An id it did not begin is unknown to this peer.
    await expect(
      Promise.resolve(call['machines.uploadChunk']({ machineId: machine.id, uploadId: 'x'.repeat(24), offset: 0, data: 'AAAA' })),
    ).rejects.toMatchObject({
      code: 'not_found',
    });
    await until('partial copies removed', () => readdirSync(modelsDir).length === entriesBefore);
    expect(tower.services.library.snapshot().models).toHaveLength(before + 1);
  }, 60_000);

  it('refuses a certificate other than the paired one, whatever the network says', async () => {
    // A proxy on another port presents its own certificate and forwards to the tower.
    const pems = await generate([{ name: 'commonName', value: 'tower' }], { keyType: 'ec', curve: 'P-256' });
    const towerPort = Number(tower.services.sharing.status().address!.split(':').pop());
    const proxy = tls.createServer({ key: pems.private, cert: pems.cert }, (client) => {
      const upstream = tls.connect({ host: '127.0.0.1', port: towerPort, rejectUnauthorized: false });
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const port = (proxy.address() as AddressInfo).port;
    const real = decodePairingCode(tower.services.sharing.status().code!);
    const forged = encodePairingCode({ ...real, port });
    await expect(laptop.services.handlers['machines.add']({ code: forged })).rejects.toMatchObject({
      code: 'refused',
      message: expect.stringMatching(/different certificate/),
    });
    // The secret never reached the tower through the proxy: the real code still pairs.
    proxy.close();
  }, 30_000);

  it('refuses a wrong, a reused and a revoked secret, and rate-limits pairing', async () => {
    const third = await inferenceHost({ dataDir: dataDir(), host: 'web', share: { name: 'desk' }, machines: FAST_LINKS });
    try {
      const real = decodePairingCode(tower.services.sharing.status().code!);
      const wrong = encodePairingCode({ ...real, secret: 'x'.repeat(22) });
      await expect(third.services.handlers['machines.add']({ code: wrong })).rejects.toMatchObject({
        code: 'refused',
        message: expect.stringMatching(/wrong, expired or already used/),
      });
      const good = tower.services.sharing.status().code!;
      await third.services.handlers['machines.add']({ code: good });
      const fourth = await inferenceHost({ dataDir: dataDir(), host: 'web', share: { name: 'other' }, machines: FAST_LINKS });
      try {
        await expect(fourth.services.handlers['machines.add']({ code: good })).rejects.toMatchObject({ code: 'refused' });
      } finally {
        await fourth.services.close();
      }
      // Revoked on the tower: the desk's link is closed and refused from then on.
      const onDesk = () => third.services.machines.list().find((m) => m.name === 'tower');
      await until('desk online', () => onDesk()?.state === 'online');
      const client = tower.services.sharing.status().clients.find((c) => c.name === 'desk')!;
      await tower.services.handlers['machines.revoke']({ id: client.id });
      const refused = await until('desk refused', () => (onDesk()?.state === 'refused' ? onDesk() : undefined));
      expect(refused!.error).toMatch(/revoked/);
      third.services.machines.reconnect(refused!.id);
      await until(
        'still refused after a retry',
        () => onDesk()?.state === 'refused' && /revoked|does not know/.test(onDesk()!.error ?? ''),
      );
      // Pairing attempts beyond five a minute from one address are turned away.
      let limited = false;
      for (let i = 0; i < 8 && !limited; i++) {
        const attempt = await Promise.resolve(third.services.handlers['machines.add']({ code: wrong })).catch((e: { code: string }) => e);
        limited = (attempt as { code: string }).code === 'rate_limited';
      }
      expect(limited).toBe(true);
    } finally {
      await third.services.close();
    }
  }, 60_000);

  it('an unknown client gets nothing: a link without a valid key is refused before any call', async () => {
    const port = Number(tower.services.sharing.status().address!.split(':').pop());
    const ws = new WebSocket(`wss://127.0.0.1:${port}${LINK_PATH}`, { rejectUnauthorized: false });
    const answer = await new Promise<string>((resolve) => {
      ws.on('open', () => ws.send(JSON.stringify({ t: 'auth', v: 1, pairingId: 'a'.repeat(16), key: 'b'.repeat(43) })));
      ws.on('message', (data) => resolve(String(data)));
    });
    expect(JSON.parse(answer)).toMatchObject({ t: 'refused', code: 'refused' });
    await new Promise((r) => ws.on('close', r));
    // Garbage as the first message (not JSON, or not a hello) is answered with the reason, and the link closed.
    for (const garbage of [
      'not json at all',
      JSON.stringify({ t: 'pair', v: 1 }),
      JSON.stringify({ t: 'auth', v: 2, pairingId: 'x', key: 'y' }),
    ]) {
      const bad = new WebSocket(`wss://127.0.0.1:${port}${LINK_PATH}`, { rejectUnauthorized: false });
      const reply = await new Promise<string>((resolve) => {
        bad.on('open', () => bad.send(garbage));
        bad.on('message', (data) => resolve(String(data)));
      });
      expect(JSON.parse(reply), garbage).toMatchObject({ t: 'refused', code: 'bad_message', message: 'Not a Freehold link message.' });
      await new Promise((r) => bad.on('close', r));
    }
    // And a browser (which always sends Origin) cannot open a link at all.
    const fromPage = new WebSocket(`wss://127.0.0.1:${port}${LINK_PATH}`, { rejectUnauthorized: false, origin: 'https://evil.example' });
    await expect(new Promise((resolve, reject) => (fromPage.on('open', resolve), fromPage.on('error', reject)))).rejects.toThrow(/404/);
    // Plain requests get nothing.
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.on('connect', r));
    socket.destroy();
  });

  it('falls back to another machine with the same file when the preferred one is offline', async () => {
    const spare = await inferenceHost({
      dataDir: dataDir(),
      host: 'web',
      share: { enabled: true, host: '127.0.0.1', port: 0, name: 'spare' },
      machines: FAST_LINKS,
    });
    try {
      await spare.services.handlers['models.import']({ paths: [testModelPath()], mode: 'copy' });
      await laptop.services.handlers['machines.add']({ code: spare.services.sharing.status().code! });
      await until('spare online', () =>
        laptop.services.machines.list().find((m) => m.name === 'spare' && m.state === 'online' && m.models.length > 0),
      );
      const machine = towerOnLaptop()!;
      const conversation = await laptop.services.handlers['chats.create']({ modelId: remoteModelRef(machine.id, towerModelId) });
      await tower.services.sharing.setEnabled(false);
      await until('tower offline', () => towerOnLaptop()!.state === 'offline');
      const { reply } = await laptop.services.handlers['chats.send']({
        conversationId: conversation.id,
        parentId: null,
        text: 'Once upon a time',
      });
      expect(reply.status).toBe('complete');
      expect(reply.content.length).toBeGreaterThan(0);
      // Back on: the laptop reconnects by itself.
      await tower.services.sharing.setEnabled(true);
      const back = await until('tower back online', () => (towerOnLaptop()!.state === 'online' ? towerOnLaptop() : undefined));
      expect(back!.state).toBe('online');
    } finally {
      await spare.services.close();
    }
  }, 60_000);

  it('removing the machine revokes the pairing on the other side too', async () => {
    const before = tower.services.sharing.status().clients.length;
    const result = await laptop.services.handlers['machines.remove']({ id: 'tower' });
    expect(result).toEqual({ removed: true, revoked: true });
    expect(tower.services.sharing.status().clients.length).toBe(before - 1);
    expect(laptop.services.machines.list().map((m: MachineInfo) => m.name)).not.toContain('tower');
  });
});
