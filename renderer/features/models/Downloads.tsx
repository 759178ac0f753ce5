import { useCallback } from 'react';
import type { DownloadJob } from '../../../shared/hub';
import { useHostApi, useHostEvent, useHostQuery } from '../../app/host-context';
import { useReportProblem } from '../../app/problems';
import { formatBytes, formatDuration } from '../../../shared/format';

const stateText: Record<DownloadJob['state'], string> = {
  queued: 'Waiting',
  downloading: 'Downloading',
  paused: 'Paused',
  verifying: 'Verifying',
  done: 'Done, verified',
  failed: 'Failed',
  canceled: 'Canceled',
};

/** The download queue, updated by progress events. */
export function Downloads() {
  const api = useHostApi();
  const report = useReportProblem();
  const [jobs, setJobs] = useHostQuery('downloads.list');
  useHostEvent(
    'onDownloadProgress',
    useCallback(
      (job: DownloadJob) =>
        setJobs((list = []) => (list.some((j) => j.id === job.id) ? list.map((j) => (j.id === job.id ? job : j)) : [job, ...list])),
      [setJobs],
    ),
  );
  if (jobs.status !== 'ready' || jobs.data.length === 0) return <p className="muted">No downloads yet. Find a model in Discover.</p>;
  return (
    <ul className="downloads" aria-label="Downloads">
      {jobs.data.map((job) => {
        const percent = job.totalBytes ? Math.floor((job.bytesDone / job.totalBytes) * 100) : 0;
        const label = `${job.repo} ${job.quantization ?? ''}`.trim();
        return (
          <li key={job.id} className="download">
            <div className="download-head">
              <strong>{label}</strong>
              <span className={`state state-${job.state}`}>{stateText[job.state]}</span>
            </div>
            <div
              role="progressbar"
              aria-label={`Download of ${label}`}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={percent}
              className="bar"
            >
              <div style={{ width: `${percent}%` }} />
            </div>
            <div className="muted">
              {formatBytes(job.bytesDone)} of {formatBytes(job.totalBytes)}
              {job.state === 'downloading' &&
                job.bytesPerSecond > 0 &&
                ` · ${formatBytes(job.bytesPerSecond)}/s · ${formatDuration(job.etaSeconds)} left`}
              {job.lastRetry && job.state === 'downloading' && ` · ${job.lastRetry}`}
            </div>
            {job.error && <p role="alert">{job.error}</p>}
            <div className="download-actions">
              {(job.state === 'downloading' || job.state === 'queued') && (
                <button
                  type="button"
                  className="secondary"
                  onClick={() => void api['downloads.pause']({ id: job.id }).catch((e: unknown) => report(e, `Could not pause ${label}`))}
                  aria-label={`Pause ${label}`}
                >
                  Pause
                </button>
              )}
              {(job.state === 'paused' || job.state === 'failed') && (
                <button
                  type="button"
                  onClick={() => void api['downloads.resume']({ id: job.id }).catch((e: unknown) => report(e, `Could not resume ${label}`))}
                  aria-label={`Resume ${label}`}
                >
                  Resume
                </button>
              )}
              {!['done', 'canceled'].includes(job.state) && (
                <button
                  type="button"
                  className="secondary danger"
                  onClick={() => void api['downloads.cancel']({ id: job.id }).catch((e: unknown) => report(e, `Could not cancel ${label}`))}
                  aria-label={`Cancel ${label}`}
                >
                  Cancel
                </button>
              )}
            </div>
          </li>
        );
      })}
    </ul>
  );
}
