import { useCallback } from 'react';
import type { DownloadJob, DownloadProjector } from '../../../shared/hub';
import type { MachineInfo } from '../../../shared/machines';
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

export type DownloadAction = 'pause' | 'resume' | 'cancel';

/** The projector that comes with the model: on its way, attached (what the model now takes), or why the model is text-only. */
function ProjectorState({ projector }: { projector: DownloadProjector }) {
  const name = `${projector.precision === 'other' ? '' : `${projector.precision} `}projector ${projector.file.name}`;
  if (projector.state === 'failed')
    return (
      <p role="alert" className="tone-bad">
        Text only: {projector.error}
      </p>
    );
  if (projector.state === 'attached') {
    const takes = [projector.vision ? 'sees images' : null, projector.audio ? 'hears audio' : null].filter(Boolean).join(' and ');
    return (
      <div className="muted download-projector">
        Its {name} is attached{takes ? `: it ${takes}` : ''}.
      </div>
    );
  }
  return (
    <div className="muted download-projector">
      With its {name} ({formatBytes(projector.file.sizeBytes)}).
    </div>
  );
}

/** One download: its state in words, progress, speed and time left, and what can be done with it. */
export function DownloadItem({
  job,
  where,
  onAction,
}: {
  job: DownloadJob;
  /** The other machine it downloads onto; undefined: this one. */
  where?: string;
  onAction: (action: DownloadAction, label: string) => void;
}) {
  const percent = job.totalBytes ? Math.floor((job.bytesDone / job.totalBytes) * 100) : 0;
  const label = `${job.repo} ${job.quantization ?? ''}`.trim() + (where ? ` on ${where}` : '');
  return (
    <li className="download">
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
      {job.projector && <ProjectorState projector={job.projector} />}
      {job.error && <p role="alert">{job.error}</p>}
      <div className="download-actions">
        {(job.state === 'downloading' || job.state === 'queued') && (
          <button type="button" className="secondary" onClick={() => onAction('pause', label)} aria-label={`Pause ${label}`}>
            Pause
          </button>
        )}
        {(job.state === 'paused' || job.state === 'failed') && (
          <button type="button" onClick={() => onAction('resume', label)} aria-label={`Resume ${label}`}>
            Resume
          </button>
        )}
        {!['done', 'canceled'].includes(job.state) && (
          <button type="button" className="secondary danger" onClick={() => onAction('cancel', label)} aria-label={`Cancel ${label}`}>
            Cancel
          </button>
        )}
      </div>
    </li>
  );
}

const doing: Record<DownloadAction, string> = { pause: 'pause', resume: 'resume', cancel: 'cancel' };

/** Downloads on another machine (from its MachineInfo, kept current by onMachinesChanged), controlled there. */
export function MachineDownloads({ machine, activeOnly = false }: { machine: MachineInfo; activeOnly?: boolean }) {
  const api = useHostApi();
  const report = useReportProblem();
  const jobs = activeOnly ? machine.downloads.filter((j) => j.state !== 'done' && j.state !== 'canceled') : machine.downloads;
  if (jobs.length === 0) return null;
  return (
    <ul className="downloads" aria-label={`Downloads on ${machine.name}`}>
      {jobs.map((job) => (
        <DownloadItem
          key={job.id}
          job={job}
          where={machine.name}
          onAction={(action, label) =>
            void api['machines.downloadControl']({ machineId: machine.id, id: job.id, action }).catch((e: unknown) =>
              report(e, `Could not ${doing[action]} ${label}`),
            )
          }
        />
      ))}
    </ul>
  );
}

/** The download queue, updated by progress events; then the downloads on each other machine. */
export function Downloads({ machines = [] }: { machines?: MachineInfo[] }) {
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
  const elsewhere = machines.filter((m) => m.downloads.length > 0);
  const local = jobs.status === 'ready' ? jobs.data : [];
  return (
    <>
      {local.length === 0 && elsewhere.length === 0 ? (
        <p className="muted">No downloads yet. Find a model in Discover.</p>
      ) : local.length > 0 ? (
        <ul className="downloads" aria-label="Downloads">
          {local.map((job) => (
            <DownloadItem
              key={job.id}
              job={job}
              onAction={(action, label) =>
                void api[`downloads.${action}`]({ id: job.id }).catch((e: unknown) => report(e, `Could not ${doing[action]} ${label}`))
              }
            />
          ))}
        </ul>
      ) : null}
      {elsewhere.map((m) => (
        <section key={m.id} aria-labelledby={`downloads-on-${m.id}`}>
          <h3 id={`downloads-on-${m.id}`}>On {m.name}</h3>
          <MachineDownloads machine={m} />
        </section>
      ))}
    </>
  );
}
