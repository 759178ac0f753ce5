/**
 * What the server engine reads from a model's GGUF header: the header itself
 * (with the file's size), the context it was trained for, the automatic
 * context on llama.cpp's server, and whether llama-server keeps checkpoints of
 * its context (which decides the path its replies take).
 */
import { openFileSource } from '../formats/file-source';
import { readGgufHeader, type GgufHeader } from '../formats/gguf-header';

/** The automatic context on llama.cpp's server: the model's trained size, at most `max` or 8,192 tokens. */
export const SERVER_AUTO_CONTEXT = 8192;

export async function headerOf(file: string): Promise<{ header: GgufHeader; size: number }> {
  const source = await openFileSource(file);
  try {
    return { header: await readGgufHeader(source), size: source.size };
  } finally {
    await source.close();
  }
}

export function trainedContext(header: GgufHeader): number | undefined {
  const trained = header.metadata.get(`${String(header.metadata.get('general.architecture'))}.context_length`);
  return typeof trained === 'number' && trained > 0 ? trained : undefined;
}

export async function serverAutoContext(modelPath: string, max: number | undefined): Promise<number> {
  const { header } = await headerOf(modelPath);
  const cap = Math.min(max ?? SERVER_AUTO_CONTEXT, SERVER_AUTO_CONTEXT);
  return Math.min(trainedContext(header) ?? cap, cap);
}

/**
 * Whether llama-server keeps checkpoints of the model's context at message
 * boundaries (recurrent and hybrid models, sliding-window attention): those
 * come from its chat path, so such a model's replies always take it.
 */
export function checkpointed(header: GgufHeader, architecture: string): boolean {
  return [...header.metadata.keys()].some(
    (key) => key.startsWith(`${architecture}.ssm.`) || key.startsWith(`${architecture}.attention.sliding_window`) || key.includes('.wkv.'),
  );
}
