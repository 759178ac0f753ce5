/**
 * The typed refusal of a prompt that does not fit the loaded context, with the
 * numbers, and a larger context where the memory free now would hold one.
 */
import os from 'node:os';
import type { Llama } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import type { ContextOverflow } from '../../shared/inference';
import { largerContextFor } from './context-fit';
import type { Loaded } from './slots';

/** The typed refusal of a prompt that does not fit, with a larger context where one would do. */
export async function contextOverflow(
  llama: Llama,
  loaded: Loaded,
  input: 'messages' | 'prompt',
  maxTokens: number | undefined,
  counts: Pick<ContextOverflow, 'promptTokens' | 'requiredTokens' | 'replyTokens' | 'maxPromptTokens'>,
): Promise<RpcError> {
  const contextSize = loaded.context.contextSize;
  const trainContextSize = loaded.model.trainContextSize;
  const larger = largerContextFor(counts.requiredTokens, maxTokens, contextSize, trainContextSize);
  const fitsMemory = larger !== null && (await contextFitsMemory(llama, loaded, larger));
  const details: ContextOverflow = {
    ...counts,
    contextSize,
    trainContextSize,
    largerContextSize: fitsMemory ? larger : null,
    largerContextLimit: larger === null ? 'trained-context' : fitsMemory ? null : 'memory',
  };
  // Worded as OpenAI words it, since API clients show it as is; the chat view words its own.
  const message =
    input === 'messages'
      ? `This model's maximum context length is ${contextSize} tokens. However, your messages resulted in ${counts.promptTokens} tokens` +
        (counts.promptTokens > counts.requiredTokens
          ? `, and the last message with the system prompt alone is ${counts.requiredTokens} (older messages are left out when a conversation outgrows the context; the last one cannot be)`
          : '') +
        `; at most ${counts.maxPromptTokens} fit with room for a reply (${counts.replyTokens} tokens). Please reduce the length of the messages.`
      : `This model's maximum context length is ${contextSize} tokens. However, your prompt is ${counts.promptTokens} tokens; at most ${counts.maxPromptTokens} fit with room for the completion (${counts.replyTokens} tokens). Please reduce the length of the prompt.`;
  return new RpcError('context_length_exceeded', message, details);
}

/** Whether the memory free now holds a context of `size` in place of the loaded one. */
async function contextFitsMemory(llama: Llama, loaded: Loaded, size: number): Promise<boolean> {
  try {
    const estimate = (contextSize: number) =>
      loaded.model.fileInsights.estimateContextResourceRequirementsV2({
        contextSize,
        modelGpuLayers: loaded.model.gpuLayers,
        sequences: loaded.context.totalSequences,
        flashAttention: loaded.context.flashAttention,
      });
    const [now, next, vram] = await Promise.all([estimate(loaded.context.contextSize), estimate(size), llama.getVramState()]);
    return next.gpuVram - now.gpuVram <= vram.free && next.cpuRam - now.cpuRam <= os.freemem();
  } catch {
    return false;
  }
}
