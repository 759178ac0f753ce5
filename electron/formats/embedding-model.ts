import { openFileSource } from './file-source';
import { readGgufHeader } from './gguf-header';

const encoderArchitectures = new Set([
  'bert',
  'nomic-bert',
  'nomic-bert-moe',
  'jina-bert-v2',
  'jina-bert-v3',
  'neo-bert',
  'modern-bert',
  't5encoder',
  'gemma-embedding',
]);

/**
 * Embedding models are encoders, or say how to pool their output
 * (`<arch>.pooling_type`, e.g. Qwen3-Embedding); a chat model's "embeddings"
 * are not fit for search, so those are refused rather than served.
 */
export async function isEmbeddingModel(file: string): Promise<boolean> {
  const source = await openFileSource(file);
  try {
    const header = await readGgufHeader(source);
    const arch = header.metadata.get('general.architecture');
    if (typeof arch !== 'string') return false;
    const pooling = header.metadata.get(`${arch}.pooling_type`);
    return encoderArchitectures.has(arch) || (typeof pooling === 'number' && pooling > 0);
  } finally {
    await source.close();
  }
}
