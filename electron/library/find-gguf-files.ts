import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileIdentity } from './file-identity';

interface Found {
  file: string;
  /** Reached through a link (to it or to a folder on the way): a plain path is preferred. */
  linked: boolean;
}

/**
 * Every .gguf file under `root`, 8 levels deep at most, skipping hidden
 * folders. Links are followed, but each real folder is walked once (a link
 * back to a parent would otherwise list its files hundreds of times) and each
 * file is listed once, under its plain path where it has one. Folders are
 * walked breadth first, plain ones before linked ones. An unreadable subfolder
 * is skipped; an unreadable `root` throws.
 */
export async function findGgufFiles(root: string, maxDepth = 8): Promise<string[]> {
  const walked = new Set<string>();
  const found = new Map<string, Found>();
  const plain: Array<{ dir: string; depth: number; linked: boolean }> = [{ dir: root, depth: 0, linked: false }];
  const viaLinks: typeof plain = [];
  while (plain.length > 0 || viaLinks.length > 0) {
    const next = plain.shift() ?? viaLinks.shift()!;
    const id = await fileIdentity(next.dir);
    if (id === null || walked.has(id)) continue;
    walked.add(id);
    let entries;
    try {
      entries = await fs.readdir(next.dir, { withFileTypes: true });
    } catch (error) {
      if (next.dir === root) throw error;
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(next.dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      const isLink = entry.isSymbolicLink();
      if (isLink) {
        const target = await fs.stat(full).catch(() => undefined);
        isDir = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDir) {
        if (next.depth < maxDepth) (isLink ? viaLinks : plain).push({ dir: full, depth: next.depth + 1, linked: next.linked || isLink });
      } else if (isFile && /\.gguf$/i.test(entry.name)) {
        const key = (await fileIdentity(full)) ?? full;
        const linked = next.linked || isLink;
        const seen = found.get(key);
        if (!seen || (seen.linked && !linked)) found.set(key, { file: full, linked });
      }
    }
  }
  return [...found.values()].map((f) => f.file).sort();
}
