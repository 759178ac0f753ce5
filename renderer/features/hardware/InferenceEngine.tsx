import { backendLabels as labels, engineLabels, type HardwareReport, type LoadedModel } from '../../../shared/inference';
import { formatBytes } from '../../../shared/format';
import { useHostEvent, useHostQuery } from '../../app/host-context';
import { PlacementShares } from './PlacementShares';

function Vram({ report }: { report: HardwareReport }) {
  if (report.vram.totalBytes === 0) return <>none (no GPU in use)</>;
  return (
    <>
      {formatBytes(report.vram.freeBytes)} free of {formatBytes(report.vram.totalBytes)}
      {report.vram.unifiedBytes > 0 && `, shared with the CPU`}
      {report.vram.capBytes !== null && `, capped at ${formatBytes(report.vram.capBytes)}`}
    </>
  );
}

/** The model loaded now: how many replies it writes at once, and its speculative decoding (with why not, if asked for and not used). */
function LoadedModelFacts({ model }: { model: LoadedModel }) {
  return (
    <div role="group" aria-label="Loaded model" className="loaded-model">
      <p>
        <strong>{model.name}</strong> is loaded: {model.gpuLayers}/{model.totalLayers} layers on the GPU,{' '}
        {model.contextSize.toLocaleString()}-token context{model.parallel && model.parallel > 1 ? ' for each reply' : ''}.
      </p>
      {model.engine && (
        <p>
          Engine: <strong>{engineLabels[model.engine]}</strong>
          {model.engineReason ? ` (${model.engineReason})` : ''}
        </p>
      )}
      {(model.vision || model.audio) && (
        <p>
          It {[model.vision && 'sees images', model.audio && 'hears audio'].filter(Boolean).join(' and ')}
          {model.projector ? ` (projector ${model.projector})` : ''}.
        </p>
      )}
      {model.placement && <PlacementShares plan={model.placement.plan} check={model.placement.check} />}
      {model.parallel !== undefined && <p>{model.parallel > 1 ? `Up to ${model.parallel} replies at once.` : 'One reply at a time.'}</p>}
      {model.parallelNote && (
        <p role="note" className="notice notice-info">
          {model.parallelNote}
        </p>
      )}
      {model.speculative && (
        <p>
          Speculative decoding: {model.speculative === 'prompt-lookup' ? 'prompt lookup' : `draft model ${model.draftModel ?? '(unnamed)'}`}
        </p>
      )}
      {model.speculativeNote && (
        <p role="note" className="notice">
          {model.speculativeNote}
        </p>
      )}
    </div>
  );
}

/** What Freehold runs on, and why: the backend chosen and why the others were not. */
export function InferenceEngine() {
  // Refetched whenever the worker reports a new status (a restart, a changed backend).
  const [hardware] = useHostQuery('inference.hardware', 'onInferenceStatus', { showsError: true });
  const [status, setStatus] = useHostQuery('inference.status');
  useHostEvent('onInferenceStatus', setStatus);
  const model = status.status === 'ready' ? status.data.model : null;
  if (hardware.status === 'loading') return <p aria-busy="true">Detecting the inference backend…</p>;
  if (hardware.status === 'error') return <p role="alert">The inference engine is not available: {hardware.message}</p>;
  const report = hardware.data;
  return (
    <section aria-labelledby="engine-title" className="engine">
      <h2 id="engine-title">Inference engine</h2>
      <p className="engine-backend">
        Running on <strong>{labels[report.backend]}</strong>
        {report.requested === 'auto' ? ' (chosen automatically)' : ` (selected: ${labels[report.requested]})`}. {report.reason}
      </p>
      {model && <LoadedModelFacts model={model} />}
      <table className="attempts">
        <caption>Backends in this install</caption>
        <thead>
          <tr>
            <th scope="col">Backend</th>
            <th scope="col">Status</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {report.attempts.map((attempt) => (
            <tr key={attempt.backend}>
              <th scope="row">{labels[attempt.backend]}</th>
              <td className={`outcome outcome-${attempt.outcome}`}>{attempt.outcome === 'not-tried' ? 'not tried' : attempt.outcome}</td>
              <td>{attempt.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <dl className="facts" aria-label="Inference engine">
        <dt>GPUs</dt>
        <dd>{report.gpus.length ? report.gpus.map((g) => g.name).join(', ') : 'none detected'}</dd>
        <dt>VRAM</dt>
        <dd>
          <Vram report={report} />
        </dd>
        <dt>Threads</dt>
        <dd>
          {report.threads.used} ({report.threads.reason})
        </dd>
        <dt>CPU features</dt>
        <dd>{report.cpu.features.join(' ') || 'none reported'}</dd>
        <dt>Versions</dt>
        <dd>
          node-llama-cpp {report.versions.nodeLlamaCpp}, llama.cpp {report.versions.llamaCpp} ({report.versions.binary})
        </dd>
      </dl>
    </section>
  );
}
