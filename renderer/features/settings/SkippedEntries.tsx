import { useState } from 'react';
import type { ToolsSnapshot } from '../../../shared/tools';
import { useHostApi } from '../../app/host-context';
import { describeFailure } from '../../app/problems';
import { RemoveButton } from './ToolServer';

/**
 * Entries of mcp.json that are left out (an SSE server, an entry that is not
 * valid), kept in the file as they are: why, and Remove to drop them.
 */
export function SkippedEntries({ skipped, onSnapshot }: { skipped: ToolsSnapshot['skipped']; onSnapshot: (next: ToolsSnapshot) => void }) {
  const api = useHostApi();
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  if (skipped.length === 0) return null;
  return (
    <div className="mcp-skipped">
      <h3 id="mcp-skipped-title">Left out of the file</h3>
      <p className="muted">These entries are kept in the file as they are, but not used. Fix them in the file, or remove them.</p>
      <ul aria-labelledby="mcp-skipped-title">
        {skipped.map((entry) => (
          <li key={entry.name}>
            <span>
              <span className="mono">{entry.name}</span>: {entry.reason}
            </span>{' '}
            <RemoveButton
              name={entry.name}
              busy={busy}
              onRemove={() => {
                setMessage(null);
                setBusy(true);
                api['tools.remove']({ name: entry.name })
                  .then(onSnapshot, (e: unknown) => setMessage(describeFailure(e, `Could not remove ${entry.name}`)))
                  .finally(() => setBusy(false));
              }}
            />
          </li>
        ))}
      </ul>
      {message && <p role="alert">{message}</p>}
    </div>
  );
}
