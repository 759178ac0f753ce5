import { useHostQuery } from '../../app/host-context';
import { formatBytes } from '../../../shared/format';
import { FitBadge } from '../models/FitBadge';

/** Every library model against the memory free now. */
export function ModelFits() {
  const [fits] = useHostQuery('hardware.fit', 'onLibraryChanged');
  if (fits.status !== 'ready' || fits.data.length === 0) return null;
  return (
    <section aria-labelledby="fits-title" className="engine">
      <h2 id="fits-title">Your models on this machine</h2>
      <table className="attempts">
        <caption>Estimated with the memory free now</caption>
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">Size</th>
            <th scope="col">Fit</th>
            <th scope="col">Why</th>
          </tr>
        </thead>
        <tbody>
          {fits.data.map((f) => (
            <tr key={f.modelId}>
              <th scope="row">{f.name}</th>
              <td>{formatBytes(f.sizeBytes)}</td>
              <td>
                <FitBadge fit={f.fit} />
              </td>
              <td>{f.fit.explanation}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
