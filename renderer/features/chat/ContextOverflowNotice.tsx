import type { ReplyFailure } from '../../../shared/chat';

const n = (value: number) => value.toLocaleString('en-US');

/**
 * A reply refused because the message does not fit in the model's context:
 * the numbers, and a larger context where the model's trained context and the
 * memory free now allow one; otherwise what to do instead.
 */
export function ContextOverflowNotice({
  failure,
  busy,
  onUseContext,
}: {
  failure: ReplyFailure;
  /** Another reply is being written: the offer waits. */
  busy: boolean;
  onUseContext: (contextSize: number) => void;
}) {
  return (
    <div className="notice context-overflow" role="alert">
      <p>
        This message is longer than the model&apos;s context: with the system prompt it comes to {n(failure.requiredTokens)} tokens, and the{' '}
        {n(failure.contextSize)}-token context has room for {n(failure.maxPromptTokens)} beside a reply.
      </p>
      {failure.largerContextSize !== null ? (
        <button type="button" disabled={busy} onClick={() => onUseContext(failure.largerContextSize!)}>
          Use a {n(failure.largerContextSize)}-token context
        </button>
      ) : failure.largerContextLimit === 'memory' ? (
        <p>A context large enough needs more memory than is free now: shorten the message (Edit), or close other programs and retry.</p>
      ) : (
        <p>
          The model was trained for {n(failure.trainContextSize)} tokens at most, so a larger context would not help: shorten the message
          (Edit), or split it over several messages.
        </p>
      )}
    </div>
  );
}
