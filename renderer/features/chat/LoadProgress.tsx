import { useCallback, useState } from 'react';
import { useHostEvent } from '../../app/host-context';

export interface ModelLoading {
  name: string;
  progress: number;
}

/** The model being loaded for a reply, from `onLoadProgress`; null when none is. */
export function useModelLoading(): ModelLoading | null {
  const [loading, setLoading] = useState<ModelLoading | null>(null);
  useHostEvent(
    'onLoadProgress',
    useCallback(
      (p: { modelPath: string; progress: number }) =>
        setLoading(p.progress >= 1 ? null : { name: p.modelPath.split(/[\\/]/).pop() ?? 'model', progress: p.progress }),
      [],
    ),
  );
  return loading;
}

/** Its name and how far along. */
export function LoadProgress({ loading }: { loading: ModelLoading | null }) {
  if (!loading) return null;
  return (
    <div
      role="progressbar"
      aria-label={`Loading ${loading.name}`}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(loading.progress * 100)}
      className="bar"
    >
      <div style={{ width: `${loading.progress * 100}%` }} />
    </div>
  );
}
