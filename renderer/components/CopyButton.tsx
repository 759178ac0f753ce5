import { useState } from 'react';
import { useReportProblem } from '../app/problems';
import { copyText } from './clipboard';

/** Copies `text`; says "Copied" for a moment, or reports why it could not. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  const report = useReportProblem();
  return (
    <button
      type="button"
      className="secondary"
      aria-label={label}
      onClick={() =>
        copyText(text).then(
          () => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          },
          (e: unknown) => report(e, 'Could not copy'),
        )
      }
    >
      {copied ? 'Copied' : 'Copy'}
    </button>
  );
}
