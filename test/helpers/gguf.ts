import { readFileSync, writeFileSync } from 'node:fs';

const GGUF_TYPE_UINT32 = 4;

/**
 * Writes a copy of a GGUF file with one uint32 metadata value changed, e.g.
 * llama.attention.head_count = 0, which makes llama.cpp abort natively.
 */
export function writePatchedGguf(source: string, target: string, key: string, value: number): void {
  const data = readFileSync(source);
  const keyBytes = Buffer.from(key, 'utf8');
  const needle = Buffer.alloc(8 + keyBytes.length);
  needle.writeBigUInt64LE(BigInt(keyBytes.length), 0);
  keyBytes.copy(needle, 8);
  const at = data.indexOf(needle);
  if (at < 0) throw new Error(`${key} not found in ${source}`);
  const typeAt = at + needle.length;
  if (data.readUInt32LE(typeAt) !== GGUF_TYPE_UINT32) throw new Error(`${key} is not a uint32 in ${source}`);
  data.writeUInt32LE(value, typeAt + 4);
  writeFileSync(target, data);
}
