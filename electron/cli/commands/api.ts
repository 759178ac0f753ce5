import { apiKeyNameSchema, type ApiKeyInfo } from '../../../shared/api';
import { findKey } from '../../api/api-keys';
import { UsageError, type Command } from '../command';

const day = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 16) : 'never');

function table(keys: ApiKeyInfo[]): string[] {
  const rows = [
    ['NAME', 'KEY', 'CREATED', 'LAST USED', 'REQUESTS', 'TOKENS'],
    ...keys.map((k) => [k.name, `fh-${k.prefix}…`, day(k.createdAt), day(k.lastUsedAt), String(k.requests), String(k.tokens)]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => (column >= 4 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * `freehold api keys add|list|revoke`: the local API's named keys, in the data
 * folder that a running Freehold follows (a key revoked here is refused there
 * at once, and its open streams end within a second).
 */
export const apiCommand: Command = {
  summary: "The local API's named keys: add one (shown once), list them with their use, revoke one",
  usage: 'api keys add <name> | list | revoke <name|id> [--json]',
  async run({ io, json, args, services, program }) {
    const [group, action, ...rest] = args;
    if (group !== 'keys')
      throw new UsageError(
        group === undefined ? 'api needs "keys" and an action: add, list or revoke.' : `unknown api command "${group}".`,
      );
    if (action === 'list') {
      if (rest.length) throw new UsageError('api keys list takes no arguments.');
      const keys = await (await services()).handlers['api.keys.list'](undefined);
      if (json) io.out(JSON.stringify(keys));
      else for (const line of table(keys)) io.out(line);
      return 0;
    }
    if (action === 'add') {
      const name = rest.join(' ').trim();
      if (!name) throw new UsageError('api keys add needs a name for the key (who or what will use it).');
      const valid = apiKeyNameSchema.safeParse(name);
      if (!valid.success) throw new UsageError(valid.error.issues[0]!.message);
      const created = await (await services()).handlers['api.keys.create']({ name });
      if (json) io.out(JSON.stringify(created));
      else {
        io.out(`Added the key "${created.key.name}":`);
        io.out(created.secret);
        io.out('Copy it now: it will not be shown again (Freehold keeps only its hash).');
      }
      return 0;
    }
    if (action === 'revoke') {
      const ref = rest.join(' ').trim();
      if (!ref) throw new UsageError(`api keys revoke needs the key's name or id (see ${program} api keys list).`);
      const host = await services();
      const key = findKey(await host.handlers['api.keys.list'](undefined), ref);
      if (!key) {
        io.err(`freehold api: no API key is named "${ref}" or has that id (see ${program} api keys list).`);
        return 1;
      }
      const keys = await host.handlers['api.keys.revoke']({ id: key.id });
      if (json) io.out(JSON.stringify({ revoked: key, keys }));
      else io.out(`Revoked "${key.name}": requests with it get 401 from now on, and a running Freehold ends its open streams.`);
      return 0;
    }
    throw new UsageError(action === undefined ? 'api keys needs an action: add, list or revoke.' : `unknown api keys action "${action}".`);
  },
};
