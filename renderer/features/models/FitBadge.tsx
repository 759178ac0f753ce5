import type { Fit } from '../../../shared/hub';

export const fitText: Record<Fit['verdict'], string> = { gpu: 'Fits on GPU', ram: 'Fits in RAM, slower', no: "Won't fit" };

/** "Fits on GPU" / "Fits in RAM, slower" / "Won't fit", with the numbers on hover; "fit unknown" where nobody said. */
export function FitBadge({ fit }: { fit: Fit | null | undefined }) {
  if (!fit) return <span className="badge badge-muted">fit unknown</span>;
  return (
    <span className={`badge fit-${fit.verdict}`} title={fit.explanation}>
      {fitText[fit.verdict]}
    </span>
  );
}

/**
 * "Sees images" / "Hears audio": what a model takes besides text, with its
 * projector (`detail`: its type or file, on hover). Nothing for a text-only model.
 */
export function SensesBadges({ vision, audio, detail }: { vision: boolean; audio: boolean; detail?: string | null }) {
  const title = detail ?? undefined;
  return (
    <>
      {vision && (
        <span className="badge badge-senses" title={title}>
          Sees images
        </span>
      )}
      {audio && (
        <span className="badge badge-senses" title={title}>
          Hears audio
        </span>
      )}
    </>
  );
}
