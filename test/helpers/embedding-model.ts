import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { setString, setUint32, writeEditedGguf } from './gguf-edit';
import { defaultCacheDir, ensureTestModel } from './test-model';

/**
 * A tiny embedding model for tests: stories260K (the real tiny Llama the tests
 * use) marked as an embedding model, with mean pooling (`llama.pooling_type` =
 * 1), as Qwen3-Embedding marks itself (with last-token pooling). Its weights
 * were never trained for retrieval, so its vectors test the plumbing: the
 * same text always gives the same vector, so a passage's own text finds it
 * first. 64 dimensions.
 */
export async function ensureEmbeddingModel(cacheDir = defaultCacheDir()): Promise<string> {
  const file = path.join(cacheDir, 'stories260K-embedding-mean.gguf');
  if (existsSync(file)) return file;
  const source = await ensureTestModel();
  mkdirSync(cacheDir, { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  writeEditedGguf(source, partial, (gguf) => {
    setUint32(gguf, 'llama.pooling_type', 1);
    setString(gguf, 'general.name', 'stories260K embedding (test)');
  });
  renameSync(partial, file);
  return file;
}

export const EMBEDDING_TEST_DIMS = 64;
