import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tls from 'node:tls';
import { freePort, waitForHealth } from '../../../electron/engines/rpc-helpers';
import { planSplit } from '../../../electron/engines/split-service';
import { TUNNEL_PATH, TUNNEL_PROTOCOL } from '../../../electron/machines/link-protocol';
import { ensureTestEngines } from '../../helpers/llama-engines';
import { inferenceHost } from '../../helpers/inference-host';
import { suiteTempDirs } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';
import { setString, setUint32, writeEditedGguf } from '../../helpers/gguf-edit';
import { until } from '../../helpers/until';

/** The greedy reply of a llama-server to one prompt (OpenAI API, temperature 0). */
async function greedy(url: string, apiKey: string | null, prompt: string, maxTokens: number): Promise<string> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ messages: [{ role: 'user', content: prompt }], temperature: 0, max_tokens: maxTokens, seed: 1 }),
  });
  const body = (await response.json()) as { choices: Array<{ message: { content: string } }> };
  return body.choices[0]!.message.content;
}

describe('planning a split', () => {
  const model = { modelId: 'm', name: 'Big', sizeBytes: 40 * 2 ** 30, layers: 40, trainContext: 8192, kvBytesPerToken: 40 * 4096 };
  it('gives layers in proportion to what each machine can give, within its cap, and says when it does not fit', () => {
    const plan = planSplit(model, [
      { machineId: null, name: 'laptop', budgetBytes: 11 * 2 ** 30, capBytes: null },
      { machineId: 't', name: 'tower', budgetBytes: 33 * 2 ** 30, capBytes: 33 * 2 ** 30 },
    ]);
    expect(plan.devices.map((d) => d.layers)).toEqual([10, 30]);
    expect(plan.fits).toBe(true);
    expect(plan.fitsOn).toBeNull();
    for (const d of plan.devices) expect(d.bytes).toBeLessThanOrEqual(d.budgetBytes);
    const tooSmall = planSplit(model, [
      { machineId: null, name: 'laptop', budgetBytes: 8 * 2 ** 30, capBytes: null },
      { machineId: 't', name: 'tower', budgetBytes: 16 * 2 ** 30, capBytes: 16 * 2 ** 30 },
    ]);
    expect(tooSmall.fits).toBe(false);
    expect(tooSmall.note).toMatch(/Does not fit: .*tower would need/);
    const adjusted = planSplit(
      model,
      [
        { machineId: null, name: 'laptop', budgetBytes: 30 * 2 ** 30, capBytes: null },
        { machineId: 't', name: 'tower', budgetBytes: 30 * 2 ** 30, capBytes: null },
      ],
      { layers: [25, 15] },
    );
    expect(adjusted.devices.map((d) => d.layers)).toEqual([25, 15]);
    expect(
      planSplit(model, [
        { machineId: null, name: 'laptop', budgetBytes: 60 * 2 ** 30, capBytes: null },
        { machineId: 't', name: 'tower', budgetBytes: 1, capBytes: null },
      ]).fitsOn,
    ).toBe('laptop');
    expect(
      planSplit(
        model,
        [
          { machineId: null, name: 'a', budgetBytes: 30 * 2 ** 30, capBytes: null },
          { machineId: 't', name: 'b', budgetBytes: 30 * 2 ** 30, capBytes: null },
        ],
        { layers: [10, 10] },
      ).note,
    ).toMatch(/add up to 20; the model has 40/);
  });
});

/**
 * A deeper model than stories260K, made by the test: its tokenizer and
 * embeddings, and `layers` transformer blocks shaped like its first, with
 * random weights (seeded; norms at 1), so that there are layers enough to split
 * unevenly. Its text is nonsense, but the same nonsense on one machine or many.
 */
function writeDeepModel(target: string, layers: number): void {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  writeEditedGguf(testModelPath(), target, (gguf) => {
    const arch = 'llama';
    const template = gguf.tensors.filter((t) => t.name.startsWith('blk.0.'));
    gguf.tensors = gguf.tensors.filter((t) => !t.name.startsWith('blk.'));
    for (let layer = 0; layer < layers; layer++) {
      for (const t of template) {
        const data = Buffer.alloc(t.data.length);
        const norm = t.name.endsWith('_norm.weight');
        for (let i = 0; i + 4 <= data.length; i += 4) data.writeFloatLE(norm ? 1 : random() * 0.08, i);
        gguf.tensors.push({ name: t.name.replace('blk.0.', `blk.${layer}.`), dims: t.dims, type: t.type, data });
      }
    }
    setUint32(gguf, `${arch}.block_count`, layers);
    setString(gguf, 'general.name', `deep-${layers}`);
  });
}

describe('a model split across two machines with llama.cpp RPC over paired links', () => {
  const dir = suiteTempDirs('freehold-split-');
  let engines: Awaited<ReturnType<typeof ensureTestEngines>>;
  let laptop: Awaited<ReturnType<typeof inferenceHost>>;
  let tower: Awaited<ReturnType<typeof inferenceHost>>;
  let modelId: string;
  let towerId: string;

  beforeAll(async () => {
    engines = await ensureTestEngines();
    tower = await inferenceHost({
      dataDir: dir(),
      host: 'web',
      hostEnv: engines.env,
      share: { enabled: true, host: '127.0.0.1', port: 0, name: 'tower' },
    });
    laptop = await inferenceHost({
      dataDir: dir(),
      host: 'web',
      hostEnv: engines.env,
      share: { name: 'laptop' },
      api: { enabled: true, port: 0 },
    });
    const [imported] = await laptop.services.handlers['models.import']({ paths: [testModelPath()], mode: 'reference' });
    modelId = imported!.model!.id;
    towerId = (await laptop.services.handlers['machines.add']({ code: tower.services.sharing.status().code! })).id;
    await until('tower online', () => laptop.services.machines.list().find((m) => m.id === towerId && m.state === 'online' && m.hardware));
  }, 15 * 60_000);

  afterAll(async () => {
    await laptop?.services.close();
    await tower?.services.close();
  });

  it('engines: the build from the bundled source is found, with the reason', async () => {
    const info = await laptop.services.handlers['engines.status'](undefined);
    expect(info.found?.source).toBe('build');
    expect(info.found?.reason).toMatch(/Built here from llama\.cpp/);
    expect(info.attempts.find((a) => a.source === 'download')?.reason).toMatch(/sha256/);
  });

  it(
    'loads the split, and its greedy text equals the same model on one machine',
    async () => {
      const plan = await laptop.services.handlers['split.plan']({ modelId, machineIds: ['this', towerId] });
      expect(plan.devices.map((d) => d.name)).toEqual(['laptop', 'tower']);
      expect(plan.devices.reduce((a, d) => a + d.layers, 0)).toBe(plan.totalLayers);
      expect(plan.fits).toBe(true);
      // Make both machines hold layers, whatever their free memory.
      const half = Math.ceil(plan.totalLayers / 2);
      const status = await laptop.services.handlers['split.load']({
        modelId,
        machineIds: ['this', towerId],
        layers: [half, plan.totalLayers - half],
      });
      expect(status.state).toBe('running');
      const split = await until('the split machine online', () =>
        laptop.services.machines.list().find((m) => m.id === 'split' && m.state === 'online' && m.models.length),
      );
      expect(split.name).toBe('split: laptop + tower');
      // Tower's layers went to it through the link: at least its share of the weights.
      const [traffic] = laptop.services.split.traffic();
      expect(traffic!.machineId).toBe(towerId);
      expect(traffic!.sent).toBeGreaterThan(((plan.totalLayers - half) / plan.totalLayers) * plan.sizeBytes * 0.5);
      let onOneText: string;
      const viaSplit = await greedy(
        split.address,
        (laptop.services.machines as unknown as { ephemeral: Array<{ apiKey: string }> }).ephemeral[0]!.apiKey,
        'Once upon a time',
        48,
      );

      // The same model on one machine: llama-server alone, same file, same settings.
      const port = await freePort();
      const alone = spawn(
        engines.llamaServer,
        ['-m', testModelPath(), '-c', String(plan.contextSize), '-t', '1', '--host', '127.0.0.1', '--port', String(port), '--no-webui'],
        { stdio: 'ignore' },
      );
      try {
        await waitForHealth(port, 60_000, () => (alone.exitCode !== null ? 'llama-server exited' : null));
        const onOne = await greedy(`http://127.0.0.1:${port}`, null, 'Once upon a time', 48);
        expect(viaSplit.length).toBeGreaterThan(0);
        expect(viaSplit).toBe(onOne);
        onOneText = onOne;
      } finally {
        alone.kill('SIGKILL');
      }

      // The local OpenAI-compatible API serves it too, under its own id.
      const api = laptop.services.api.status();
      const headers = { Authorization: `Bearer ${api.key}`, 'Content-Type': 'application/json' };
      const listed = (await (await fetch(`${api.url}/models`, { headers })).json()) as { data: Array<{ id: string }> };
      expect(listed.data.map((m) => m.id)).toContain(`split:${plan.modelName}`);
      const viaApi = (await (
        await fetch(`${api.url}/chat/completions`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            model: `split:${plan.modelName}`,
            messages: [{ role: 'user', content: 'Once upon a time' }],
            temperature: 0,
            max_tokens: 48,
            seed: 1,
          }),
        })
      ).json()) as { choices: Array<{ message: { content: string } }> };
      expect(viaApi.choices[0]!.message.content).toBe(onOneText);

      // A chat on it streams through the app like any machine's model.
      const conversation = await laptop.services.handlers['chats.create']({
        modelId: status.ref!,
        settings: { maxTokens: 16, temperature: 0 },
      });
      const { reply } = await laptop.services.handlers['chats.send']({
        conversationId: conversation.id,
        parentId: null,
        text: 'Once upon a time',
      });
      expect(reply.error).toBeNull();
      expect(reply.content.length).toBeGreaterThan(0);
    },
    5 * 60_000,
  );

  it('the RPC helper is reachable only through the link: 127.0.0.1 only, and no tunnel without the pairing key', async () => {
    const pool = (tower.services as unknown as { split: { deps: { pool: { helpers: Map<string, { port: number }> } } } }).split.deps.pool;
    const [helper] = [...pool.helpers.values()];
    expect(helper).toBeDefined();
    // Bound to 127.0.0.1: the machine's other addresses are refused.
    const lan = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (lan) {
      const refused = await new Promise<string>((resolve) => {
        const socket = net.connect({ host: lan, port: helper!.port });
        socket.once('connect', () => (socket.destroy(), resolve('connected')));
        socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');
    }
    // A tunnel with a key the tower does not know is refused before any byte reaches the helper.
    const port = Number(tower.services.sharing.status().address!.split(':').pop());
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () =>
        socket.write(
          `GET ${TUNNEL_PATH} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_PROTOCOL}\r\nX-Freehold-Pairing: ${'a'.repeat(16)}\r\nX-Freehold-Key: ${'b'.repeat(43)}\r\n\r\n`,
        ),
      );
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toMatch(/does not know this machine/);
  });

  it(
    'a deeper model made by the test (24 random layers), split 16 + 8: the same greedy text as on one machine',
    async () => {
      const file = path.join(dir(), 'deep-24.gguf');
      writeDeepModel(file, 24);
      const [imported] = await laptop.services.handlers['models.import']({ paths: [file], mode: 'reference' });
      expect(imported!.ok).toBe(true);
      const deepId = imported!.model!.id;
      const plan = await laptop.services.handlers['split.plan']({ modelId: deepId, machineIds: ['this', towerId], layers: [16, 8] });
      expect(plan.totalLayers).toBe(24);
      expect(plan.fits).toBe(true);
      const status = await laptop.services.handlers['split.load']({ modelId: deepId, machineIds: ['this', towerId], layers: [16, 8] });
      expect(status.state).toBe('running');
      const split = await until('the split machine online', () =>
        laptop.services.machines.list().find((m) => m.id === 'split' && m.state === 'online' && m.models.length),
      );
      const key = (laptop.services.machines as unknown as { ephemeral: Array<{ apiKey: string }> }).ephemeral[0]!.apiKey;
      const viaSplit = await greedy(split.address, key, 'Once upon a time', 32);
      const [traffic] = laptop.services.split.traffic();
      expect(traffic!.sent).toBeGreaterThan((8 / 24) * plan.sizeBytes * 0.5);
      const port = await freePort();
      const alone = spawn(
        engines.llamaServer,
        ['-m', file, '-c', String(plan.contextSize), '-t', '1', '--host', '127.0.0.1', '--port', String(port), '--no-webui'],
        { stdio: 'ignore' },
      );
      try {
        await waitForHealth(port, 60_000, () => (alone.exitCode !== null ? 'llama-server exited' : null));
        expect(viaSplit.length).toBeGreaterThan(0);
        expect(viaSplit).toBe(await greedy(`http://127.0.0.1:${port}`, null, 'Once upon a time', 32));
      } finally {
        alone.kill('SIGKILL');
      }
      await laptop.services.handlers['split.unload'](undefined);
    },
    5 * 60_000,
  );

  it('unloads: helpers and llama-server stop, the split machine goes from the list', async () => {
    const status = await laptop.services.handlers['split.unload'](undefined);
    expect(status.state).toBe('stopped');
    expect(laptop.services.machines.list().some((m) => m.id === 'split')).toBe(false);
    const pool = (tower.services as unknown as { split: { deps: { pool: { helpers: Map<string, unknown> } } } }).split.deps.pool;
    await until('tower helper stopped', () => pool.helpers.size === 0);
  });

  it('a helper killed mid-reply fails the reply with its machine name, keeps the text, and the app goes on', async () => {
    const plan = await laptop.services.handlers['split.plan']({ modelId, machineIds: ['this', towerId] });
    const status = await laptop.services.handlers['split.load']({
      modelId,
      machineIds: ['this', towerId],
      layers: [Math.ceil(plan.totalLayers / 2), Math.floor(plan.totalLayers / 2)],
    });
    expect(status.state).toBe('running');
    await until('the split machine online', () =>
      laptop.services.machines.list().find((m) => m.id === 'split' && m.state === 'online' && m.models.length),
    );
    const conversation = await laptop.services.handlers['chats.create']({
      modelId: status.ref!,
      settings: { maxTokens: 100_000, temperature: 1 },
    });
    laptop.deltas.length = 0;
    const sending = laptop.services.handlers['chats.send']({ conversationId: conversation.id, parentId: null, text: 'Once upon a time' });
    await until('text streaming', () => laptop.deltas.some((d) => d.parts.some((p) => p.text.length > 0)), 60_000);
    const pool = (
      tower.services as unknown as {
        split: { deps: { pool: { helpers: Map<string, { tether: { child: { kill(s: string): void } } }> } } };
      }
    ).split.deps.pool;
    [...pool.helpers.values()][0]!.tether.child.kill('SIGKILL');
    const { reply } = await sending;
    expect(reply.status).toBe('failed');
    expect(reply.error).toMatch(/^tower went away mid-reply/);
    expect(reply.content.length).toBeGreaterThan(0);
    const after = await until('split failed', () =>
      laptop.services.split.current().state === 'failed' ? laptop.services.split.current() : undefined,
    );
    expect(after.detail).toMatch(/tower went away/);
    // It offers to go on where the model fits: here, this machine alone.
    expect(after.fallback).toEqual({ kind: 'local', modelId, name: 'laptop' });
    expect(laptop.services.machines.list().some((m) => m.id === 'split')).toBe(false);
    // The app goes on: the same model runs here alone.
    const local = await laptop.services.handlers['chats.create']({ modelId, settings: { maxTokens: 8 } });
    const again = await laptop.services.handlers['chats.send']({ conversationId: local.id, parentId: null, text: 'Hello' });
    expect(again.reply.status).toBe('complete');
  }, 120_000);
});
