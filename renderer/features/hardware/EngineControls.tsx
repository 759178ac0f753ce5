import { useState } from 'react';
import { backends, DEFAULT_PARALLEL, type Settings } from '../../../shared/settings';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';

const labels: Record<string, string> = {
  auto: 'Automatic (best that loads)',
  cuda: 'CUDA (NVIDIA)',
  vulkan: 'Vulkan (AMD, Intel, NVIDIA)',
  metal: 'Metal (Apple)',
  cpu: 'CPU only',
};

const PARALLEL_ERROR = `Parallel replies must be a whole number from 1 to 16 (empty: ${DEFAULT_PARALLEL}).`;

/** Backend override, VRAM cap per GPU, threads and replies at once; saved settings restart the engine. */
export function EngineControls() {
  const api = useHostApi();
  const [settings, setSettings] = useHostQuery('settings.get');
  useHostEvent('onSettingsChanged', setSettings);
  const [draft, setDraft] = useState<{ backend: string; threads: string; vram: string; parallel: string } | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  if (settings.status !== 'ready') return null;
  const inference = settings.data.inference;
  const value = draft ?? {
    backend: inference.backend,
    threads: inference.threads ? String(inference.threads) : '',
    vram: inference.maxVramPerGpuMiB ? String(inference.maxVramPerGpuMiB) : '',
    parallel: inference.parallel ? String(inference.parallel) : '',
  };
  const parallelInvalid = message === PARALLEL_ERROR;
  return (
    <section aria-labelledby="controls-title" className="engine">
      <h2 id="controls-title">Engine settings</h2>
      <form
        className="settings-grid"
        onSubmit={(e) => {
          e.preventDefault();
          const threads = value.threads.trim() === '' ? 0 : Number(value.threads);
          const vram = value.vram.trim() === '' ? null : Number(value.vram);
          const parallel = value.parallel.trim() === '' ? DEFAULT_PARALLEL : Number(value.parallel);
          if (!Number.isInteger(threads) || threads < 0 || threads > 1024)
            return setMessage('Threads must be a whole number (empty: automatic).');
          if (vram !== null && (!Number.isInteger(vram) || vram < 256))
            return setMessage('The VRAM cap must be at least 256 MiB (empty: no cap).');
          if (!Number.isInteger(parallel) || parallel < 1 || parallel > 16) return setMessage(PARALLEL_ERROR);
          const patch: Partial<Settings['inference']> = {
            backend: value.backend as Settings['inference']['backend'],
            threads,
            maxVramPerGpuMiB: vram,
            parallel,
          };
          api['settings.update']({ inference: patch }).then(
            (next) => {
              setSettings(next);
              setDraft(null);
              setMessage('Saved. The inference engine restarts with these settings; a loaded model is loaded again.');
            },
            (error: Error) => setMessage(error.message),
          );
        }}
      >
        <label>
          <span>Backend</span>
          <select value={value.backend} onChange={(e) => setDraft({ ...value, backend: e.target.value })}>
            {backends.map((b) => (
              <option key={b} value={b}>
                {labels[b]}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Threads</span>
          <input
            inputMode="numeric"
            placeholder="automatic"
            value={value.threads}
            onChange={(e) => setDraft({ ...value, threads: e.target.value })}
          />
        </label>
        <label>
          <span>Max VRAM per GPU (MiB)</span>
          <input
            inputMode="numeric"
            placeholder="no cap"
            value={value.vram}
            onChange={(e) => setDraft({ ...value, vram: e.target.value })}
          />
        </label>
        <label>
          <span>Parallel replies</span>
          <input
            inputMode="numeric"
            placeholder={String(DEFAULT_PARALLEL)}
            value={value.parallel}
            aria-describedby="parallel-hint"
            aria-invalid={parallelInvalid || undefined}
            onChange={(e) => setDraft({ ...value, parallel: e.target.value })}
          />
        </label>
        <p id="parallel-hint" className="muted field-hint wide">
          Replies a model writes at once (chats and API requests), batched; fewer when memory is short. Each uses its own context.
        </p>
        <button type="submit">Save and restart engine</button>
      </form>
      <p className="muted">Changing these restarts the inference engine.</p>
      {message && <p role="status">{message}</p>}
    </section>
  );
}
