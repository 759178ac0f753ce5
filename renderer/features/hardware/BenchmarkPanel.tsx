import { useState } from 'react';
import { backendLabel } from '../../../shared/inference';
import { useHostApi, useHostQuery } from '../../app/host-context';

/** pp512/tg128 on the active backend; results kept with the hardware they ran on. */
export function BenchmarkPanel() {
  const api = useHostApi();
  const [library] = useHostQuery('models.list', 'onLibraryChanged');
  const [results, setResults] = useHostQuery('hardware.benchmarks');
  const [modelId, setModelId] = useState('');
  const [running, setRunning] = useState(false);
  const [allBackends, setAllBackends] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const models = library.status === 'ready' ? library.data.models : [];
  const chosen = modelId || models[0]?.id || '';
  const list = results.status === 'ready' ? results.data : [];
  const best = Math.max(1, ...list.map((r) => r.generationTokensPerSecond));
  return (
    <section aria-labelledby="bench-title" className="engine">
      <h2 id="bench-title">Benchmark</h2>
      <p className="muted">
        Prompt processing (512 tokens) and generation (128 tokens) on the active backend, like llama-bench. Change the backend above to
        compare.
      </p>
      {models.length === 0 ? (
        <p className="muted">Add a model in the Models view to benchmark it.</p>
      ) : (
        <form
          className="search-form"
          onSubmit={(e) => {
            e.preventDefault();
            setRunning(true);
            setMessage(null);
            api['hardware.benchmark']({ modelId: chosen, allBackends }).then(
              (runs) => {
                setResults((previous = []) => [...[...runs].reverse(), ...previous]);
                setRunning(false);
              },
              (error: Error) => {
                setMessage(error.message);
                setRunning(false);
              },
            );
          }}
        >
          <label className="inline-field">
            <span>Model</span>
            <select value={chosen} onChange={(e) => setModelId(e.target.value)}>
              {models.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name}
                </option>
              ))}
            </select>
          </label>
          <label className="inline-field">
            <input type="checkbox" checked={allBackends} onChange={(e) => setAllBackends(e.target.checked)} />
            <span>Also on every other backend that works here (restarts the engine for each)</span>
          </label>
          <button type="submit" disabled={running}>
            {running ? 'Running…' : 'Run benchmark'}
          </button>
        </form>
      )}
      {message && <p role="alert">{message}</p>}
      {list.length > 0 && (
        <table className="attempts">
          <caption>Results on this machine</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Model</th>
              <th scope="col">Backend</th>
              <th scope="col">Threads</th>
              <th scope="col">pp{list[0]!.promptTokens} (tokens/s)</th>
              <th scope="col">tg{list[0]!.generatedTokens} (tokens/s)</th>
            </tr>
          </thead>
          <tbody>
            {list.map((r) => (
              <tr key={r.id}>
                <td>{new Date(r.at).toLocaleString()}</td>
                <th scope="row">{r.modelName}</th>
                <td>
                  {backendLabel(r.backend)}
                  {r.gpus.length ? ` (${r.gpus.join(', ')})` : ''}
                </td>
                <td>{r.threads}</td>
                <td>{r.promptTokensPerSecond.toFixed(1)}</td>
                <td>
                  {r.generationTokensPerSecond.toFixed(1)}
                  <svg
                    width="120"
                    height="10"
                    role="img"
                    aria-label={`Generation speed bar: ${r.generationTokensPerSecond.toFixed(0)} tokens/s`}
                    className="bar-chart"
                  >
                    <rect x="0" y="1" height="8" width={(120 * r.generationTokensPerSecond) / best} fill="currentColor" />
                  </svg>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
