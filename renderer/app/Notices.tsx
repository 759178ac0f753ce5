import { useCallback } from 'react';
import type { Notice } from '../../shared/contract';
import { useHostApi, useHostEvent, useHostQuery } from './host-context';
import { useReportProblem } from './problems';

/** Problems the host reports (a corrupt settings file replaced, a crash) until dismissed. */
export function Notices() {
  const api = useHostApi();
  const report = useReportProblem();
  const [notices, setNotices] = useHostQuery('app.notices');
  useHostEvent(
    'onNotice',
    useCallback((notice: Notice) => setNotices((list = []) => [...list.filter((n) => n.id !== notice.id), notice]), [setNotices]),
  );
  if (notices.status !== 'ready' || notices.data.length === 0) return null;
  return (
    <section className="notices" aria-label="Notices">
      {notices.data.map((notice) => (
        <div key={notice.id} className={`notice notice-${notice.level}`} role={notice.level === 'error' ? 'alert' : 'status'}>
          <span>{notice.message}</span>
          <button
            type="button"
            aria-label="Dismiss notice"
            onClick={() =>
              api['app.dismissNotice']({ id: notice.id }).then(setNotices, (e: unknown) => report(e, 'Could not dismiss the notice'))
            }
          >
            ×
          </button>
        </div>
      ))}
    </section>
  );
}
