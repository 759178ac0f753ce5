import { useId, useState } from 'react';
import type { McpServerInfo, McpToolInfo, ToolsSnapshot } from '../../../shared/tools';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { describeConfig } from './server-form';

/** The server's state in words, and its tone. */
function stateLine(server: McpServerInfo): { text: string; tone: string } {
  switch (server.state) {
    case 'running': {
      const n = server.tools.length;
      return { text: `Running with ${n} tool${n === 1 ? '' : 's'}`, tone: 'tone-ok' };
    }
    case 'starting':
      return { text: 'Starting…', tone: 'tone-warn' };
    case 'failed':
      return { text: 'Failed', tone: 'tone-bad' };
    default:
      return { text: 'Off', tone: 'muted' };
  }
}

interface ToolProps {
  tool: McpToolInfo;
  busy: boolean;
  onChange: (change: { enabled?: boolean; alwaysAllow?: boolean }) => void;
}

function ToolItem({ tool: t, busy, onChange }: ToolProps) {
  const descriptionId = useId();
  return (
    <li className={t.unusable ? 'mcp-tool mcp-tool-unusable' : 'mcp-tool'}>
      <div className="mcp-tool-head">
        <label className="switch-row">
          <input
            type="checkbox"
            role="switch"
            aria-label={`Use ${t.name}`}
            aria-describedby={descriptionId}
            checked={t.enabled && !t.unusable}
            disabled={busy || t.unusable !== null}
            onChange={(e) => onChange({ enabled: e.target.checked })}
          />
          <span className="mono">{t.name}</span>
        </label>
        <label className="mcp-tool-allow">
          <input
            type="checkbox"
            aria-label={`Always allow ${t.name}`}
            checked={t.alwaysAllow}
            disabled={busy || t.unusable !== null}
            onChange={(e) => onChange({ alwaysAllow: e.target.checked })}
          />{' '}
          Always allow
        </label>
      </div>
      <div id={descriptionId}>
        {t.description && <p className="muted mcp-tool-description">{t.description}</p>}
        {t.unusable && <p className="tone-warn mcp-tool-description">Cannot be offered to a model: {t.unusable}</p>}
        {t.checkedAfter.length > 0 && (
          <p className="muted mcp-tool-description mcp-tool-checks">
            Checked after the model writes a call (calls that do not match are not run): {t.checkedAfter.join(', ')}
          </p>
        )}
        {t.unchecked.length > 0 && <p className="muted mcp-tool-description mcp-tool-checks">Not checked: {t.unchecked.join(', ')}</p>}
      </div>
    </li>
  );
}

/** Remove, asked again in the page (the desktop shell has no window.confirm). */
export function RemoveButton({ name, busy, onRemove }: { name: string; busy: boolean; onRemove: () => void }) {
  const [confirming, setConfirming] = useState(false);
  return confirming ? (
    <span className="mcp-confirm" role="group" aria-label={`Remove ${name}?`}>
      <span>Remove {name} from the configuration?</span>{' '}
      <button
        type="button"
        className="danger"
        aria-label={`Yes, remove ${name}`}
        disabled={busy}
        onClick={() => {
          setConfirming(false);
          onRemove();
        }}
      >
        Yes, remove
      </button>{' '}
      <button type="button" className="secondary" aria-label={`Keep ${name}`} onClick={() => setConfirming(false)}>
        Keep it
      </button>
    </span>
  ) : (
    <button type="button" className="secondary danger" aria-label={`Remove ${name}`} disabled={busy} onClick={() => setConfirming(true)}>
      Remove
    </button>
  );
}

interface Props {
  server: McpServerInfo;
  onSnapshot: (snapshot: ToolsSnapshot) => void;
}

/** One MCP server: what it runs or where it is, its state, its switch, Restart, Remove, and its tools. */
export function ToolServer({ server: s, onSnapshot }: Props) {
  const api = useHostApi();
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const nameId = useId();
  const state = stateLine(s);

  const call = (run: () => Promise<ToolsSnapshot>, doing: string) => {
    setMessage(null);
    setBusy(true);
    run()
      .then(onSnapshot, (e: unknown) => setMessage(describeFailure(e, doing)))
      .finally(() => setBusy(false));
  };

  return (
    <li className="machine mcp-server" aria-labelledby={nameId}>
      <div className="machine-head">
        <h4 id={nameId}>{s.name}</h4>
        <span className="badge">{s.config.transport === 'stdio' ? 'Program (stdio)' : 'URL (Streamable HTTP)'}</span>
        <span className={`machine-state ${state.tone}`} role="status">
          <span className="dot" aria-hidden="true" />
          {state.text}
        </span>
      </div>
      <dl className="facts machine-facts">
        <dt>{s.config.transport === 'stdio' ? 'Runs' : 'URL'}</dt>
        <dd>
          <code className="mono">{describeConfig(s.config)}</code>
        </dd>
        {s.config.transport === 'stdio' && s.config.cwd && (
          <>
            <dt>In folder</dt>
            <dd className="mono">{s.config.cwd}</dd>
          </>
        )}
        {s.config.transport === 'stdio' && Object.keys(s.config.env).length > 0 && (
          <>
            <dt>Environment</dt>
            <dd className="mono">{Object.keys(s.config.env).join(', ')}</dd>
          </>
        )}
        {s.config.transport === 'http' && Object.keys(s.config.headers).length > 0 && (
          <>
            <dt>Headers</dt>
            <dd className="mono">{Object.keys(s.config.headers).join(', ')}</dd>
          </>
        )}
      </dl>
      {s.state === 'failed' && (
        <div className="mcp-failure">
          <pre className="mcp-error" tabIndex={0} role="group" aria-label={`Why ${s.name} failed`}>
            {s.error ?? 'No reason given.'}
          </pre>
        </div>
      )}
      <div className="machine-actions">
        <label className="switch-row mcp-server-switch">
          <input
            type="checkbox"
            role="switch"
            aria-label={`Enable ${s.name}`}
            checked={s.enabled}
            disabled={busy}
            onChange={(e) => {
              const enabled = e.target.checked;
              call(
                () => api['tools.setEnabled']({ name: s.name, enabled }),
                enabled ? `Could not turn ${s.name} on` : `Could not turn ${s.name} off`,
              );
            }}
          />
          <span>Enable</span>
        </label>
        <button
          type="button"
          className="secondary"
          aria-label={`Restart ${s.name}`}
          disabled={busy || !s.enabled}
          onClick={() => call(() => api['tools.restart']({ name: s.name }), `Could not restart ${s.name}`)}
        >
          Restart
        </button>
        <RemoveButton
          name={s.name}
          busy={busy}
          onRemove={() => call(() => api['tools.remove']({ name: s.name }), `Could not remove ${s.name}`)}
        />
      </div>
      {message && <p role="alert">{message}</p>}
      {s.tools.length > 0 ? (
        <ul className="mcp-tools" aria-label={`Tools of ${s.name}`}>
          {s.tools.map((t) => (
            <ToolItem
              key={t.name}
              tool={t}
              busy={busy}
              onChange={(change) =>
                call(() => api['tools.setTool']({ server: s.name, tool: t.name, ...change }), `Could not change ${t.name}`)
              }
            />
          ))}
        </ul>
      ) : (
        <p className="muted mcp-no-tools">
          {s.state === 'running' ? 'This server offers no tools.' : 'Its tools are listed once it runs.'}
        </p>
      )}
    </li>
  );
}
