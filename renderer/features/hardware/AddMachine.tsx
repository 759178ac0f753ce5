import { useState } from 'react';
import type { AddMachineInput, MachineInfo } from '../../../shared/machines';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';

type Outcome = { ok: true; text: string } | { ok: false; text: string } | null;

function OutcomeLine({ outcome }: { outcome: Outcome }) {
  if (!outcome) return null;
  return (
    <p role={outcome.ok ? 'status' : 'alert'} className={outcome.ok ? 'tone-ok' : undefined}>
      {outcome.text}
    </p>
  );
}

/**
 * Adding another machine: a Freehold by the pairing code it shows, or any
 * OpenAI-compatible server by its URL (and key). The host's refusal (a used
 * or expired code, a certificate that does not match, too many tries, a
 * browser UI not on this computer) is shown as it says it.
 */
export function AddMachine({ onAdded }: { onAdded: (machine: MachineInfo) => void }) {
  const api = useHostApi();
  const [code, setCode] = useState('');
  const [server, setServer] = useState({ url: '', apiKey: '', name: '' });
  const [busy, setBusy] = useState<'code' | 'server' | null>(null);
  const [codeOutcome, setCodeOutcome] = useState<Outcome>(null);
  const [serverOutcome, setServerOutcome] = useState<Outcome>(null);

  const add = (input: AddMachineInput, which: 'code' | 'server', done: () => void) => {
    const setOutcome = which === 'code' ? setCodeOutcome : setServerOutcome;
    setOutcome(null);
    setBusy(which);
    api['machines.add'](input)
      .then(
        (machine: MachineInfo) => {
          done();
          onAdded(machine);
          setOutcome({ ok: true, text: `Added ${machine.name}: it is listed under Other machines.` });
        },
        (e: unknown) =>
          setOutcome({ ok: false, text: describeFailure(e, which === 'code' ? 'Could not pair' : 'Could not add the server') }),
      )
      .finally(() => setBusy(null));
  };

  return (
    <div className="add-machine">
      <h3 id="add-machine-title">Add a machine</h3>
      <form
        className="search-form"
        aria-label="Pair with another Freehold"
        onSubmit={(e) => {
          e.preventDefault();
          if (code.trim()) add({ code: code.trim() }, 'code', () => setCode(''));
        }}
      >
        <label className="inline-field grow">
          <span>Pairing code</span>
          <input
            value={code}
            onChange={(e) => setCode(e.target.value)}
            placeholder="FH1-…"
            autoComplete="off"
            spellCheck={false}
            aria-describedby="pairing-code-hint"
          />
        </label>
        <button type="submit" disabled={busy !== null || !code.trim()}>
          {busy === 'code' ? 'Adding…' : 'Add'}
        </button>
      </form>
      <p id="pairing-code-hint" className="muted">
        On the other computer turn on “Share this machine” (or start it with <code className="mono">npm run serve -- --share</code>) and
        paste the code it shows. The code works once; the link is encrypted and tied to that machine's certificate.
      </p>
      <OutcomeLine outcome={codeOutcome} />

      <h4 id="add-server-title">Or an OpenAI-compatible server</h4>
      <form
        className="settings-grid"
        aria-labelledby="add-server-title"
        onSubmit={(e) => {
          e.preventDefault();
          const url = server.url.trim();
          if (!/^https?:\/\//i.test(url)) return setServerOutcome({ ok: false, text: 'The URL must start with http:// or https://.' });
          add(
            { url, ...(server.apiKey ? { apiKey: server.apiKey } : {}), ...(server.name.trim() ? { name: server.name.trim() } : {}) },
            'server',
            () => setServer({ url: '', apiKey: '', name: '' }),
          );
        }}
      >
        <label>
          <span>Server URL</span>
          <input
            type="url"
            value={server.url}
            placeholder="http://host:8080/v1"
            autoComplete="off"
            onChange={(e) => setServer({ ...server, url: e.target.value })}
          />
        </label>
        <label>
          <span>API key (optional)</span>
          <input
            type="password"
            value={server.apiKey}
            autoComplete="off"
            onChange={(e) => setServer({ ...server, apiKey: e.target.value })}
          />
        </label>
        <label>
          <span>Name (optional)</span>
          <input value={server.name} maxLength={60} placeholder="tower" onChange={(e) => setServer({ ...server, name: e.target.value })} />
        </label>
        <button type="submit" disabled={busy !== null || !server.url.trim()}>
          {busy === 'server' ? 'Adding…' : 'Add server'}
        </button>
      </form>
      <p className="muted">
        llama-server, vLLM, Ollama, LM Studio, or another Freehold's local API: its models are listed from /v1/models.
      </p>
      <OutcomeLine outcome={serverOutcome} />
    </div>
  );
}
