import type { InferenceStatus } from '../../shared/contract';
import { backendLabel } from '../../shared/inference';
import { useConnectionState, useHostEvent, useHostQuery } from './host-context';

function connectionText(state: ReturnType<typeof useConnectionState>): { text: string; tone: 'ok' | 'warn' | 'bad' } {
  switch (state.kind) {
    case 'connected':
      return { text: state.via === 'desktop' ? 'Connected' : 'Connected to host', tone: 'ok' };
    case 'connecting':
      return { text: 'Connecting…', tone: 'warn' };
    case 'reconnecting':
      return { text: `Connection lost; retrying in ${Math.ceil(state.retryInMs / 1000)} s`, tone: 'bad' };
    case 'no-token':
      return { text: 'Not connected: open the link printed by "npm run serve"', tone: 'bad' };
  }
}

function inferenceText(status: InferenceStatus | undefined): string {
  if (!status) return 'Inference: unknown';
  const backend = status.backend ? ` on ${backendLabel(status.backend)}` : '';
  switch (status.state) {
    case 'not-started':
      return `Inference: idle${backend} (${status.detail})`;
    case 'starting':
      return `Inference: starting${backend}`;
    case 'ready': {
      const queue = status.queue;
      const active = queue?.active ?? (queue?.running ? 1 : 0);
      const busy =
        active > 1
          ? ` · ${active} replies at once`
          : queue?.running === 'api'
            ? ' · answering an API request'
            : queue?.running === 'ui'
              ? ' · generating'
              : '';
      const waiting = queue?.waiting ? ` · ${queue.waiting} waiting` : '';
      return `Inference: ready${backend}${busy}${waiting}`;
    }
    case 'crashed':
      return `Inference: crashed${backend} (${status.detail})`;
    case 'stopped':
      return `Inference: stopped${backend}`;
  }
}

export function StatusBar() {
  const state = useConnectionState();
  const [info] = useHostQuery('app.info');
  const [status, setStatus] = useHostQuery('inference.status');
  useHostEvent('onInferenceStatus', setStatus);
  const connection = connectionText(state);
  const inference = status.status === 'ready' ? status.data : undefined;

  return (
    <footer className="status-bar" aria-label="Status">
      <span role="status" aria-label="Connection" className={`status-item tone-${connection.tone}`}>
        <span className="dot" aria-hidden="true" />
        {connection.text}
      </span>
      <span role="status" aria-label="Inference backend" className="status-item">
        {inferenceText(inference)}
      </span>
      <span className="status-item status-right">
        {info.status === 'ready' ? `Freehold ${info.data.version} · ${info.data.host === 'web' ? 'headless host' : 'desktop'}` : ''}
      </span>
    </footer>
  );
}
