import { useState } from 'react';
import type { ApiStatus } from '../../../shared/api';
import { isLoopbackAddress as isLoopback } from '../../../shared/loopback';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { CopyButton } from '../../components/CopyButton';
import { ApiKeysPanel } from './ApiKeysPanel';

interface Draft {
  host: string;
  port: string;
  requireKey: boolean;
  origins: string;
  idle: string;
}

/**
 * The local OpenAI-compatible API: a switch (off by default in the desktop
 * app), the URL and default key to give editors and scripts, the named keys
 * (who may use it), and where it listens.
 */
export function ApiServerPanel() {
  const api = useHostApi();
  const [status, setStatus] = useHostQuery('api.status', undefined, { showsError: true });
  useHostEvent('onApiStatus', setStatus);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [showKey, setShowKey] = useState(false);
  const [confirmNewKey, setConfirmNewKey] = useState(false);
  if (status.status === 'error') return <p role="alert">Could not read the API server's state: {status.message}</p>;
  if (status.status !== 'ready') return null;
  const s: ApiStatus = status.data;
  const value: Draft = draft ?? {
    host: s.host,
    port: String(s.port),
    requireKey: s.requireKey,
    origins: s.corsOrigins.join('\n'),
    idle: String(s.idleUnloadMinutes),
  };
  const fromCommandLine = s.managedBy === 'command-line';

  const save = (patch: Parameters<(typeof api)['settings.update']>[0]) =>
    api['settings.update'](patch).then(
      () => {
        setDraft(null);
        setMessage(null);
      },
      (error: Error) => setMessage(error.message),
    );

  return (
    <section aria-labelledby="api-title" className="engine api-server">
      <h2 id="api-title">Local API server</h2>
      <p className="muted">
        An OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models) for editors, scripts and agents on this
        computer. Models load when a request names them.
      </p>
      <label className="switch-row">
        <input
          type="checkbox"
          role="switch"
          checked={s.enabled}
          disabled={fromCommandLine}
          aria-describedby="api-state"
          onChange={(e) => void save({ api: { enabled: e.target.checked } })}
        />
        <span>Serve the OpenAI-compatible API</span>
      </label>
      <p id="api-state" role="status" className={s.error ? 'tone-bad' : s.running ? 'tone-ok' : 'muted'}>
        {s.error
          ? s.error
          : s.running
            ? `Running${isLoopback(s.host) ? ' (this computer only)' : ` on ${s.host}: reachable from other machines`}.`
            : 'Off.'}
        {fromCommandLine && ' Set by the command line (npm run serve; --no-api turns it off).'}
      </p>
      {s.running && s.url && (
        // A group names the pair of facts; on the <dl> itself the role would hide its <dt>/<dd> from assistive technology.
        <div role="group" aria-label="API connection">
          <dl className="facts api-facts">
            <dt>Base URL</dt>
            <dd>
              <code className="mono">{s.url}</code> <CopyButton text={s.url} label="Copy the API base URL" />
            </dd>
            <dt>Default key</dt>
            <dd>
              {s.requireKey ? (
                <>
                  <code className="mono" aria-label={showKey ? 'API key' : 'API key (hidden)'}>
                    {showKey ? s.key : `${s.key.slice(0, 6)}${'•'.repeat(16)}`}
                  </code>{' '}
                  <button type="button" className="secondary" aria-pressed={showKey} onClick={() => setShowKey(!showKey)}>
                    {showKey ? 'Hide' : 'Show'}
                  </button>{' '}
                  <CopyButton text={s.key} label="Copy the API key" />{' '}
                  {confirmNewKey ? (
                    <>
                      <button
                        type="button"
                        className="danger"
                        onClick={() => {
                          setConfirmNewKey(false);
                          api['api.regenerateKey']().then(setStatus, (error: Error) => setMessage(error.message));
                        }}
                      >
                        Replace the key
                      </button>{' '}
                      <button type="button" className="secondary" onClick={() => setConfirmNewKey(false)}>
                        Keep it
                      </button>
                      <span className="muted"> Clients using the old key stop working.</span>
                    </>
                  ) : (
                    <button type="button" className="secondary" onClick={() => setConfirmNewKey(true)}>
                      New key…
                    </button>
                  )}
                </>
              ) : (
                <span className="muted">Not required (this computer only).</span>
              )}
            </dd>
          </dl>
        </div>
      )}
      <ApiKeysPanel />
      <form
        className="settings-grid"
        aria-label="API server settings"
        onSubmit={(e) => {
          e.preventDefault();
          const port = Number(value.port);
          const idle = Number(value.idle);
          if (!Number.isInteger(port) || port < 1 || port > 65535) return setMessage('The port must be a whole number from 1 to 65535.');
          if (!Number.isFinite(idle) || idle < 0 || idle > 1440) return setMessage('Idle minutes must be from 0 (never unload) to 1440.');
          const origins = value.origins
            .split(/[\s,]+/)
            .map((o) => o.trim())
            .filter(Boolean);
          void save({
            api: { host: value.host.trim(), port, requireKey: value.requireKey, corsOrigins: origins, idleUnloadMinutes: idle },
          });
        }}
      >
        <label>
          <span>Address</span>
          <input
            value={value.host}
            disabled={fromCommandLine}
            onChange={(e) => setDraft({ ...value, host: e.target.value })}
            aria-describedby="api-host-hint"
          />
        </label>
        <label>
          <span>Port</span>
          <input
            inputMode="numeric"
            value={value.port}
            disabled={fromCommandLine}
            onChange={(e) => setDraft({ ...value, port: e.target.value })}
          />
        </label>
        <label>
          <span>Unload idle models after (minutes)</span>
          <input inputMode="decimal" value={value.idle} onChange={(e) => setDraft({ ...value, idle: e.target.value })} />
        </label>
        <label className="checkbox-label">
          <span>
            <input
              type="checkbox"
              checked={value.requireKey || !isLoopback(value.host.trim())}
              disabled={!isLoopback(value.host.trim())}
              onChange={(e) => setDraft({ ...value, requireKey: e.target.checked })}
            />{' '}
            Require the API key
          </span>
        </label>
        <label className="wide">
          <span>Web pages allowed to call it (CORS origins, one per line)</span>
          <textarea
            rows={2}
            placeholder="http://localhost:3000"
            value={value.origins}
            onChange={(e) => setDraft({ ...value, origins: e.target.value })}
          />
        </label>
        <button type="submit">Save API settings</button>
      </form>
      <p id="api-host-hint" className="muted">
        127.0.0.1 keeps it on this computer. Any other address (0.0.0.0: every network) lets other machines reach it, and then the key is
        always required.
      </p>
      {message && <p role="alert">{message}</p>}
    </section>
  );
}
