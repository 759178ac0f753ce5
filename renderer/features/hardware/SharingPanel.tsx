import { useState } from 'react';
import type { PairedClient, SharingStatus } from '../../../shared/machines';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { CopyButton } from '../../components/CopyButton';
import { formatWhen } from '../machines/machines';

/** The start of the certificate's fingerprint, in groups of four: enough to compare by eye. */
function shortFingerprint(fingerprint: string): string {
  return `${(fingerprint.slice(0, 16).match(/.{1,4}/g) ?? []).join(' ')}…`;
}

function stateLine(s: SharingStatus): { text: string; tone: string } {
  if (s.error) return { text: s.error, tone: 'tone-bad' };
  if (!s.enabled) return { text: 'Not shared: no other machine can use this one.', tone: 'muted' };
  if (!s.listening) return { text: 'Starting…', tone: 'tone-warn' };
  return { text: `Shared as “${s.name}” on ${s.address ?? 'its address'}: paired machines can use its models.`, tone: 'tone-ok' };
}

function PairedClients({ clients, onRevoke }: { clients: PairedClient[]; onRevoke: (client: PairedClient) => void }) {
  if (clients.length === 0) return <p className="muted">No machine is paired with this one yet.</p>;
  return (
    <table className="attempts paired">
      <caption>Paired machines</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Paired</th>
          <th scope="col">Last seen</th>
          <th scope="col">Connection</th>
          <th scope="col">
            <span className="visually-hidden">Revoke</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {clients.map((c) => (
          <tr key={c.id}>
            <th scope="row">{c.name}</th>
            <td>{formatWhen(c.pairedAt)}</td>
            <td>{c.connected ? 'now' : formatWhen(c.lastSeenAt)}</td>
            <td className={c.connected ? 'tone-ok' : 'muted'}>{c.connected ? 'Connected' : 'Not connected'}</td>
            <td>
              <button type="button" className="secondary danger" aria-label={`Revoke ${c.name}`} onClick={() => onRevoke(c)}>
                Revoke
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * Sharing this machine: the switch, and while shared the address, the
 * one-time pairing code (copy, a new one, when it expires), the certificate's
 * fingerprint, and the machines paired with this one (each revocable).
 */
export function SharingPanel() {
  const api = useHostApi();
  const [sharing, setSharing] = useHostQuery('machines.sharing', undefined, { showsError: true });
  useHostEvent('onSharingChanged', setSharing);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  if (sharing.status === 'error') return <p role="alert">Could not read whether this machine is shared: {sharing.message}</p>;
  if (sharing.status !== 'ready') return null;
  const s = sharing.data;
  const line = stateLine(s);

  const call = (run: () => Promise<SharingStatus>, doing: string) => {
    setError(null);
    setPending(true);
    run()
      .then(setSharing, (e: unknown) => setError(describeFailure(e, doing)))
      .finally(() => setPending(false));
  };
  const revoke = (client: PairedClient) => {
    if (!window.confirm(`Revoke ${client.name}? It can no longer use this machine until it is paired again with a new code.`)) return;
    call(() => api['machines.revoke']({ id: client.id }), `Could not revoke ${client.name}`);
  };

  return (
    <div className="sharing">
      <h3 id="sharing-title">This machine</h3>
      <label className="switch-row">
        <input
          type="checkbox"
          role="switch"
          checked={s.enabled}
          disabled={pending}
          aria-describedby="sharing-state"
          onChange={(e) => {
            const enabled = e.target.checked;
            call(() => api['machines.share']({ enabled }), enabled ? 'Could not share this machine' : 'Could not stop sharing');
          }}
        />
        <span>Share this machine</span>
      </label>
      <p id="sharing-state" role="status" className={line.tone}>
        {line.text}
      </p>
      {s.enabled && s.listening && (
        <div role="group" aria-label="Pairing">
          <dl className="facts api-facts">
            <dt>Name</dt>
            <dd>{s.name}</dd>
            <dt>Address</dt>
            <dd>
              <code className="mono">{s.address}</code>
            </dd>
            <dt>Pairing code</dt>
            <dd>
              {s.code ? (
                <>
                  <input
                    className="mono code-field"
                    readOnly
                    value={s.code}
                    aria-label="This machine's pairing code"
                    aria-describedby="pairing-code-expiry"
                    onFocus={(e) => e.target.select()}
                  />
                  <CopyButton text={s.code} label="Copy the pairing code" />
                </>
              ) : (
                <span className="muted">None: make a new one.</span>
              )}
              <button
                type="button"
                className="secondary"
                disabled={pending}
                onClick={() => call(() => api['machines.newCode'](), 'Could not make a new code')}
              >
                New code
              </button>
              {s.code && (
                <span id="pairing-code-expiry" className="muted">
                  {`Pairs one machine${s.codeExpiresAt ? `; expires at ${formatWhen(s.codeExpiresAt)}` : ''}.`}
                </span>
              )}
            </dd>
            {s.fingerprint && (
              <>
                <dt>Certificate</dt>
                <dd>
                  <code className="mono" title={s.fingerprint}>
                    {shortFingerprint(s.fingerprint)}
                  </code>
                  <CopyButton text={s.fingerprint} label="Copy the certificate fingerprint" />
                </dd>
              </>
            )}
          </dl>
          <p className="muted">On the other computer: Hardware → Machines → paste the code under “Add a machine”.</p>
        </div>
      )}
      {error && <p role="alert">{error}</p>}
      {(s.enabled || s.clients.length > 0) && <PairedClients clients={s.clients} onRevoke={revoke} />}
    </div>
  );
}
