import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RpcError } from '../../shared/errors';

/**
 * A quick check before a path goes to the worker, so that the common mistakes
 * get a plain answer: missing, a folder, not a GGUF, an unknown version, cut short.
 */
export async function checkModelFile(modelPath: string): Promise<void> {
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
  const header = Buffer.alloc(24);
  let read: number;
  try {
    const handle = await fs.open(modelPath, 'r');
    try {
      ({ bytesRead: read } = await handle.read(header, 0, header.length, 0));
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new RpcError('invalid_model', `Cannot read ${name}: ${(error as Error).message}`);
  }
  if (read < 4 || header.toString('latin1', 0, 4) !== 'GGUF') {
    throw new RpcError('invalid_model', `${name} is not a GGUF model file (it does not start with "GGUF").`);
  }
  if (read < 24) throw new RpcError('invalid_model', `${name} is truncated: ${stat.size} bytes is shorter than a GGUF header.`);
  const version = header.readUInt32LE(4);
  if (version !== 2 && version !== 3) throw new RpcError('invalid_model', `${name} uses GGUF version ${version}; versions 2 and 3 are supported.`);
}
