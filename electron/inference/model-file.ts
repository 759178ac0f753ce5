import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RpcError } from '../../shared/errors';
import { openFileSource } from '../formats/file-source';
import { GgufError, readGgufHeader, type GgufHeader } from '../formats/gguf-header';
import { checkModelTensors } from '../formats/gguf-tensors';
import { NotRegularFileError, notRegularFile } from '../platform/regular-file';
import { shardPaths } from '../formats/gguf-split';

async function readHeader(file: string): Promise<GgufHeader> {
  const name = path.basename(file);
  let source;
  try {
    source = await openFileSource(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof NotRegularFileError) throw new RpcError('invalid_model', error.message);
    throw new RpcError('invalid_model', code === 'ENOENT' ? `${name} is missing.` : `Cannot read ${name}: ${(error as Error).message}`);
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

/**
 * Checks a model file before anything trusts it: the common mistakes get a
 * plain answer (missing, a folder), the GGUF header check catches damaged or
 * hostile files, including values llama.cpp would abort on, and the metadata
 * is checked against the tensors of every shard.
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
  if (!stat.isFile()) throw new RpcError('invalid_model', notRegularFile(modelPath, stat).message);
  const header = await readHeader(modelPath);
  const headers = [header];
  // llama.cpp finds the other shards of a split model by name, from the first.
  const splitCount = header.metadata.get('split.count');
  if (typeof splitCount === 'number' && splitCount > 1) {
    for (const shard of shardPaths(modelPath)) if (shard !== modelPath) headers.push(await readHeader(shard));
  }
  try {
    checkModelTensors(headers);
  } catch (error) {
    if (error instanceof GgufError) throw new RpcError('invalid_model', `${name} cannot be used: ${error.message}`);
    throw error;
  }
  return header;
}
