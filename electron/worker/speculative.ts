/**
 * Speculative decoding: a draft model that predicts for the target (checked to
 * share its vocabulary), or prompt lookup, as each slot's token predictor.
 */
import path from 'node:path';
import {
  DraftSequenceTokenPredictor,
  InputLookupTokenPredictor,
  type Llama,
  type LlamaContext,
  type LlamaModel,
  type TokenPredictor,
} from 'node-llama-cpp';
import type { LoadInput } from '../../shared/inference';

/**
 * Why a draft model cannot predict for the target, or null: speculative
 * decoding compares token ids, so both must have the same vocabulary (the
 * same tokens for the same ids, the same special tokens).
 */
export function vocabularyMismatch(target: LlamaModel, draft: LlamaModel): string | null {
  const a = target.tokens;
  const b = draft.tokens;
  if (target.vocabularyType !== draft.vocabularyType)
    return `their tokenizers differ (${target.vocabularyType} and ${draft.vocabularyType})`;
  const vocabSize = (m: LlamaModel) =>
    (m.fileInfo.metadata as unknown as { tokenizer?: { ggml?: { tokens?: readonly unknown[] } } }).tokenizer?.ggml?.tokens?.length;
  const sizeA = vocabSize(target);
  const sizeB = vocabSize(draft);
  if (sizeA !== undefined && sizeB !== undefined && sizeA !== sizeB)
    return `their vocabularies differ in size (${sizeA} and ${sizeB} tokens)`;
  if (a.bos !== b.bos || a.eos !== b.eos) return 'their beginning or end tokens differ';
  const probe = 'The quick brown fox jumps over the lazy dog. 1234 {"key": [true]}\n\tdef main():';
  const ta = target.tokenize(probe);
  const tb = draft.tokenize(probe);
  if (ta.length !== tb.length || ta.some((t, i) => t !== tb[i])) return 'they tokenize the same text differently';
  const count = sizeA ?? 0;
  for (let id = 0; id < count; id += Math.max(1, Math.floor(count / 997))) {
    if (target.detokenize([id as never], true) !== draft.detokenize([id as never], true)) return `token ${id} differs`;
  }
  return null;
}

/**
 * The draft model for speculative decoding, checked to share the target's
 * vocabulary, with a context of as many sequences. When it cannot be used,
 * the target loads without it and the note says why.
 */
export async function draftFor(
  llama: Llama,
  threads: number,
  target: LlamaModel,
  draftPath: string,
  context: LlamaContext,
): Promise<{ model?: LlamaModel; context?: LlamaContext; name: string; note?: string }> {
  const name = path.basename(draftPath, path.extname(draftPath));
  let draft: LlamaModel | undefined;
  try {
    draft = await llama.loadModel({ modelPath: draftPath, gpuLayers: 'auto' });
    const mismatch = vocabularyMismatch(target, draft);
    if (mismatch) {
      await draft.dispose();
      return { name, note: `${name} cannot draft for this model: ${mismatch}. It runs without a draft model.` };
    }
    const draftContext = await draft.createContext({
      contextSize: context.contextSize,
      sequences: context.totalSequences,
      threads,
    });
    return { model: draft, context: draftContext, name };
  } catch (error) {
    await draft?.dispose().catch(() => undefined);
    return {
      name,
      note: `The draft model ${name} could not be loaded (${(error as Error).message.split('\n')[0]}). It runs without a draft model.`,
    };
  }
}

/** A new token predictor for one slot's sequence, or none when the model runs without speculative decoding. */
export function tokenPredictorFor(
  speculative: LoadInput['speculative'],
  draftContext: LlamaContext | undefined,
): TokenPredictor | undefined {
  return speculative?.kind === 'prompt-lookup'
    ? new InputLookupTokenPredictor()
    : draftContext
      ? // The draft runs beside the model and never holds it up (waiting for a minimum of drafted tokens
        // deadlocked now and then in node-llama-cpp 3.22); its guesses are used when they are ready.
        new DraftSequenceTokenPredictor(draftContext.getSequence(), { maxTokens: 8 })
      : undefined;
}
