import { describe, expect, it } from 'vitest';
import { createHostClient } from '../../shared/rpc/client';
import { createMemoryPair } from '../../shared/rpc/memory';
import { createPeer } from '../../shared/rpc/peer';
import { MAX_MESSAGE_BYTES, MAX_TRUSTED_MESSAGE_BYTES } from '../../shared/rpc/protocol';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Echo {
  echo(text: string): Promise<string>;
  big(bytes: number): Promise<string>;
}

function pair(maxMessageBytes?: number) {
  const [a, b] = createMemoryPair();
  const errors: string[] = [];
  const limits = maxMessageBytes === undefined ? {} : { maxMessageBytes };
  createPeer<Record<string, never>, Echo>(b, {
    local: { echo: async (text: string) => text, big: async (bytes: number) => 'x'.repeat(bytes) },
    onProtocolError: (error) => errors.push(error.code),
    ...limits,
  });
  const caller = createPeer<Echo, Record<string, never>>(a, { local: {}, onProtocolError: (error) => errors.push(error.code), ...limits });
  return { caller, errors, sent: a };
}

describe('RPC message limits', () => {
  it('fails a call whose answer is over the limit, instead of leaving it waiting forever', async () => {
    const { caller, errors } = pair();
    const answer = caller.big(MAX_MESSAGE_BYTES + 100).then(
      () => 'answered',
      (error: { code?: string }) => error.code,
    );
    expect(await Promise.race([answer, sleep(2000).then(() => 'still waiting')])).toBe('payload_too_large');
    expect(errors).toEqual(['payload_too_large']);
  });

  it("carries messages over 1 MiB both ways on the worker's channel", async () => {
    const { caller, errors } = pair(MAX_TRUSTED_MESSAGE_BYTES);
    const text = 'y'.repeat(3 * 1024 * 1024);
    expect(await caller.echo(text)).toHaveLength(text.length);
    expect(errors).toEqual([]);
  });

  it('refuses to send a call over 1 MiB (counted as UTF-8) with a clear error, sending nothing', async () => {
    const [clientEnd, hostEnd] = createMemoryPair();
    const seen: unknown[] = [];
    hostEnd.onMessage((message) => seen.push(message));
    const client = createHostClient(clientEnd);
    // 400,000 characters, under 1 MiB as UTF-16 units and 1.14 MiB as UTF-8.
    const call = client.api['chats.send']({ conversationId: 'c', parentId: null, text: '漢'.repeat(400_000) });
    await expect(call).rejects.toMatchObject({
      code: 'payload_too_large',
      message: expect.stringMatching(/^Too large to send \(1\.14 MiB\)/),
    });
    await sleep(20);
    expect(seen).toEqual([]);
    expect(client.closed).toBe(false);
  });
});
