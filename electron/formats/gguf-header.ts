/**
 * A bounded GGUF header check, run before any file is registered or loaded.
 * Every count, length, size and offset is checked against the file's size
 * before it is trusted (llama.cpp CVE-2024-21802, CVE-2024-23605,
 * CVE-2026-27940), and the values llama.cpp aborts on are refused. It never
 * reads tensor data, only the header, through a small reader that works on a
 * local file or on HTTP range requests alike.
 */
import { GgufType, ggufScalarSize } from './gguf-types';

export class GgufError extends Error {
  override readonly name = 'GgufError';
}

/** Random access to a file's bytes: a local file or a remote one read by range. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** ggml tensor types: [name, elements per block, bytes per block]. Gaps are removed types. */
export const tensorTypes: Record<number, [string, number, number]> = {
  0: ['F32', 1, 4],
  1: ['F16', 1, 2],
  2: ['Q4_0', 32, 18],
  3: ['Q4_1', 32, 20],
  6: ['Q5_0', 32, 22],
  7: ['Q5_1', 32, 24],
  8: ['Q8_0', 32, 34],
  9: ['Q8_1', 32, 36],
  10: ['Q2_K', 256, 84],
  11: ['Q3_K', 256, 110],
  12: ['Q4_K', 256, 144],
  13: ['Q5_K', 256, 176],
  14: ['Q6_K', 256, 210],
  15: ['Q8_K', 256, 292],
  16: ['IQ2_XXS', 256, 66],
  17: ['IQ2_XS', 256, 74],
  18: ['IQ3_XXS', 256, 98],
  19: ['IQ1_S', 256, 50],
  20: ['IQ4_NL', 32, 18],
  21: ['IQ3_S', 256, 110],
  22: ['IQ2_S', 256, 82],
  23: ['IQ4_XS', 256, 136],
  24: ['I8', 1, 1],
  25: ['I16', 1, 2],
  26: ['I32', 1, 4],
  27: ['I64', 1, 8],
  28: ['F64', 1, 8],
  29: ['IQ1_M', 256, 56],
  30: ['BF16', 1, 2],
  34: ['TQ1_0', 256, 54],
  35: ['TQ2_0', 256, 66],
  39: ['MXFP4', 32, 17],
  40: ['NVFP4', 64, 36],
};

/** llama.cpp's general.file_type values, as the quantization people know them by. */
const fileTypes: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  7: 'Q8_0',
  8: 'Q5_0',
  9: 'Q5_1',
  10: 'Q2_K',
  11: 'Q3_K_S',
  12: 'Q3_K_M',
  13: 'Q3_K_L',
  14: 'Q4_K_S',
  15: 'Q4_K_M',
  16: 'Q5_K_S',
  17: 'Q5_K_M',
  18: 'Q6_K',
  19: 'IQ2_XXS',
  20: 'IQ2_XS',
  21: 'Q2_K_S',
  22: 'IQ3_XS',
  23: 'IQ3_XXS',
  24: 'IQ1_S',
  25: 'IQ4_NL',
  26: 'IQ3_S',
  27: 'IQ3_M',
  28: 'IQ2_S',
  29: 'IQ2_M',
  30: 'IQ4_XS',
  31: 'IQ1_M',
  32: 'BF16',
  36: 'TQ1_0',
  37: 'TQ2_0',
  38: 'MXFP4_MOE',
};

export interface GgufLimits {
  /** Largest header this check will read (the file's size bounds it too). */
  maxHeaderBytes: number;
  maxStringBytes: number;
  maxTensorCount: number;
  maxKvCount: number;
}

export const defaultLimits: GgufLimits = {
  maxHeaderBytes: 512 * 1024 * 1024,
  maxStringBytes: 64 * 1024 * 1024,
  maxTensorCount: 1_000_000,
  maxKvCount: 1_000_000,
};

export type GgufValue = number | bigint | boolean | string | GgufArraySummary;

/** Arrays (tokenizer vocabularies) are summarized: their length and, for short ones, the values. */
export interface GgufArraySummary {
  type: 'array';
  elementType: number;
  length: number;
  values?: Array<number | bigint | boolean | string>;
}

export interface GgufTensorInfo {
  name: string;
  dims: number[];
  type: number;
  offset: number;
  bytes: number;
}

export interface GgufHeader {
  version: number;
  tensorCount: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Where tensor data starts. */
  dataOffset: number;
  /** Bytes of tensor data this file must hold (data offset + last tensor end). */
  requiredBytes: number;
}

/** Reads forward through a ByteSource in chunks, never past its size. */
class Cursor {
  private buffer: Uint8Array = new Uint8Array(0);
  private bufferStart = 0;
  offset = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly limit: number,
  ) {}

  private async ensure(length: number, what: string): Promise<DataView> {
    if (length < 0 || this.offset + length > this.source.size) {
      throw new GgufError(
        `The file ends inside the header (${what} at byte ${this.offset} needs ${length} bytes; the file has ${this.source.size}).`,
      );
    }
    if (this.offset + length > this.limit) throw new GgufError(`The header is larger than the ${this.limit}-byte limit (at ${what}).`);
    const end = this.offset + length;
    if (this.offset < this.bufferStart || end > this.bufferStart + this.buffer.length) {
      const chunk = Math.min(Math.max(length, 1024 * 1024), this.source.size - this.offset);
      this.buffer = await this.source.read(this.offset, chunk);
      this.bufferStart = this.offset;
      if (this.buffer.length < length) throw new GgufError(`The file could not be read at byte ${this.offset} (${what}).`);
    }
    const view = new DataView(this.buffer.buffer, this.buffer.byteOffset + (this.offset - this.bufferStart), length);
    this.offset = end;
    return view;
  }

  async bytes(length: number, what: string): Promise<Uint8Array> {
    const view = await this.ensure(length, what);
    return new Uint8Array(view.buffer, view.byteOffset, length);
  }

  async u32(what: string): Promise<number> {
    return (await this.ensure(4, what)).getUint32(0, true);
  }

  async u64(what: string): Promise<number> {
    const value = (await this.ensure(8, what)).getBigUint64(0, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(`${what} is impossibly large (${value}).`);
    return Number(value);
  }

  async string(what: string, maxBytes: number): Promise<string> {
    const length = await this.u64(`${what} length`);
    if (length > maxBytes) throw new GgufError(`${what} is ${length} bytes long, over the ${maxBytes}-byte limit.`);
    if (this.offset + length > this.source.size) {
      throw new GgufError(`${what} claims ${length} bytes but the file ends ${this.source.size - this.offset} bytes later.`);
    }
    const view = await this.ensure(length, what);
    return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(view.buffer, view.byteOffset, length));
  }

  async scalar(type: number, what: string): Promise<number | bigint | boolean> {
    const size = ggufScalarSize[type];
    if (size === undefined) throw new GgufError(`${what} has unknown value type ${type}.`);
    const view = await this.ensure(size, what);
    switch (type) {
      case GgufType.UINT8:
        return view.getUint8(0);
      case GgufType.INT8:
        return view.getInt8(0);
      case GgufType.UINT16:
        return view.getUint16(0, true);
      case GgufType.INT16:
        return view.getInt16(0, true);
      case GgufType.UINT32:
        return view.getUint32(0, true);
      case GgufType.INT32:
        return view.getInt32(0, true);
      case GgufType.FLOAT32:
        return view.getFloat32(0, true);
      case GgufType.BOOL: {
        const b = view.getUint8(0);
        if (b > 1) throw new GgufError(`${what} is a boolean with value ${b}.`);
        return b === 1;
      }
      case GgufType.UINT64: {
        const v = view.getBigUint64(0, true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case GgufType.INT64: {
        const v = view.getBigInt64(0, true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
      }
      default:
        return view.getFloat64(0, true);
    }
  }

  skip(length: number, what: string): void {
    if (this.offset + length > this.source.size) {
      throw new GgufError(`${what} claims ${length} bytes but the file ends ${this.source.size - this.offset} bytes later.`);
    }
    this.offset += length;
  }
}

const MAX_ARRAY_VALUES_KEPT = 64;

async function readValue(cursor: Cursor, type: number, key: string, limits: GgufLimits, remaining: () => number): Promise<GgufValue> {
  if (type === GgufType.STRING) return cursor.string(`value of ${key}`, limits.maxStringBytes);
  if (type !== GgufType.ARRAY) return cursor.scalar(type, `value of ${key}`);
  const elementType = await cursor.u32(`array type of ${key}`);
  const length = await cursor.u64(`array length of ${key}`);
  if (elementType === GgufType.ARRAY) throw new GgufError(`${key} is an array of arrays, which llama.cpp does not accept.`);
  const minElement = elementType === GgufType.STRING ? 8 : ggufScalarSize[elementType];
  if (minElement === undefined) throw new GgufError(`${key} is an array of unknown type ${elementType}.`);
  if (length * minElement > remaining()) {
    throw new GgufError(`${key} claims ${length} elements, more than the ${remaining()} bytes left in the file can hold.`);
  }
  const summary: GgufArraySummary = { type: 'array', elementType, length };
  const keep = length <= MAX_ARRAY_VALUES_KEPT;
  const values: Array<number | bigint | boolean | string> = [];
  if (elementType !== GgufType.STRING && !keep) {
    cursor.skip(length * minElement, `array ${key}`);
    return summary;
  }
  for (let i = 0; i < length; i += 1) {
    const value =
      elementType === GgufType.STRING
        ? await cursor.string(`${key}[${i}]`, limits.maxStringBytes)
        : await cursor.scalar(elementType, `${key}[${i}]`);
    if (keep) values.push(value);
  }
  if (keep) summary.values = values;
  return summary;
}

function positiveInteger(metadata: Map<string, GgufValue>, key: string): number | undefined {
  const value = metadata.get(key);
  if (value === undefined) return undefined;
  if (typeof value === 'object') {
    // Per-layer arrays (some architectures): every entry must be usable.
    const values = value.values ?? [];
    if (values.length === 0) throw new GgufError(`${key} is an empty array.`);
    for (const v of values) if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new GgufError(`${key} holds ${String(v)}.`);
    return Math.max(...(values as number[]));
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new GgufError(`${key} is ${String(value)}, not a whole number.`);
  return value;
}

/** The values llama.cpp divides by or sizes buffers with, and aborts on when zero or inconsistent. */
function checkModelParameters(metadata: Map<string, GgufValue>): void {
  const arch = metadata.get('general.architecture');
  if (arch === undefined) return; // a split shard after the first, or a non-model GGUF (LoRA adapters name one too)
  if (typeof arch !== 'string' || arch.length === 0 || arch.length > 100) throw new GgufError('general.architecture is not a usable name.');
  const mustBePositive = ['block_count', 'embedding_length', 'attention.head_count', 'context_length'];
  for (const name of mustBePositive) {
    const key = `${arch}.${name}`;
    const value = positiveInteger(metadata, key);
    if (value === 0) throw new GgufError(`${key} is 0; llama.cpp would abort loading this model.`);
  }
  const heads = positiveInteger(metadata, `${arch}.attention.head_count`);
  const kvHeads = positiveInteger(metadata, `${arch}.attention.head_count_kv`);
  if (kvHeads === 0 && heads !== undefined)
    throw new GgufError(`${arch}.attention.head_count_kv is 0; llama.cpp would abort loading this model.`);
  if (heads && kvHeads && heads % kvHeads !== 0) {
    throw new GgufError(`${arch}.attention.head_count (${heads}) is not a multiple of head_count_kv (${kvHeads}).`);
  }
  const tokens = metadata.get('tokenizer.ggml.tokens');
  if (typeof tokens === 'object' && tokens.length === 0) throw new GgufError('tokenizer.ggml.tokens is empty.');
}

/** Parses and checks a GGUF header. Throws GgufError naming the first problem found. */
export async function readGgufHeader(source: ByteSource, limits: GgufLimits = defaultLimits): Promise<GgufHeader> {
  const cursor = new Cursor(source, Math.min(limits.maxHeaderBytes, source.size));
  if (source.size >= 4 && new TextDecoder().decode(await cursor.bytes(4, 'magic')) !== 'GGUF') {
    throw new GgufError('This is not a GGUF file (it does not start with "GGUF").');
  }
  if (source.size < 24) throw new GgufError(`The file is ${source.size} bytes, too short for a GGUF header.`);
  const version = await cursor.u32('version');
  if (version !== 2 && version !== 3) throw new GgufError(`GGUF version ${version} is not supported (2 and 3 are).`);
  const tensorCount = await cursor.u64('tensor count');
  const kvCount = await cursor.u64('metadata count');
  const remaining = () => source.size - cursor.offset;
  // Each metadata entry takes at least 13 bytes and each tensor entry at least 29.
  if (kvCount > limits.maxKvCount || kvCount * 13 > remaining())
    throw new GgufError(`The header claims ${kvCount} metadata entries, more than the file can hold.`);
  if (tensorCount > limits.maxTensorCount || tensorCount * 29 > remaining())
    throw new GgufError(`The header claims ${tensorCount} tensors, more than the file can hold.`);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i += 1) {
    const key = await cursor.string(`metadata key #${i}`, 65_536);
    if (key.length === 0) throw new GgufError(`Metadata key #${i} is empty.`);
    if (metadata.has(key)) throw new GgufError(`Metadata key ${key} appears twice.`);
    const type = await cursor.u32(`type of ${key}`);
    if (type > GgufType.FLOAT64) throw new GgufError(`${key} has unknown value type ${type}.`);
    metadata.set(key, await readValue(cursor, type, key, limits, remaining));
  }

  const alignmentValue = metadata.get('general.alignment') ?? 32;
  if (
    typeof alignmentValue !== 'number' ||
    alignmentValue <= 0 ||
    alignmentValue > 1 << 20 ||
    (alignmentValue & (alignmentValue - 1)) !== 0
  ) {
    throw new GgufError(`general.alignment is ${String(alignmentValue)}, not a power of two.`);
  }
  const alignment = alignmentValue;

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i += 1) {
    const name = await cursor.string(`name of tensor #${i}`, 65_536);
    if (names.has(name)) throw new GgufError(`Tensor ${name} appears twice.`);
    names.add(name);
    const nDims = await cursor.u32(`dimension count of ${name}`);
    if (nDims < 1 || nDims > 4) throw new GgufError(`Tensor ${name} has ${nDims} dimensions (1 to 4 allowed).`);
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d += 1) {
      const dim = await cursor.u64(`dimension ${d} of ${name}`);
      if (dim === 0) throw new GgufError(`Tensor ${name} has a dimension of 0.`);
      dims.push(dim);
      elements *= BigInt(dim);
      if (elements > 1n << 60n) throw new GgufError(`Tensor ${name} has impossibly many elements.`);
    }
    const type = await cursor.u32(`type of ${name}`);
    const traits = tensorTypes[type];
    if (!traits) throw new GgufError(`Tensor ${name} has unknown type ${type}.`);
    const [typeName, blockSize, typeSize] = traits;
    if (dims[0]! % blockSize !== 0)
      throw new GgufError(`Tensor ${name} (${typeName}) has a row of ${dims[0]} elements, not a multiple of its block size ${blockSize}.`);
    const offset = await cursor.u64(`offset of ${name}`);
    if (offset % alignment !== 0) throw new GgufError(`Tensor ${name} starts at offset ${offset}, not aligned to ${alignment}.`);
    const bytes = Number((elements / BigInt(blockSize)) * BigInt(typeSize));
    tensors.push({ name, dims, type, offset, bytes });
  }

  const dataOffset = Math.ceil(cursor.offset / alignment) * alignment;
  let requiredBytes = dataOffset;
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  let previousEnd = 0;
  for (const tensor of sorted) {
    if (tensor.offset < previousEnd) throw new GgufError(`Tensor ${tensor.name} overlaps the tensor before it.`);
    previousEnd = tensor.offset + tensor.bytes;
    const end = dataOffset + previousEnd;
    if (end > source.size) {
      throw new GgufError(
        `Tensor ${tensor.name} ends at byte ${end}, past the end of the file (${source.size} bytes): the file is truncated or damaged.`,
      );
    }
    requiredBytes = Math.max(requiredBytes, end);
  }

  checkModelParameters(metadata);
  return { version, tensorCount, metadata, tensors, alignment, dataOffset, requiredBytes };
}

export interface ModelFacts {
  name: string | null;
  architecture: string | null;
  parameterCount: number;
  quantization: string | null;
  contextLength: number | null;
  hasChatTemplate: boolean;
  license: string | null;
  baseModel: string | null;
  split: { index: number; count: number } | null;
}

function str(metadata: Map<string, GgufValue>, key: string): string | null {
  const value = metadata.get(key);
  return typeof value === 'string' ? value : null;
}

/** What the library shows about a model, from its header. */
export function modelFacts(header: GgufHeader): ModelFacts {
  const m = header.metadata;
  const arch = str(m, 'general.architecture');
  const fileType = m.get('general.file_type');
  const ctx = arch ? m.get(`${arch}.context_length`) : undefined;
  const splitCount = m.get('split.count');
  const splitNo = m.get('split.no');
  let quantization = typeof fileType === 'number' ? (fileTypes[fileType] ?? null) : null;
  if (!quantization && header.tensors.length > 0) {
    // No file_type: name it after the most common tensor type.
    const counts = new Map<number, number>();
    for (const t of header.tensors) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
    const top = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
    quantization = top ? (tensorTypes[top[0]]?.[0] ?? null) : null;
  }
  return {
    name: str(m, 'general.name'),
    architecture: arch,
    parameterCount: header.tensors.reduce((sum, t) => sum + t.dims.reduce((a, b) => a * b, 1), 0),
    quantization,
    contextLength: typeof ctx === 'number' ? ctx : null,
    hasChatTemplate: typeof m.get('tokenizer.chat_template') === 'string',
    license: str(m, 'general.license'),
    baseModel: str(m, 'general.base_model.0.repo_url') ?? str(m, 'general.base_model.0.name'),
    split: typeof splitCount === 'number' && typeof splitNo === 'number' && splitCount > 1 ? { index: splitNo, count: splitCount } : null,
  };
}
