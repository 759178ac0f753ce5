import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import { openFileSource } from '../library/file-source';
import { GgufError, readGgufHeader, type GgufHeader } from '../library/gguf-header';

/**
 * Checks a model file before anything trusts it: the common mistakes get a
 * plain answer (missing, a folder), and the GGUF header check catches damaged
 * or hostile files, including values llama.cpp would abort on.
 */
export async function checkModelFile(modelPath: string): Promise<GgufHeader> {
  if (!path.isAbsolute(modelPath)) throw new RpcError('invalid_model', `The model path must be absolute: ${modelPath}`);
  const name = path.basename(modelPath);
  let stat;
  try {
    stat = await fs.stat(modelPath);
  } catch {
    throw new RpcError('invalid_model', `Model file not found: ${modelPath}`);
  }
  if (stat.isDirectory()) throw new RpcError('invalid_model', `${name} is a folder, not a GGUF model file.`);
  if (!stat.isFile()) throw new RpcError('invalid_model', `${name} is not a regular file.`);
  let source;
  try {
    source = await openFileSource(modelPath);
  } catch (error) {
    throw new RpcError('invalid_model', `Cannot read ${name}: ${(error as Error).message}`);
  }
  try {
    return await readGgufHeader(source);
  } catch (error) {
    if (error instanceof GgufError) throw new RpcError('invalid_model', `${name} cannot be used: ${error.message}`);
    throw new RpcError('invalid_model', `Cannot read ${name}: ${(error as Error).message}`);
  } finally {
    await source.close();
  }
}
