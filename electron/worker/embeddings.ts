/**
 * Embeddings, from their own model slot, so that an embedding model and a chat
 * model can both stay loaded (retrieval alternates between the two).
 */
import path from 'node:path';
import type { Llama, LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp';
import { RpcError } from '../../shared/errors';
import type { EmbedInput, EmbedResult } from '../../shared/inference';
import type { LlamaLog } from './llama-log';
import { describeLoadError, isMemoryError } from './model-loading';

export class Embedder {
  private current: { path: string; model: LlamaModel; context: LlamaEmbeddingContext; contextSize: number } | undefined;

  constructor(
    private readonly llama: Llama,
    private readonly llamaLog: LlamaLog,
    private readonly threads: number,
  ) {}

  /** Loads the embedding model when it is not the one loaded, then embeds each input. */
  async embed(input: EmbedInput): Promise<EmbedResult> {
    if (this.current?.path !== input.modelPath) {
      await this.unload();
      let model: LlamaModel;
      const log = this.llamaLog.capture();
      try {
        model = await this.llama.loadModel({ modelPath: input.modelPath, gpuLayers: 'auto' });
        log.stop();
      } catch (error) {
        if (!isMemoryError(error)) throw describeLoadError(input.modelPath, error, await log.reasonFor(error));
        log.stop();
        throw new RpcError('out_of_memory', `Not enough memory to load ${path.basename(input.modelPath)} for embeddings.`);
      }
      try {
        const context = await model.createEmbeddingContext({ threads: this.threads });
        this.current = { path: input.modelPath, model, context, contextSize: model.trainContextSize };
      } catch (error) {
        await model.dispose();
        throw describeLoadError(input.modelPath, error);
      }
    }
    const embedder = this.current!;
    const vectors: number[][] = [];
    let promptTokens = 0;
    for (const [index, text] of input.inputs.entries()) {
      const tokens = embedder.model.tokenize(text);
      if (tokens.length > embedder.contextSize) {
        throw new RpcError(
          'invalid_input',
          `Input ${index} is ${tokens.length} tokens long; this model embeds at most ${embedder.contextSize}.`,
        );
      }
      promptTokens += tokens.length;
      const embedding = await embedder.context.getEmbeddingFor(tokens);
      vectors.push([...embedding.vector]);
    }
    return { vectors, promptTokens };
  }

  /** The embedding model loaded, if any. */
  get modelPath(): string | undefined {
    return this.current?.path;
  }

  async unload(): Promise<void> {
    const embedder = this.current;
    this.current = undefined;
    if (embedder) {
      await embedder.context.dispose();
      await embedder.model.dispose();
    }
  }
}
