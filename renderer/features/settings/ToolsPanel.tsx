import { useCallback } from 'react';
import type { ToolsSnapshot } from '../../../shared/tools';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { useReportProblem } from '../../app/problems';
import { AddServer } from './AddServer';
import { ImportServers } from './ImportServers';
import { SkippedEntries } from './SkippedEntries';
import { ToolServer } from './ToolServer';

/**
 * Settings → Tools: the MCP servers whose tools a chat reply may call, each
 * with its state and its tools; adding one (a program or a URL) and
 * importing another app's mcp.json. Live: the host tells every change
 * (a server started or failed, the file edited by hand).
 */
export function ToolsPanel() {
  const api = useHostApi();
  const report = useReportProblem();
  const [query, setSnapshot] = useHostQuery('tools.list', undefined, { showsError: true });
  useHostEvent('onToolsChanged', setSnapshot);
  const onSnapshot = useCallback((next: ToolsSnapshot) => setSnapshot(next), [setSnapshot]);
  const reload = useCallback(
    () => api['tools.list']().then(setSnapshot, (e: unknown) => report(e, 'Could not read the MCP servers')),
    [api, setSnapshot, report],
  );
  const snapshot = query.status === 'ready' ? query.data : null;

  return (
    <section aria-labelledby="tools-title" className="engine machines mcp">
      <h2 id="tools-title">Tools</h2>
      <p className="muted">
        Tools from MCP servers that a model may call while it answers in Chat: each call waits for your approval unless you always allow
        that tool. A server is a program run on this machine (stdio) or a URL (Streamable HTTP).
      </p>
      {query.status === 'loading' && <p aria-busy="true">Reading the MCP servers…</p>}
      {query.status === 'error' && <p role="alert">Could not read the MCP servers: {query.message}</p>}
      {snapshot && (
        <>
          <p className="muted mcp-config-file">
            Kept in <code className="mono">{snapshot.configFile}</code>, in the “mcpServers” format of Claude Desktop, Cursor and LM Studio;
            edits to the file are picked up.
          </p>
          {snapshot.configError && (
            <p role="alert" className="tone-bad">
              The configuration file could not be read (it is left as it is until fixed): {snapshot.configError}
            </p>
          )}
          <h3 id="mcp-servers-title">Servers</h3>
          {snapshot.servers.length === 0 ? (
            <p className="muted">None yet: add one below, or import the mcp.json of another app.</p>
          ) : (
            <ul className="machine-list" aria-labelledby="mcp-servers-title">
              {snapshot.servers.map((s) => (
                <ToolServer key={s.name} server={s} onSnapshot={onSnapshot} />
              ))}
            </ul>
          )}
          <SkippedEntries skipped={snapshot.skipped ?? []} onSnapshot={onSnapshot} />
          <AddServer snapshot={snapshot} onSnapshot={onSnapshot} />
          <ImportServers canEditStdio={snapshot.canEditStdio} onImported={() => void reload()} />
        </>
      )}
    </section>
  );
}
