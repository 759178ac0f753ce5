import { formatSize } from '../../../shared/format';
import { findDevice, type PlacementCheck, type PlacementPlan } from '../../../shared/placement';

/**
 * Where the loaded model's layers went: per device (the CPU last), the layers
 * and memory planned, what llama.cpp reported it put there, and a bar of that
 * against what the device may use; then whether it went as planned.
 */
export function PlacementShares({ plan, check }: { plan: PlacementPlan; check?: PlacementCheck }) {
  const rows = [...plan.devices, plan.cpu];
  return (
    <div role="group" aria-label="Placement" className="placement-shares">
      <table className="attempts placement-table">
        <caption>
          Placement: {plan.gpuLayers} of {plan.totalLayers} layers on GPUs
          {plan.split !== 'none' ? `, split by ${plan.split}` : ''}
        </caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Layers</th>
            <th scope="col">Planned</th>
            <th scope="col">Measured</th>
            <th scope="col">May use</th>
            <th scope="col">Share</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => {
            const measured = check ? findDevice(check.devices, d.id) : undefined;
            const used = measured?.totalBytes ?? d.plannedBytes;
            const over = used > d.budgetBytes;
            const percent = d.budgetBytes > 0 ? Math.min(100, (used / d.budgetBytes) * 100) : 100;
            const label = `${d.id}: ${formatSize(used)} ${measured ? 'in use' : 'planned'} of ${formatSize(d.budgetBytes)}`;
            return (
              <tr key={d.id}>
                <th scope="row">
                  {d.id} <span className="muted">{d.name}</span>
                </th>
                <td>
                  {measured?.layers !== undefined && measured.layers !== d.layers ? `${measured.layers} (planned ${d.layers})` : d.layers}
                </td>
                <td>{formatSize(d.plannedBytes)}</td>
                <td className={over ? 'tone-bad' : undefined}>{measured ? formatSize(measured.totalBytes) : 'not reported'}</td>
                <td>{formatSize(d.budgetBytes)}</td>
                <td>
                  <div className={`bar placement-bar${over ? ' bar-warn' : ''}`} role="img" aria-label={label} title={label}>
                    <div style={{ width: `${percent}%` }} />
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {check ? (
        <p role="note" className={check.asPlanned ? 'tone-ok' : 'notice'}>
          {check.note}
        </p>
      ) : (
        <p className="muted">llama.cpp has not said yet what it put on each device.</p>
      )}
    </div>
  );
}
