import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { RpcError } from '../../shared/errors';

/** Reports a failure to the user: what was being done (optional) and why it failed. */
export type ReportProblem = (error: unknown, doing?: string) => void;

interface Problem {
  id: number;
  text: string;
}

const ReportContext = createContext<ReportProblem | null>(null);
const ListContext = createContext<{ problems: Problem[]; dismiss: (id: number) => void }>({ problems: [], dismiss: () => undefined });

/** The most shown at once: a failure repeating every few seconds must not bury the view. */
const KEEP = 4;

/** A failure in words: its message, after what was being done. */
export function describeFailure(error: unknown, doing?: string): string {
  const message =
    error instanceof Error ? error.message : typeof error === 'string' ? error : error === undefined ? 'unknown error' : safeString(error);
  return doing ? `${doing}: ${message}` : message;
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A call that failed because the connection is down: the status bar says so already, and queries run again on reconnect. */
export function isDisconnected(error: unknown): boolean {
  return error instanceof RpcError && error.code === 'disconnected';
}

/**
 * Holds the failures no view shows inline (a click whose call failed, a
 * promise nobody awaited, an exception in an event handler) until dismissed.
 * `window` reports what slipped through: unhandled rejections and errors.
 */
export function ProblemsProvider({ children }: { children: ReactNode }) {
  const [problems, setProblems] = useState<Problem[]>([]);
  const nextId = useRef(1);
  const report = useCallback<ReportProblem>((error, doing) => {
    const text = describeFailure(error, doing);
    setProblems((list) => (list.some((p) => p.text === text) ? list : [...list, { id: nextId.current++, text }].slice(-KEEP)));
  }, []);
  const dismiss = useCallback((id: number) => setProblems((list) => list.filter((p) => p.id !== id)), []);

  useEffect(() => {
    const onRejection = (event: PromiseRejectionEvent) => report(event.reason, 'Something failed without being handled');
    const onError = (event: ErrorEvent) => {
      // Chromium reports a ResizeObserver that could not deliver every size in one frame (the virtualized lists) as an error; it is not one.
      if (/^ResizeObserver loop/.test(event.message ?? '')) return;
      report(event.error ?? event.message, 'Something went wrong');
    };
    window.addEventListener('unhandledrejection', onRejection);
    window.addEventListener('error', onError);
    return () => {
      window.removeEventListener('unhandledrejection', onRejection);
      window.removeEventListener('error', onError);
    };
  }, [report]);

  const list = useMemo(() => ({ problems, dismiss }), [problems, dismiss]);
  return (
    <ReportContext.Provider value={report}>
      <ListContext.Provider value={list}>{children}</ListContext.Provider>
    </ReportContext.Provider>
  );
}

/** Outside a ProblemsProvider (a component rendered alone in a test) failures go to the console. */
const toConsole: ReportProblem = (error, doing) => console.error(describeFailure(error, doing));

export function useReportProblem(): ReportProblem {
  return useContext(ReportContext) ?? toConsole;
}

/** The failures reported, each an alert with a Dismiss button. */
export function Problems() {
  const { problems, dismiss } = useContext(ListContext);
  if (problems.length === 0) return null;
  return (
    <section className="problems" aria-label="Problems">
      {problems.map((problem) => (
        <div key={problem.id} className="notice notice-error" role="alert">
          <span>{problem.text}</span>
          <button type="button" className="dismiss" onClick={() => dismiss(problem.id)}>
            Dismiss
          </button>
        </div>
      ))}
    </section>
  );
}
