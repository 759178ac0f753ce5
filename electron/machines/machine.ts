import type { ChatMessage, DeltaPart, GenerateResult, Sampling } from '../../shared/inference';
import type { MachineInfo } from '../../shared/machines';

/** One reply to run on another machine: the conversation so far, as the local chat service would send its own worker. */
export interface RemoteGenerateInput {
  system?: string;
  messages: ChatMessage[];
  sampling?: Sampling;
  contextSize?: number;
}

export type DeltaParts = DeltaPart[];

/**
 * Another machine as the machines service drives it: a paired Freehold host
 * (over its link) or an OpenAI-compatible server. Each keeps its own state
 * (online, offline since …, retrying with backoff) and says when it changes.
 */
export interface MachineBackend {
  readonly id: string;
  /** The current picture: state, hardware, models (with fit where known), downloads. */
  info(): MachineInfo;
  /** Starts connecting (or polling), and keeps reconnecting with backoff. */
  start(): void;
  /** Tries again now rather than at the next backoff step. */
  reconnect(): void;
  /**
   * Streams a reply on `modelId` (that machine's id for it). Deltas arrive in
   * order through onDelta; the promise settles with the text and stats, or
   * rejects with an RpcError naming the machine and what happened (within
   * seconds when the machine stops answering). Aborting the signal stops the
   * reply on the machine and resolves with what was generated (stopReason "abort").
   */
  generate(
    modelId: string,
    requestId: string,
    input: RemoteGenerateInput,
    onDelta: (parts: DeltaParts) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult>;
  /** Called with the new picture whenever anything in it changes. */
  onChange(listener: (info: MachineInfo) => void): () => void;
  close(): Promise<void>;
}
