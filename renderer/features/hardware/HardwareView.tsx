import { useLocation } from 'wouter';
import { formatBytes } from '../../../shared/format';
import { useHostQuery } from '../../app/host-context';
import { ApiServerPanel } from './ApiServerPanel';
import { BenchmarkPanel } from './BenchmarkPanel';
import { EngineControls } from './EngineControls';
import { EnginesPanel } from './EnginesPanel';
import { InferenceEngine } from './InferenceEngine';
import { LivePanel } from './LivePanel';
import { MachinesPanel } from './MachinesPanel';
import { ModelFits } from './ModelFits';
import { SplitPanel } from './SplitPanel';

export function HardwareView() {
  const [system] = useHostQuery('system.info', undefined, { showsError: true });
  const [info] = useHostQuery('app.info');
  // #/hardware/machines: the Machines section, scrolled into view.
  const [location] = useLocation();
  return (
    <section className="view" aria-labelledby="hardware-title">
      <header className="view-header">
        <h1 id="hardware-title">Hardware</h1>
        <p className="muted">What this machine has, and what Freehold runs on.</p>
      </header>
      {system.status === 'error' && <p role="alert">Could not read system information: {system.message}</p>}
      {system.status === 'loading' && <p aria-busy="true">Reading system information…</p>}
      {system.status === 'ready' && (
        <dl className="facts" aria-label="This machine">
          <dt>Operating system</dt>
          <dd>{system.data.os}</dd>
          <dt>Processor</dt>
          <dd>{system.data.cpuModel}</dd>
          <dt>Logical cores</dt>
          <dd>{system.data.logicalCores}</dd>
          <dt>Memory</dt>
          <dd>
            {formatBytes(system.data.memoryFreeBytes)} free of {formatBytes(system.data.memoryTotalBytes)}
          </dd>
          {info.status === 'ready' && (
            <>
              <dt>Data folder</dt>
              <dd className="mono">{info.data.dataDir}</dd>
            </>
          )}
        </dl>
      )}
      <InferenceEngine />
      <LivePanel />
      <EngineControls />
      <ApiServerPanel />
      <MachinesPanel scrollIntoView={location === '/machines'} />
      <EnginesPanel />
      <SplitPanel />
      <ModelFits />
      <BenchmarkPanel />
    </section>
  );
}
