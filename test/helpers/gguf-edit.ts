import { readFileSync, writeFileSync } from 'node:fs';
import { tensorTypes } from '../../electron/formats/gguf-header';
import { GgufType, ggufScalarSize, ggufString } from '../../electron/formats/gguf-types';

/**
 * A GGUF file taken apart into metadata entries and tensors, to be edited and
 * written back as a well-formed file (offsets, alignment and data re-laid out).
 * Tests use it to write files whose metadata and tensors disagree in ways a
 * byte patch cannot express: a tensor removed or renamed, a shape changed.
 */
export interface EditableGguf {
  version: number;
  /** Each value is kept as its raw bytes: the type (u32) followed by the value. */
  metadata: Array<{ key: string; raw: Buffer }>;
  tensors: Array<{ name: string; dims: number[]; type: number; data: Buffer }>;
}

function valueLength(data: Buffer, at: number, type: number): number {
  if (type === GgufType.STRING) return 8 + Number(data.readBigUInt64LE(at));
  if (type === GgufType.ARRAY) {
    const elementType = data.readUInt32LE(at);
    const count = Number(data.readBigUInt64LE(at + 4));
    let length = 12;
    for (let i = 0; i < count; i += 1) length += valueLength(data, at + length, elementType);
    return length;
  }
  const size = ggufScalarSize[type];
  if (size === undefined) throw new Error(`unknown value type ${type}`);
  return size;
}

function readString(data: Buffer, at: number): [string, number] {
  const length = Number(data.readBigUInt64LE(at));
  return [data.toString('utf8', at + 8, at + 8 + length), at + 8 + length];
}

function tensorBytes(dims: number[], type: number): number {
  const [, blockSize, typeSize] = tensorTypes[type]!;
  return (dims.reduce((a, b) => a * b, 1) / blockSize) * typeSize;
}

export function parseGguf(data: Buffer): EditableGguf {
  const version = data.readUInt32LE(4);
  const tensorCount = Number(data.readBigUInt64LE(8));
  const kvCount = Number(data.readBigUInt64LE(16));
  let at = 24;
  const metadata: EditableGguf['metadata'] = [];
  let alignment = 32;
  for (let i = 0; i < kvCount; i += 1) {
    const [key, next] = readString(data, at);
    const type = data.readUInt32LE(next);
    const end = next + 4 + valueLength(data, next + 4, type);
    metadata.push({ key, raw: Buffer.from(data.subarray(next, end)) });
    if (key === 'general.alignment') alignment = data.readUInt32LE(next + 4);
    at = end;
  }
  const infos: Array<{ name: string; dims: number[]; type: number; offset: number }> = [];
  for (let i = 0; i < tensorCount; i += 1) {
    const [name, next] = readString(data, at);
    const nDims = data.readUInt32LE(next);
    const dims = Array.from({ length: nDims }, (_, d) => Number(data.readBigUInt64LE(next + 4 + d * 8)));
    const type = data.readUInt32LE(next + 4 + nDims * 8);
    const offset = Number(data.readBigUInt64LE(next + 8 + nDims * 8));
    infos.push({ name, dims, type, offset });
    at = next + 16 + nDims * 8;
  }
  const dataStart = Math.ceil(at / alignment) * alignment;
  const tensors = infos.map((t) => ({
    name: t.name,
    dims: t.dims,
    type: t.type,
    data: Buffer.from(data.subarray(dataStart + t.offset, dataStart + t.offset + tensorBytes(t.dims, t.type))),
  }));
  return { version, metadata, tensors };
}

/** Writes the file; a tensor whose dims changed gets its data cut or zero-padded to fit. */
export function serializeGguf(gguf: EditableGguf, alignment = 32): Buffer {
  const head = Buffer.alloc(24);
  head.write('GGUF', 0, 'latin1');
  head.writeUInt32LE(gguf.version, 4);
  head.writeBigUInt64LE(BigInt(gguf.tensors.length), 8);
  head.writeBigUInt64LE(BigInt(gguf.metadata.length), 16);
  const parts: Buffer[] = [head];
  for (const { key, raw } of gguf.metadata) parts.push(ggufString(key), raw);
  const datas: Buffer[] = [];
  let offset = 0;
  for (const tensor of gguf.tensors) {
    const info = Buffer.alloc(4 + tensor.dims.length * 8 + 12);
    info.writeUInt32LE(tensor.dims.length, 0);
    tensor.dims.forEach((dim, d) => info.writeBigUInt64LE(BigInt(dim), 4 + d * 8));
    info.writeUInt32LE(tensor.type, 4 + tensor.dims.length * 8);
    info.writeBigUInt64LE(BigInt(offset), 8 + tensor.dims.length * 8);
    parts.push(ggufString(tensor.name), info);
    const bytes = tensorBytes(tensor.dims, tensor.type);
    const data = Buffer.alloc(Math.ceil(bytes / alignment) * alignment);
    tensor.data.copy(data, 0, 0, Math.min(bytes, tensor.data.length));
    datas.push(data);
    offset += data.length;
  }
  const header = Buffer.concat(parts);
  const padding = Buffer.alloc((alignment - (header.length % alignment)) % alignment);
  return Buffer.concat([header, padding, ...datas]);
}

/** Sets (or adds) a uint32 metadata value. */
export function setUint32(gguf: EditableGguf, key: string, value: number): void {
  const raw = Buffer.alloc(8);
  raw.writeUInt32LE(GgufType.UINT32, 0);
  raw.writeUInt32LE(value, 4);
  const entry = gguf.metadata.find((m) => m.key === key);
  if (entry) entry.raw = raw;
  else gguf.metadata.push({ key, raw });
}

/** Sets (or adds) a string metadata value. */
export function setString(gguf: EditableGguf, key: string, value: string): void {
  const type = Buffer.alloc(4);
  type.writeUInt32LE(GgufType.STRING, 0);
  const raw = Buffer.concat([type, ggufString(value)]);
  const entry = gguf.metadata.find((m) => m.key === key);
  if (entry) entry.raw = raw;
  else gguf.metadata.push({ key, raw });
}

export function tensor(gguf: EditableGguf, name: string): EditableGguf['tensors'][number] {
  const found = gguf.tensors.find((t) => t.name === name);
  if (!found) throw new Error(`no tensor ${name}`);
  return found;
}

/** Reads `source`, applies `edit`, writes `target`. */
export function writeEditedGguf(source: string, target: string, edit: (gguf: EditableGguf) => void): void {
  const gguf = parseGguf(readFileSync(source));
  edit(gguf);
  writeFileSync(target, serializeGguf(gguf));
}
