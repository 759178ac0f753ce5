/** `freehold api keys add|list|revoke [--json]` on a data folder. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../electron/cli/cli';
import { ApiKeyring } from '../../../electron/api/api-keys';
import type { ApiKeyInfo, CreatedApiKey } from '../../../shared/api';
import { tempDir } from '../../helpers/temp';

async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) }, 'freehold');
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('freehold api keys', () => {
  it('adds a key and prints it once with the note; lists keys with their use, never a key; revokes by name or id', async () => {
    const dir = tempDir();
    const added = await cli('api', 'keys', 'add', 'alice', '--data-dir', dir);
    expect(added.code).toBe(0);
    const [first, secret, note] = added.out.split('\n');
    expect(first).toBe('Added the key "alice":');
    expect(secret).toMatch(/^fh-[\w-]{43}$/);
    expect(note).toBe('Copy it now: it will not be shown again (Freehold keeps only its hash).');
    expect(readFileSync(path.join(dir, 'api-keys.json'), 'utf8')).not.toContain(secret!);

    // A name with spaces, for scripts.
    const json = await cli('api', 'keys', 'add', 'ci', 'runner', '--json', '--data-dir', dir);
    expect(json.code).toBe(0);
    const created = JSON.parse(json.out) as CreatedApiKey;
    expect(created).toMatchObject({
      key: { name: 'ci runner', requests: 0, tokens: 0, isDefault: false },
      secret: expect.stringMatching(/^fh-/),
    });

    // The key works for the API that a running Freehold serves from the same folder.
    const keyring = new ApiKeyring(dir);
    await keyring.open();
    expect(await keyring.identify(secret!)).toMatchObject({ name: 'alice' });
    const alice = keyring.list().find((k) => k.name === 'alice')!;
    keyring.recordUse(alice.id, { requests: 3, tokens: 1234 });
    await keyring.close();

    const list = await cli('api', 'keys', 'list', '--data-dir', dir);
    expect(list.code).toBe(0);
    const lines = list.out.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+KEY\s+CREATED\s+LAST USED\s+REQUESTS\s+TOKENS$/);
    expect(lines.map((l) => l.split(/\s{2,}/)[0])).toEqual(['NAME', 'default', 'alice', 'ci runner']);
    expect(lines[2]).toMatch(
      new RegExp(
        `^alice\\s+fh-${secret!.slice(3, 9)}…\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+3\\s+1234$`,
      ),
    );
    expect(lines[3]).toMatch(/\snever\s+0\s+0$/);
    expect(list.out).not.toContain(secret);
    expect(list.out).not.toContain(created.secret);

    const listed = JSON.parse((await cli('api', 'keys', 'list', '--json', '--data-dir', dir)).out) as ApiKeyInfo[];
    expect(listed.map((k) => [k.name, k.requests, k.tokens])).toEqual([
      ['default', 0, 0],
      ['alice', 3, 1234],
      ['ci runner', 0, 0],
    ]);
    expect(JSON.stringify(listed)).not.toContain(secret);

    const byName = await cli('api', 'keys', 'revoke', 'ALICE', '--data-dir', dir);
    expect(byName).toMatchObject({
      code: 0,
      out: 'Revoked "alice": requests with it get 401 from now on, and a running Freehold ends its open streams.',
    });
    const byId = await cli('api', 'keys', 'revoke', created.key.id, '--json', '--data-dir', dir);
    expect(byId.code).toBe(0);
    expect(JSON.parse(byId.out)).toMatchObject({ revoked: { name: 'ci runner' }, keys: [{ name: 'default' }] });
    const after = new ApiKeyring(dir);
    await after.open();
    expect(await after.identify(secret!)).toBeNull();
    await after.close();
  });

  it('says why it refuses: a usage error (2) for a bad or missing name, a failure (1) for an unknown or default key', async () => {
    const dir = tempDir();
    const none = await cli('api', '--data-dir', dir);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/api needs "keys" and an action/);
    expect(none.err).toMatch(/^Usage: freehold api keys add <name> \| list \| revoke <name\|id> \[--json\]$/m);
    expect((await cli('api', 'keys', '--data-dir', dir)).err).toMatch(/api keys needs an action: add, list or revoke/);
    expect((await cli('api', 'keys', 'rotate', '--data-dir', dir)).err).toMatch(/unknown api keys action "rotate"/);
    expect((await cli('api', 'keys', 'add', '--data-dir', dir)).code).toBe(2);
    const bad = await cli('api', 'keys', 'add', 'a/b', '--data-dir', dir);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/A key name is 1 to 60 characters/);

    expect((await cli('api', 'keys', 'add', 'bob', '--data-dir', dir)).code).toBe(0);
    const twice = await cli('api', 'keys', 'add', 'Bob', '--data-dir', dir);
    expect(twice).toMatchObject({ code: 1, err: 'freehold api: There is already a key named "Bob"; choose another name.' });
    const unknown = await cli('api', 'keys', 'revoke', 'nobody', '--data-dir', dir);
    expect(unknown).toMatchObject({
      code: 1,
      err: 'freehold api: no API key is named "nobody" or has that id (see freehold api keys list).',
    });
    const builtIn = await cli('api', 'keys', 'revoke', 'default', '--data-dir', dir);
    expect(builtIn.code).toBe(1);
    expect(builtIn.err).toMatch(/The key named "default" cannot be revoked, only replaced/);

    const help = await cli('--help');
    expect(help.out).toMatch(/^ {2}api keys add <name> \| list \| revoke <name\|id> \[--json\]\s+The local API's named keys/m);
  });
});
