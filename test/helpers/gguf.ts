import { readFileSync, writeFileSync } from 'node:fs';
import { GgufType, ggufString } from '../../electron/formats/gguf-types';

/**
 * Writes a copy of a GGUF file with one uint32 metadata value changed, e.g.
 * llama.attention.head_count = 0, which makes llama.cpp abort natively.
 */
export function writePatchedGguf(source: string, target: string, key: string, value: number): void {
  const data = readFileSync(source);
  const needle = ggufString(key);
  const at = data.indexOf(needle);
  if (at < 0) throw new Error(`${key} not found in ${source}`);
  const typeAt = at + needle.length;
  if (data.readUInt32LE(typeAt) !== GgufType.UINT32) throw new Error(`${key} is not a uint32 in ${source}`);
  data.writeUInt32LE(value, typeAt + 4);
  writeFileSync(target, data);
}

/**
 * Writes a copy of a GGUF file with a uint32 metadata key added (e.g.
 * llama.pooling_type = 1, which makes it an embedding model to Freehold). A
 * padding string key keeps the tensor data at its alignment.
 */
export function writeGgufWithAddedKey(source: string, target: string, key: string, value: number, alignment = 32): void {
  const data = readFileSync(source);
  const keyBytes = Buffer.from(key, 'utf8');
  const added = Buffer.alloc(8 + keyBytes.length + 8);
  added.writeBigUInt64LE(BigInt(keyBytes.length), 0);
  keyBytes.copy(added, 8);
  added.writeUInt32LE(GgufType.UINT32, 8 + keyBytes.length);
  added.writeUInt32LE(value, 12 + keyBytes.length);
  const padKey = Buffer.from('freehold.test_padding', 'utf8');
  const fixed = added.length + 8 + padKey.length + 4 + 8;
  const padLength = (alignment - (fixed % alignment)) % alignment;
  const pad = Buffer.alloc(8 + padKey.length + 4 + 8 + padLength, 0x20);
  pad.writeBigUInt64LE(BigInt(padKey.length), 0);
  padKey.copy(pad, 8);
  pad.writeUInt32LE(GgufType.STRING, 8 + padKey.length);
  pad.writeBigUInt64LE(BigInt(padLength), 12 + padKey.length);
  const header = Buffer.from(data.subarray(0, 24));
  header.writeBigUInt64LE(header.readBigUInt64LE(16) + 2n, 16);
  writeFileSync(target, Buffer.concat([header, added, pad, data.subarray(24)]));
}
