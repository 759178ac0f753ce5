import { useCallback, useState } from 'react';
import type { DownloadJob, RecommendedModel } from '../../../shared/hub';
import { formatBytes } from '../../../shared/format';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';

const modelName = (model: RecommendedModel) => `${model.family} ${model.parameters}`;
const finished: DownloadJob['state'][] = ['done', 'canceled'];

/**
 * When no embedding model is in the library: the one to get for this machine
 * (hub.embeddingStarter), why, one Download button and its progress. Once it
 * is in the library, documents use it (the host picks the first one there).
 */
export function EmbeddingOffer() {
  const api = useHostApi();
  const [starter] = useHostQuery('hub.embeddingStarter', undefined, { showsError: true });
  const [jobs, setJobs] = useHostQuery('downloads.list');
  const [jobId, setJobId] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<string | null>(null);
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
  const model = starter.status === 'ready' ? starter.data.model : null;
  const list = jobs.status === 'ready' ? jobs.data : [];
  const job =
    list.find((j) => j.id === jobId) ?? (model ? list.find((j) => j.repo === model.repo && !finished.includes(j.state)) : undefined);

  const download = () => {
    if (!model) return;
    setStarting(true);
    setError(null);
    api['downloads.start']({ repo: model.repo, quantization: model.quantization }).then(
      (started) => {
        setJobs((current = []) => [started, ...current.filter((j) => j.id !== started.id)]);
        setJobId(started.id);
        setStarting(false);
      },
      (e: Error) => {
        setError(`Could not start the download: ${e.message}`);
        setStarting(false);
      },
    );
  };

  if (starter.status === 'loading')
    return (
      <p className="muted" role="status">
        Checking which embedding model fits this machine…
      </p>
    );
  if (starter.status === 'error') return <p role="alert">Could not work out an embedding model for this machine: {starter.message}</p>;
  const percent = job?.totalBytes ? Math.floor((job.bytesDone / job.totalBytes) * 100) : 0;
  return (
    <section className="first-run panel embedding-offer" aria-labelledby="embedding-offer-title">
      <h4 id="embedding-offer-title">Find passages by meaning</h4>
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
          <p className="muted">Until an embedding model is there, documents are found by their keywords.</p>
          {!job || job.state === 'canceled' ? (
            <button type="button" onClick={download} disabled={starting}>
              {starting ? 'Starting…' : `Download ${modelName(model)}`}
            </button>
          ) : (
            <div className="first-run-progress">
              <progress aria-label={`Download of ${modelName(model)}`} value={percent} max={100} />
              <p className="muted" role="status">
                {job.state === 'done'
                  ? 'Downloaded: documents get vectors from it now.'
                  : job.state === 'failed'
                    ? `The download failed${job.error ? `: ${job.error}` : '.'}`
                    : job.state === 'verifying'
                      ? 'Verifying the file (sha256)…'
                      : `${formatBytes(job.bytesDone)} of ${formatBytes(job.totalBytes)}`}
              </p>
            </div>
          )}
        </>
      ) : (
        <p>{starter.data.reason}</p>
      )}
      {error && <p role="alert">{error}</p>}
    </section>
  );
}
