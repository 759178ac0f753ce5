import { useState } from 'react';
import { API_KEY_NAME_RULE, apiKeyNameSchema, type ApiKeyInfo, type CreatedApiKey } from '../../../shared/api';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { CopyButton } from '../../components/CopyButton';
import { formatWhen } from '../machines/machines';

function KeysTable({ keys, pending, onRevoke }: { keys: ApiKeyInfo[]; pending: boolean; onRevoke: (key: ApiKeyInfo) => void }) {
  return (
    <table className="attempts api-keys">
      <caption>API keys</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Key</th>
          <th scope="col">Created</th>
          <th scope="col">Last used</th>
          <th scope="col" className="count">
            Requests
          </th>
          <th scope="col" className="count">
            Tokens
          </th>
          <th scope="col">
            <span className="visually-hidden">Revoke</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {keys.map((k) => (
          <tr key={k.id}>
            <th scope="row">{k.name}</th>
            <td>
              <code className="mono" aria-label={`Beginning of the key ${k.name}`}>
                fh-{k.prefix}…
              </code>
            </td>
            <td className="when">{formatWhen(k.createdAt)}</td>
            <td className="when">{formatWhen(k.lastUsedAt)}</td>
            <td className="count">{k.requests.toLocaleString()}</td>
            <td className="count">{k.tokens.toLocaleString()}</td>
            <td>
              {k.isDefault ? (
                <span className="muted">New key… replaces it</span>
              ) : (
                <button
                  type="button"
                  className="secondary danger"
                  aria-label={`Revoke ${k.name}`}
                  disabled={pending}
                  onClick={() => onRevoke(k)}
                >
                  Revoke
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Who may use this machine's API: a key per person or program, each listed
 * with its use and revocable at once; a new key is shown once, here.
 */
export function ApiKeysPanel() {
  const api = useHostApi();
  const [keys, setKeys] = useHostQuery('api.keys.list', undefined, { showsError: true });
  useHostEvent('onApiKeys', setKeys);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  if (keys.status === 'error') return <p role="alert">Could not read the API keys: {keys.message}</p>;
  if (keys.status !== 'ready') return null;

  const add = () => {
    const valid = apiKeyNameSchema.safeParse(name);
    if (!valid.success) return setError(valid.error.issues[0]?.message ?? API_KEY_NAME_RULE);
    setError(null);
    setPending(true);
    api['api.keys.create']({ name: valid.data })
      .then(
        (result) => {
          setCreated(result);
          setName('');
          setKeys((previous) => [...(previous ?? []).filter((k) => k.id !== result.key.id), result.key]);
        },
        (e: unknown) => setError(describeFailure(e, 'Could not add the key')),
      )
      .finally(() => setPending(false));
  };
  const revoke = (key: ApiKeyInfo) => {
    if (!window.confirm(`Revoke ${key.name}? Requests with it get 401 at once, and replies streaming to it now are stopped.`)) return;
    setError(null);
    setPending(true);
    api['api.keys.revoke']({ id: key.id })
      .then(
        (next) => {
          setKeys(next);
          if (created?.key.id === key.id) setCreated(null);
        },
        (e: unknown) => setError(describeFailure(e, `Could not revoke ${key.name}`)),
      )
      .finally(() => setPending(false));
  };

  return (
    <section aria-labelledby="api-keys-title" className="api-keys-panel">
      <h3 id="api-keys-title">Keys</h3>
      <p className="muted">
        A key for each person or program that uses this machine&apos;s API: each request is counted and logged under its key&apos;s name,
        and a revoked key stops working at once. Only a hash of each key is kept.
      </p>
      <KeysTable keys={keys.data} pending={pending} onRevoke={revoke} />
      <form
        className="api-key-form"
        aria-label="Add an API key"
        onSubmit={(e) => {
          e.preventDefault();
          add();
        }}
      >
        <label>
          <span>Name</span>
          <input
            value={name}
            maxLength={60}
            placeholder="alice-laptop"
            aria-describedby="api-key-name-rule"
            onChange={(e) => setName(e.target.value)}
          />
        </label>
        <button type="submit" disabled={pending}>
          Add key
        </button>
      </form>
      <p id="api-key-name-rule" className="muted">
        {API_KEY_NAME_RULE}
      </p>
      {created && (
        <div role="group" aria-label="New API key" className="new-key">
          <p>
            <span>
              The key <strong>{created.key.name}</strong>:
            </span>
            <input
              className="mono code-field"
              readOnly
              value={created.secret}
              aria-label={`New key for ${created.key.name}`}
              onFocus={(e) => e.target.select()}
            />{' '}
            <CopyButton text={created.secret} label={`Copy the new key for ${created.key.name}`} />
          </p>
          <p role="status" className="tone-warn">
            Copy it now: it will not be shown again.
          </p>
          <button type="button" className="secondary" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
      {error && <p role="alert">{error}</p>}
    </section>
  );
}
