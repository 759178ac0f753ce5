import path from 'node:path';

const SPLIT = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;

export interface SplitName {
  prefix: string;
  index: number;
  count: number;
}

/** "model-00002-of-00003.gguf" → { prefix: "model", index: 2, count: 3 }. */
export function parseSplitName(file: string): SplitName | null {
  const match = SPLIT.exec(path.basename(file));
  if (!match) return null;
  const index = Number(match[2]);
  const count = Number(match[3]);
  if (index < 1 || count < 2 || index > count) return null;
  return { prefix: match[1]!, index, count };
}

export function shardName(prefix: string, index: number, count: number): string {
  return `${prefix}-${String(index).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`;
}

/** All shard paths of the split model `file` belongs to, in order; [file] if it is not split. */
export function shardPaths(file: string): string[] {
  const split = parseSplitName(file);
  if (!split) return [file];
  const dir = path.dirname(file);
  return Array.from({ length: split.count }, (_, i) => path.join(dir, shardName(split.prefix, i + 1, split.count)));
}
