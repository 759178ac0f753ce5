import { useState } from 'react';
import type { ImportResult } from '../../../shared/tools';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { STDIO_REFUSED } from './AddServer';

function ImportOutcome({ result }: { result: ImportResult }) {
  const nothing = result.added.length + result.replaced.length + result.skipped.length === 0;
  return (
    <div role="status" className="mcp-import-result">
      {nothing && <p>The file lists no servers.</p>}
      {result.added.length > 0 && <p className="tone-ok">Added: {result.added.join(', ')}.</p>}
      {result.replaced.length > 0 && <p>Replaced: {result.replaced.join(', ')}.</p>}
      {result.skipped.length > 0 && (
        <>
          <p className="tone-warn">Skipped:</p>
          <ul aria-label="Skipped servers">
            {result.skipped.map((s) => (
              <li key={s.name}>
                <span className="mono">{s.name}</span>: {s.reason}
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

/**
 * "Import mcp.json": another app's file (Claude Desktop, Cursor, LM Studio, VS Code),
 * picked or pasted. Servers of the same names are replaced. Not for a client
 * that may not add programs: such a file is mostly programs to run.
 */
export function ImportServers({ canEditStdio, onImported }: { canEditStdio: boolean; onImported: () => void }) {
  const api = useHostApi();
  const [json, setJson] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const disabled = !canEditStdio || busy;

  return (
    <div className="mcp-import">
      <h3 id="mcp-import-title">Import mcp.json</h3>
      <p className="muted" id="mcp-import-hint">
        {canEditStdio
          ? 'The servers of Claude Desktop, Cursor, LM Studio or VS Code: pick their mcp.json, or paste it. Servers of the same names are replaced.'
          : `${STDIO_REFUSED}; so can a file of servers be imported.`}
      </p>
      <form
        className="mcp-import-form"
        aria-labelledby="mcp-import-title"
        onSubmit={(e) => {
          e.preventDefault();
          const text = json.trim();
          setResult(null);
          if (text.length < 2) return setError('Pick an mcp.json file or paste its contents first.');
          setError(null);
          setBusy(true);
          api['tools.import']({ json: text })
            .then(
              (imported) => {
                setResult(imported);
                setJson('');
                onImported();
              },
              (e: unknown) => setError(describeFailure(e, 'Could not import the servers')),
            )
            .finally(() => setBusy(false));
        }}
      >
        <label className="file-button">
          Choose a file…
          <input
            type="file"
            accept=".json,application/json"
            className="visually-hidden"
            aria-label="mcp.json file"
            aria-describedby="mcp-import-hint"
            disabled={disabled}
            onChange={(event) => {
              const file = event.target.files?.[0];
              event.target.value = '';
              if (!file) return;
              file.text().then(
                (text) => {
                  setJson(text);
                  setError(null);
                },
                (e: unknown) => setError(describeFailure(e, `Could not read ${file.name}`)),
              );
            }}
          />
        </label>
        <label className="mcp-field wide">
          <span>mcp.json contents</span>
          <textarea
            className="mono"
            rows={5}
            value={json}
            disabled={disabled}
            placeholder={'{ "mcpServers": { "weather": { "command": "npx", "args": ["-y", "…"] } } }'}
            spellCheck={false}
            onChange={(e) => setJson(e.target.value)}
          />
        </label>
        <button type="submit" disabled={disabled}>
          {busy ? 'Importing…' : 'Import'}
        </button>
      </form>
      {error && <p role="alert">{error}</p>}
      {result && <ImportOutcome result={result} />}
    </div>
  );
}
