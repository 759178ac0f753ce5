import { RpcError } from '../../../shared/errors';
import type { ToolsSnapshot } from '../../../shared/tools';
import type { McpService } from '../../tools/mcp-service';
import type { HandlerSlice } from './handler-slice';

export interface ToolHandlerDeps {
  mcp: McpService;
}

/** What a client sees of the MCP servers; whether it may add or change programs to run is its own. */
export function toolsSnapshot(mcp: McpService, canEditStdio: boolean): ToolsSnapshot {
  const snapshot = { ...mcp.snapshot(), canEditStdio };
  return canEditStdio ? snapshot : redactSecrets(snapshot);
}

const hidden = (values: Record<string, string>) => Object.fromEntries(Object.keys(values).map((key) => [key, '(hidden)']));

/** The servers without the values of their environment variables and headers (tokens, keys): for clients that may not edit them. */
export function redactSecrets(snapshot: ToolsSnapshot): ToolsSnapshot {
  return {
    ...snapshot,
    servers: snapshot.servers.map((server) => ({
      ...server,
      config:
        server.config.transport === 'stdio'
          ? { ...server.config, env: hidden(server.config.env) }
          : { ...server.config, headers: hidden(server.config.headers) },
    })),
  };
}

/** MCP servers and their tools (Settings → Tools). */
export function toolHandlers({ mcp }: ToolHandlerDeps): HandlerSlice<'tools'> {
  const snapshot = () => toolsSnapshot(mcp, true);
  return {
    'tools.list': () => snapshot(),
    'tools.add': async ({ name, config }) => {
      await mcp.add(name, config);
      return snapshot();
    },
    'tools.remove': async ({ name }) => {
      await mcp.remove(name);
      return snapshot();
    },
    'tools.setEnabled': async ({ name, enabled }) => {
      await mcp.setEnabled(name, enabled);
      return snapshot();
    },
    'tools.setTool': async ({ server, tool, ...change }) => {
      await mcp.setTool(server, tool, change);
      return snapshot();
    },
    'tools.restart': async ({ name }) => {
      await mcp.restart(name);
      return snapshot();
    },
    'tools.import': ({ json }) => mcp.importJson(json),
  };
}

/**
 * For a browser that is not on this machine, or any browser when the host
 * listens beyond 127.0.0.1: it may use and switch the configured servers, but
 * not add or change a program to run (a stdio server) nor import a file of them.
 */
export function restrictStdioEdits<H extends Pick<HandlerSlice<'tools'>, 'tools.add' | 'tools.import' | 'tools.list'>>(
  handlers: H,
  mcp: McpService,
): H {
  const refuse = () => {
    throw new RpcError(
      'forbidden',
      'Programs to run as tools (stdio MCP servers) can be added only from the desktop app, the CLI, the config file, or a browser on the machine Freehold runs on while it listens on 127.0.0.1 only.',
    );
  };
  return {
    ...handlers,
    'tools.list': () => toolsSnapshot(mcp, false),
    'tools.add': (input: Parameters<H['tools.add']>[0]) => (input.config.transport === 'stdio' ? refuse() : handlers['tools.add'](input)),
    'tools.import': () => refuse(),
  };
}
