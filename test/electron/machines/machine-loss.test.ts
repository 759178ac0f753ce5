import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHostServices } from '../../../electron/services/host-services';
import { remoteModelRef } from '../../../shared/machines';
import { inferenceHost } from '../../helpers/inference-host';
import { startServeProcess, type ServeProcess } from '../../helpers/serve-process';
import { suiteTempDirs } from '../../helpers/temp';
import { testModelPath } from '../../helpers/test-model';
import { until } from '../../helpers/until';

/**
 * The machine that shares is a real `serve --share` process, killed (SIGKILL)
 * and frozen (SIGSTOP) mid-reply: the reply fails within seconds with the
 * machine's name, its partial text is kept, and the link comes back by itself.
 */
describe('a paired machine that goes away mid-reply', () => {
  const dir = suiteTempDirs('freehold-machine-loss-');
  let towerDir: string;
  let tower: ServeProcess;
  let laptop: Awaited<ReturnType<typeof inferenceHost>>;
  let modelId: string;

  const startTower = async () => {
    tower = await startServeProcess([
      '--port',
      '0',
      '--data-dir',
      towerDir,
      '--share',
      '--share-host',
      '127.0.0.1',
      '--share-port',
      '0',
      '--name',
      'tower',
    ]);
    await until('the pairing code', () => /Pairing code: (FH1-\S+)/.exec(tower.output()));
  };

  beforeAll(async () => {
    towerDir = dir('freehold-tower-');
    // The tower's library and settings, made before it starts.
    const prepare = await createHostServices({ dataDir: towerDir, host: 'cli', log: () => undefined });
    const [imported] = await prepare.handlers['models.import']({ paths: [testModelPath()], mode: 'reference' });
    modelId = imported!.model!.id;
    await prepare.settings.update({ inference: { threads: 1 } });
    await prepare.close();
    await startTower();
    laptop = await inferenceHost({
      dataDir: dir('freehold-laptop-'),
      host: 'web',
      share: { name: 'laptop' },
      machines: { timings: { heartbeatMs: 250, deadAfterMs: 2000, backoffMs: [250, 500], connectTimeoutMs: 3000, refreshMs: 1000 } },
    });
    const code = /Pairing code: (FH1-\S+)/.exec(tower.output())![1]!;
    await laptop.services.handlers['machines.add']({ code });
    await until('tower online', () => laptop.services.machines.list().find((m) => m.state === 'online' && m.models.length > 0));
  }, 90_000);

  afterAll(async () => {
    tower?.child.kill('SIGKILL');
    await laptop?.services.close();
  });

  async function replyCutBy(signal: NodeJS.Signals) {
    const machine = laptop.services.machines.list()[0]!;
    const conversation = await laptop.services.handlers['chats.create']({
      modelId: remoteModelRef(machine.id, modelId),
      settings: { maxTokens: 100_000, temperature: 1 },
    });
    const sending = laptop.services.handlers['chats.send']({ conversationId: conversation.id, parentId: null, text: 'Once upon a time' });
    // Some of the reply has arrived here: now the tower goes away.
    await until(
      'the first streamed text',
      () => laptop.deltas.some((d) => d.parts.some((p) => p.text.length > 0) && d.requestId !== ''),
      60_000,
    );
    const started = Date.now();
    tower.child.kill(signal);
    const { reply } = await sending;
    return { reply, afterMs: Date.now() - started, stored: await laptop.services.handlers['chats.get']({ id: conversation.id }) };
  }

  it('killed: the reply fails with the machine name, keeps its text, and the link returns with the machine', async () => {
    laptop.deltas.length = 0;
    const { reply, stored } = await replyCutBy('SIGKILL');
    expect(reply.status).toBe('failed');
    expect(reply.error).toMatch(/tower closed the connection/);
    expect(reply.content.length).toBeGreaterThan(0);
    expect(stored.messages.find((m) => m.id === reply.id)!.content).toBe(reply.content);
    const offline = await until('tower offline', () => laptop.services.machines.list().find((m) => m.state === 'offline'));
    expect(offline.retryAt).not.toBeNull();
    await tower.exited;
    await startTower();
    await until('tower online again', () => laptop.services.machines.list().find((m) => m.state === 'online'));
  }, 120_000);

  it('frozen: the reply fails within seconds (no answer to the heartbeat), and the link returns when it wakes', async () => {
    laptop.deltas.length = 0;
    const { reply, afterMs } = await replyCutBy('SIGSTOP');
    try {
      expect(reply.status).toBe('failed');
      expect(reply.error).toMatch(/tower stopped answering/);
      expect(reply.content.length).toBeGreaterThan(0);
      expect(afterMs).toBeLessThan(15_000); // the heartbeat's 2 s, with room for a loaded machine
    } finally {
      tower.child.kill('SIGCONT');
    }
    await until('tower online again', () => laptop.services.machines.list().find((m) => m.state === 'online'));
  }, 120_000);
});
