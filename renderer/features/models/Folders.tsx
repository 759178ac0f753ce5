import { useState } from 'react';
import type { LibrarySnapshot } from '../../../shared/library';
import { useHostApi, useHostQuery } from '../../app/host-context';
import { describeFailure } from '../../app/problems';

/** Folders indexed in place, watched for changes; never copied. */
export function Folders({ library }: { library: LibrarySnapshot }) {
  const api = useHostApi();
  const [suggestions] = useHostQuery('folders.suggestions', 'onLibraryChanged');
  const [token, setToken] = useHostQuery('hub.tokenStatus');
  const [path, setPath] = useState('');
  // What the last folder action did, or why it failed; the same for the token.
  const [message, setMessage] = useState<{ text: string; failed: boolean } | null>(null);
  const [tokenProblem, setTokenProblem] = useState<string | null>(null);
  const [tokenInput, setTokenInput] = useState('');
  const failed = (doing: string) => (e: unknown) => setMessage({ text: describeFailure(e, doing), failed: true });
  const add = (dir: string) =>
    api['folders.add']({ path: dir }).then(
      (f) => setMessage({ text: `Added ${f.path}: ${f.modelCount} model${f.modelCount === 1 ? '' : 's'} found.`, failed: false }),
      (e: unknown) => setMessage({ text: describeFailure(e), failed: true }),
    );
  return (
    <section aria-labelledby="folders-title">
      <h2 id="folders-title">Model folders</h2>
      <p className="muted">GGUF files in these folders are used where they are, without copying, and followed as they change.</p>
      <ul className="folders" aria-label="Model folders">
        {library.folders.map((f) => (
          <li key={f.id}>
            <span className="mono">{f.path}</span> <span className="muted">({f.modelCount} models)</span>
            {f.problem && <span role="alert"> {f.problem}</span>}
            <button
              type="button"
              className="secondary"
              onClick={() => void api['folders.rescan']({ id: f.id }).catch(failed(`Could not rescan ${f.path}`))}
              aria-label={`Rescan ${f.path}`}
            >
              Rescan
            </button>
            <button
              type="button"
              className="secondary danger"
              onClick={() => void api['folders.remove']({ id: f.id }).catch(failed(`Could not stop using ${f.path}`))}
              aria-label={`Stop using ${f.path}`}
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
      {suggestions.status === 'ready' && suggestions.data.length > 0 && (
        <div className="suggestions">
          <span className="muted">Found on this machine:</span>
          {suggestions.data.map((s) => (
            <button
              key={s.path}
              type="button"
              className="secondary"
              onClick={() => void add(s.path)}
              aria-label={`Add ${s.label} (${s.path})`}
            >
              Add {s.label}
            </button>
          ))}
        </div>
      )}
      <form
        className="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (path.trim()) void add(path.trim());
        }}
      >
        <label className="inline-field grow">
          <span>Folder path</span>
          <input value={path} onChange={(e) => setPath(e.target.value)} placeholder="/home/you/models" />
        </label>
        <button type="submit">Add folder</button>
      </form>
      {message && <p role={message.failed ? 'alert' : 'status'}>{message.text}</p>}

      <h2>Hugging Face token</h2>
      <p className="muted">
        Needed only for gated models.{' '}
        {token.status === 'ready' && token.data.set
          ? `A token is set (stored ${token.data.storage === 'keychain' ? 'with the OS keychain' : token.data.storage === 'environment' ? 'in HF_TOKEN' : 'in a file only you can read'}).${
              token.data.active
                ? ''
                : ` It was saved for ${token.data.endpoint} and is not sent to the hub endpoint in use now; save it again to use it there.`
            }`
          : 'No token is set.'}
      </p>
      <form
        className="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          setTokenProblem(null);
          api['hub.setToken']({ token: tokenInput.trim() || null }).then(
            (s) => {
              setToken(s);
              setTokenInput('');
            },
            (error: unknown) =>
              setTokenProblem(describeFailure(error, tokenInput.trim() ? 'Could not save the token' : 'Could not clear the token')),
          );
        }}
      >
        <label className="inline-field grow">
          <span>Access token</span>
          <input type="password" autoComplete="off" value={tokenInput} onChange={(e) => setTokenInput(e.target.value)} placeholder="hf_…" />
        </label>
        <button type="submit">{tokenInput.trim() ? 'Save token' : 'Clear token'}</button>
      </form>
      {tokenProblem && <p role="alert">{tokenProblem}</p>}
    </section>
  );
}
