import { useCallback, useEffect, useState } from 'react';
import type { HardwareSample } from '../../../shared/contract';
import { useConnectionState, useHostApi, useHostEvent } from '../../app/host-context';
import { isDisconnected, useReportProblem } from '../../app/problems';
import { formatBytes } from '../../../shared/format';

const KEEP = 90; // three minutes of samples at one every 2 s

/** A small line chart of the last few minutes; values scaled to their own maximum. */
export function Sparkline({ values, label, max }: { values: Array<number | null>; label: string; max?: number }) {
  const width = 240;
  const height = 48;
  const top = max ?? Math.max(1, ...values.map((v) => v ?? 0));
  const step = width / Math.max(1, KEEP - 1);
  const points = values
    .map((v, i) => (v === null ? null : `${(i + KEEP - values.length) * step},${height - (v / top) * (height - 4) - 2}`))
    .filter(Boolean)
    .join(' ');
  return (
    <svg className="sparkline" width={width} height={height} role="img" aria-label={label} viewBox={`0 0 ${width} ${height}`}>
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}

/** Live readings while the panel is open: memory, the worker, the model, tokens/s. */
export function LivePanel() {
  const api = useHostApi();
  const report = useReportProblem();
  const connection = useConnectionState();
  const [samples, setSamples] = useState<HardwareSample[]>([]);
  useHostEvent(
    'onHardwareSample',
    useCallback((sample: HardwareSample) => setSamples((list) => [...list.slice(-(KEEP - 1)), sample]), []),
  );
  useEffect(() => {
    if (connection.kind !== 'connected') return;
    // The host samples only while someone watches; renew the watch while this panel is open.
    // A renewal cut short by a lost connection is not reported: the status bar says so, and the watch starts again on reconnect.
    const watch = () =>
      api['hardware.watch']().catch((e: unknown) => {
        if (!isDisconnected(e)) report(e, 'Could not start the live readings');
      });
    void watch();
    const timer = setInterval(() => void watch(), 5000);
    return () => clearInterval(timer);
  }, [api, connection.kind, report]);
  const last = samples[samples.length - 1];
  if (!last) return <p aria-busy="true">Waiting for the first live reading…</p>;
  const ramUsed = last.ramTotalBytes - last.ramFreeBytes;
  return (
    <section aria-labelledby="live-title" className="engine">
      <h2 id="live-title">Live</h2>
      <dl className="facts" aria-label="Live readings">
        <dt>RAM in use</dt>
        <dd>
          {formatBytes(ramUsed)} of {formatBytes(last.ramTotalBytes)}
          <Sparkline
            values={samples.map((s) => s.ramTotalBytes - s.ramFreeBytes)}
            max={last.ramTotalBytes}
            label="RAM in use, last minutes"
          />
        </dd>
        {last.vramTotalBytes > 0 && (
          <>
            <dt>VRAM in use</dt>
            <dd>
              {formatBytes(last.vramUsedBytes)} of {formatBytes(last.vramTotalBytes)}
              <Sparkline values={samples.map((s) => s.vramUsedBytes)} max={last.vramTotalBytes} label="VRAM in use, last minutes" />
            </dd>
          </>
        )}
        <dt>Inference engine</dt>
        <dd>{last.workerRssBytes === null ? 'not running' : `${formatBytes(last.workerRssBytes)} of memory`}</dd>
        <dt>Loaded model</dt>
        <dd>
          {last.model
            ? `${last.model.name}: ${last.model.gpuLayers}/${last.model.totalLayers} layers on the GPU, ${last.model.contextSize.toLocaleString()}-token context${last.model.parallel > 1 ? `, up to ${last.model.parallel} replies at once` : ''}`
            : 'none'}
        </dd>
        <dt>Generating</dt>
        <dd>
          {last.tokensPerSecond === null
            ? 'idle'
            : `${last.tokensPerSecond.toFixed(1)} tokens/s${(last.running ?? 0) > 1 ? ` (${last.running} replies)` : ''}`}
          <Sparkline values={samples.map((s) => s.tokensPerSecond)} label="Tokens per second, last minutes" />
        </dd>
      </dl>
    </section>
  );
}
