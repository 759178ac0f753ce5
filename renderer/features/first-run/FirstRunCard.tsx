import { useCallback, useEffect, useState } from 'react';
import type { DownloadJob, RecommendedModel } from '../../../shared/hub';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { formatBytes, formatDuration } from '../../../shared/format';

const finished: DownloadJob['state'][] = ['done', 'canceled'];

function modelName(model: RecommendedModel): string {
  return `${model.family} ${model.parameters}`;
}

/**
 * For someone with an empty library: the recommended model that fits this
 * machine now, one Download button, its progress, and `onReady` once the file
 * is verified and in the library. Shown in the Chat and Models views.
 */
export function FirstRunCard({
  onReady,
  onBrowse,
  onStarted,
  inModelsView = false,
}: {
  onReady: (modelId: string) => void;
  onBrowse: () => void;
  /** Called when its download starts, so the view keeps the card until the model is ready. */
  onStarted?: () => void;
  /** Where it is shown: the Models view takes dropped files itself. */
  inModelsView?: boolean;
}) {
  const api = useHostApi();
  const [starter] = useHostQuery('hub.starter', undefined, { showsError: true });
  const [jobs, setJobs] = useHostQuery('downloads.list');
  const [jobId, setJobId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const model = starter.status === 'ready' ? starter.data.model : null;
  useHostEvent(
    'onDownloadProgress',
    useCallback(
      (update: DownloadJob) =>
        setJobs((list = []) =>
          list.some((j) => j.id === update.id) ? list.map((j) => (j.id === update.id ? update : j)) : [update, ...list],
        ),
      [setJobs],
    ),
  );
  // The download this card started, or one of the same model already under way (the view was left and opened again).
  const list = jobs.status === 'ready' ? jobs.data : [];
  const job =
    list.find((j) => j.id === jobId) ??
    (model ? list.find((j) => j.repo === model.repo && !finished.includes(j.state)) : undefined) ??
    null;
  const readyModel = job?.state === 'done' ? job.modelId : null;
  useEffect(() => {
    if (readyModel) onReady(readyModel);
  }, [readyModel, onReady]);

  const download = () => {
    if (!model) return;
    setStarting(true);
    setError(null);
    api['downloads.start']({ repo: model.repo, quantization: model.quantization }).then(
      (started) => {
        setJobs((current = []) => [started, ...current.filter((j) => j.id !== started.id)]);
        setJobId(started.id);
        setStarting(false);
        onStarted?.();
      },
      (e: Error) => {
        setError(`Could not start the download: ${e.message}`);
        setStarting(false);
      },
    );
  };

  if (starter.status === 'loading') {
    return (
      <section className="first-run panel" aria-label="Get a first model">
        <p className="muted" role="status">
          Checking what fits this machine…
        </p>
      </section>
    );
  }
  if (starter.status === 'error') {
    return (
      <section className="first-run panel" aria-label="Get a first model">
        <p role="alert">Could not work out a model for this machine: {starter.message}</p>
        <button type="button" className="link-button" onClick={onBrowse}>
          Browse models
        </button>
      </section>
    );
  }
  const percent = job?.totalBytes ? Math.floor((job.bytesDone / job.totalBytes) * 100) : 0;
  return (
    <section className="first-run panel" aria-labelledby="first-run-title">
      <h2 id="first-run-title">{model ? 'Get a model that fits this machine' : 'No recommended model fits right now'}</h2>
      {model ? (
        <>
          <p className="first-run-model">
            <strong>{modelName(model)}</strong>{' '}
            <span className="muted">
              ({model.repo}, {model.quantization}, about {formatBytes(model.sizeBytes)})
            </span>
          </p>
          <p>{model.note}</p>
          <p className="muted">{starter.data.reason}</p>
          {!job || job.state === 'canceled' ? (
            <button
              type="button"
              onClick={download}
              disabled={starting}
              aria-label={`Download ${modelName(model)} (${formatBytes(model.sizeBytes)})`}
            >
              {starting ? 'Starting…' : `Download ${modelName(model)}`}
            </button>
          ) : (
            <div className="first-run-progress">
              <div
                role="progressbar"
                aria-label={`Download of ${modelName(model)}`}
                aria-valuemin={0}
                aria-valuemax={100}
                aria-valuenow={percent}
                className="bar"
              >
                <div style={{ width: `${percent}%` }} />
              </div>
              <p className="muted" role="status">
                {job.state === 'verifying'
                  ? 'Verifying the file (sha256)…'
                  : job.state === 'done'
                    ? 'Downloaded and verified.'
                    : job.state === 'queued'
                      ? 'Waiting to start…'
                      : job.state === 'paused'
                        ? `Paused at ${formatBytes(job.bytesDone)} of ${formatBytes(job.totalBytes)}.`
                        : job.state === 'failed'
                          ? 'The download failed.'
                          : `${formatBytes(job.bytesDone)} of ${formatBytes(job.totalBytes)}${job.bytesPerSecond > 0 ? ` · ${formatBytes(job.bytesPerSecond)}/s · ${formatDuration(job.etaSeconds)} left` : ''}`}
              </p>
              {job.error && <p role="alert">{job.error}</p>}
              {(job.state === 'failed' || job.state === 'paused') && (
                <button type="button" onClick={() => void api['downloads.resume']({ id: job.id }).catch((e: Error) => setError(e.message))}>
                  {job.state === 'failed' ? 'Try again' : 'Resume'}
                </button>
              )}
            </div>
          )}
        </>
      ) : (
        <p>{starter.data.reason}</p>
      )}
      {error && <p role="alert">{error}</p>}
      <p className="muted">
        Or{' '}
        <button type="button" className="link-button" onClick={onBrowse}>
          choose another model
        </button>{' '}
        from Hugging Face, or drop a .gguf file you already have {inModelsView ? 'here' : 'on the Models view'}.
      </p>
    </section>
  );
}
