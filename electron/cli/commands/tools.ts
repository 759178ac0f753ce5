import { promises as fs } from 'node:fs';
import type { McpServerConfig, McpServerInfo } from '../../../shared/tools';
import { UsageError, type Command } from '../command';

function describe(server: McpServerInfo): string[] {
  const where =
    server.config.transport === 'stdio'
      ? [server.config.command, ...server.config.args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ')
      : server.config.url;
  const lines = [`${server.name}  ${server.config.transport === 'stdio' ? 'program' : 'URL'}  ${where}  ${server.enabled ? 'on' : 'off'}`];
  for (const tool of server.tools)
    lines.push(
      `    ${tool.name}${tool.enabled ? '' : ' (off)'}${tool.alwaysAllow ? ' (always allowed)' : ''}${tool.description ? `  ${tool.description.split('\n')[0]}` : ''}`,
    );
  return lines;
}

/** "KEY=value" (env) or "Name: value" (headers) lines as a record. */
function pairs(list: unknown, separator: '=' | ':', what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of Array.isArray(list) ? (list as string[]) : []) {
    const at = item.indexOf(separator);
    if (at <= 0) throw new UsageError(`--${what} takes ${separator === '=' ? 'KEY=value' : '"Name: value"'}, not "${item}".`);
    out[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return out;
}

export const toolsCommand: Command = {
  summary: 'MCP servers whose tools chats may call: list, add a program or a URL, import an mcp.json, switch on/off, remove',
  usage:
    'tools list [--json] | add <name> [--env K=V...] [--cwd DIR] -- <command> [args...] | add <name> --url URL [--header "N: V"...] | import <mcp.json> | on|off <name> | remove <name>',
  options: {
    url: { type: 'string' },
    env: { type: 'string', multiple: true },
    header: { type: 'string', multiple: true },
    cwd: { type: 'string' },
  },
  async run({ io, json, args, values, services, program }) {
    const [action, ...rest] = args;
    if (action === 'list') {
      const host = await services();
      const snapshot = host.mcp.snapshot();
      if (json) {
        io.out(JSON.stringify(snapshot));
        return snapshot.configError ? 1 : 0;
      }
      // A file Freehold cannot read is said as such, never as "no servers".
      if (snapshot.configError) {
        io.err(`${snapshot.configFile}: ${snapshot.configError}`);
        return 1;
      }
      for (const server of snapshot.servers) for (const line of describe(server)) io.out(line);
      for (const { name, reason } of snapshot.skipped) io.err(`${name}  left out: ${reason}`);
      if (snapshot.servers.length === 0 && snapshot.skipped.length === 0)
        io.out(`No MCP servers yet. Add one: ${program} tools add <name> -- <command> [args...], or ${program} tools import <mcp.json>.`);
      return 0;
    }
    if (action === 'add') {
      const [name, ...argv] = rest;
      if (!name) throw new UsageError('tools add needs a name for the server.');
      const url = typeof values.url === 'string' ? values.url : undefined;
      if (url && argv.length) throw new UsageError('give either --url or a command after --, not both.');
      if (!url && argv.length === 0)
        throw new UsageError('tools add needs --url URL, or the program to run after -- (for example: -- npx -y some-mcp-server).');
      const config: McpServerConfig = url
        ? { transport: 'http', url, headers: pairs(values.header, ':', 'header') }
        : {
            transport: 'stdio',
            command: argv[0]!,
            args: argv.slice(1),
            env: pairs(values.env, '=', 'env'),
            cwd: typeof values.cwd === 'string' ? values.cwd : null,
          };
      const host = await services();
      await host.handlers['tools.add']({ name, config });
      if (json) io.out(JSON.stringify(host.mcp.snapshot().servers.find((s) => s.name === name) ?? null));
      else
        io.out(
          `Added ${name} to ${host.mcp.snapshot().configFile}. A running Freehold starts it; its tools are offered in chats (each call asks you first).`,
        );
      // Everything after -- is the program's: Freehold's own options there are passed on, not used.
      const ours = argv.filter((a) => /^--(data-dir|json)(=|$)/.test(a));
      if (ours.length)
        io.err(
          `note: ${ours.join(', ')} came after -- and was passed to the program; Freehold's own options go before -- (${program} tools add ${name} --data-dir DIR -- <command> …).`,
        );
      return 0;
    }
    if (action === 'import') {
      const [file] = rest;
      if (!file) throw new UsageError('tools import needs the path of an mcp.json file.');
      const text = await fs.readFile(file, 'utf8');
      const host = await services();
      const result = await host.handlers['tools.import']({ json: text });
      if (json) io.out(JSON.stringify(result));
      else {
        if (result.added.length) io.out(`Added: ${result.added.join(', ')}`);
        if (result.replaced.length) io.out(`Replaced: ${result.replaced.join(', ')}`);
        for (const skipped of result.skipped) io.err(`Skipped ${skipped.name}: ${skipped.reason}`);
        if (!result.added.length && !result.replaced.length) io.out('Nothing imported.');
      }
      return result.added.length || result.replaced.length || result.skipped.length === 0 ? 0 : 1;
    }
    if (action === 'on' || action === 'off') {
      const name = rest.join(' ').trim();
      if (!name) throw new UsageError(`tools ${action} needs the server's name (see tools list).`);
      const host = await services();
      await host.handlers['tools.setEnabled']({ name, enabled: action === 'on' });
      if (!json) io.out(`${name} is ${action}.`);
      return 0;
    }
    if (action === 'remove') {
      const name = rest.join(' ').trim();
      if (!name) throw new UsageError("tools remove needs the server's name (see tools list).");
      const host = await services();
      await host.handlers['tools.remove']({ name });
      if (!json) io.out(`Removed ${name}.`);
      return 0;
    }
    throw new UsageError(
      action === undefined ? 'tools needs an action: list, add, import, on, off or remove.' : `unknown tools action "${action}".`,
    );
  },
};
