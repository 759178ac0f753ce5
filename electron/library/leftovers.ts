import { promises as fs } from 'node:fs';
import path from 'node:path';
import { formatSize } from '../../shared/format';
import type { DownloadJob } from '../../shared/hub';
import type { ModelEntry } from '../../shared/library';
import { processIsAlive, removeStaleTempFiles } from '../platform/atomic-file';

/** Folders in the models folder are named by Freehold's ids (newId). */
const ID = /^[a-z0-9]{12}$/;
/** What Freehold writes in them: a model or its shards, and their partial files (copies name their writer's pid). */
const COMPLETE = /^model(?:-(\d{5})-of-(\d{5}))?\.gguf$/;
const PARTIAL = /^model(?:-\d{5}-of-\d{5})?\.gguf(?:\.(\d+))?\.partial$/;
/**
 * A folder with no running writer to ask about (an empty one, a download's
 * partial whose job is not listed, a finished copy) is left alone until it has
 * not changed for this long: another Freehold process sharing the data folder
 * may have just made it.
 */
const QUIET_MS = 10 * 60 * 1000;

export interface LeftoverOptions {
  dataDir: string;
  modelsDir: string;
  /** The library's entries: the folders their files are in are in use. */
  models: ModelEntry[];
  /** The download queue's jobs: one that is not done or canceled keeps its folder, partial file included, to resume. */
  downloads: DownloadJob[];
  /** Registers the finished copy in `files` under the id `id`; throws if the files fail the check. */
  recover: (id: string, files: string[]) => Promise<ModelEntry>;
  log: (line: string) => void;
  now?: number;
}

export interface LeftoverReport {
  unfinished: number;
  empty: number;
  damaged: number;
  temporary: number;
  bytes: number;
  recovered: ModelEntry[];
}

function isCompleteSet(names: string[]): boolean {
  if (names.length === 1 && names[0] === 'model.gguf') return true;
  const shards = names.map((name) => COMPLETE.exec(name)).map((m) => (m?.[1] ? { index: Number(m[1]), count: Number(m[2]) } : null));
  const count = shards[0]?.count;
  return (
    count !== undefined &&
    count === names.length &&
    shards.every((s) => s !== null && s.count === count) &&
    new Set(shards.map((s) => s!.index)).size === count &&
    shards.every((s) => s!.index >= 1 && s!.index <= count)
  );
}

/**
 * Cleans what a crash or a kill left behind, at start: temporary files of
 * atomic writes in the data folder, and folders under the models folder that
 * no library entry and no resumable download uses. Only what is provably
 * stale goes: a partial copy whose writer (named in the file) is no longer
 * running, or a folder unchanged for ten minutes. A finished copy that never
 * reached the index is checked and registered rather than deleted: its bytes
 * were verified before it was renamed into place, and it may be gigabytes the
 * user asked for. Nothing outside Freehold's own names is touched: no link is
 * followed, and a folder holding any file Freehold never writes is left as is.
 */
export async function cleanLeftovers(options: LeftoverOptions): Promise<LeftoverReport> {
  const now = options.now ?? Date.now();
  const report: LeftoverReport = { unfinished: 0, empty: 0, damaged: 0, temporary: 0, bytes: 0, recovered: [] };

  for (const temp of await removeStaleTempFiles(options.dataDir, now)) {
    options.log(`removed the stale temporary file ${temp.file}`);
    report.temporary += 1;
    report.bytes += temp.bytes;
  }

  const usedIds = new Set([
    ...options.models.map((m) => m.id),
    ...options.downloads.filter((j) => j.state !== 'done' && j.state !== 'canceled').map((j) => j.id),
  ]);
  const usedDirs = new Set(options.models.flatMap((m) => m.files.map((f) => path.dirname(path.resolve(f)))));
  let names: string[];
  try {
    names = await fs.readdir(options.modelsDir);
  } catch {
    return report;
  }
  for (const name of names.sort()) {
    if (!ID.test(name) || usedIds.has(name)) continue;
    const dir = path.resolve(options.modelsDir, name);
    try {
      const dirStat = await fs.lstat(dir);
      if (!dirStat.isDirectory()) continue; // a link or a file: not Freehold's to judge
      if (usedDirs.has(dir) || usedDirs.has(await fs.realpath(dir))) continue;
      const entries = await fs.readdir(dir, { withFileTypes: true });
      if (entries.some((e) => !e.isFile() || !(COMPLETE.test(e.name) || PARTIAL.test(e.name)))) {
        options.log(`left ${dir} alone: it holds files Freehold does not write`);
        continue;
      }
      let newest = dirStat.mtimeMs;
      let bytes = 0;
      for (const entry of entries) {
        const stat = await fs.lstat(path.join(dir, entry.name));
        newest = Math.max(newest, stat.mtimeMs);
        bytes += stat.size;
      }
      const partials = entries.filter((e) => PARTIAL.test(e.name)).map((e) => PARTIAL.exec(e.name)![1]);
      if (partials.some((pid) => pid !== undefined && processIsAlive(Number(pid)))) continue; // another process is copying
      const writersGone = partials.length > 0 && partials.every((pid) => pid !== undefined);
      if (!writersGone && now - newest < QUIET_MS) continue;

      const complete = entries.map((e) => e.name).filter((n) => COMPLETE.test(n));
      if (partials.length === 0 && complete.length > 0 && isCompleteSet(complete)) {
        const files = complete.sort().map((n) => path.join(dir, n));
        try {
          const model = await options.recover(name, files);
          options.log(`registered the finished copy ${dir} as ${model.name}`);
          report.recovered.push(model);
          continue;
        } catch (error) {
          options.log(`${dir} failed its check: ${(error as Error).message}`);
          report.damaged += 1;
        }
      } else if (entries.length === 0) {
        report.empty += 1;
      } else {
        report.unfinished += 1;
      }
      for (const entry of entries) await fs.unlink(path.join(dir, entry.name));
      await fs.rmdir(dir);
      report.bytes += bytes;
      options.log(`removed the leftover ${dir}`);
    } catch (error) {
      options.log(`could not clean ${dir}: ${(error as Error).message}`);
    }
  }
  return report;
}

function count(n: number, one: string, many: string): string | null {
  return n === 0 ? null : `${n} ${n === 1 ? one : many}`;
}

function listed(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

function size(bytes: number): string {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : formatSize(bytes);
}

/** The notice for a cleanup, or null when there was nothing to do. */
export function describeLeftovers(report: LeftoverReport): string | null {
  const removed = [
    count(report.unfinished, 'unfinished copy', 'unfinished copies'),
    count(report.empty, 'empty model folder', 'empty model folders'),
    count(report.damaged, 'copy that failed its check', 'copies that failed their check'),
    count(report.temporary, 'temporary file', 'temporary files'),
  ].filter((s): s is string => s !== null);
  const parts: string[] = [];
  if (removed.length > 0) parts.push(`removed ${listed(removed)} (${size(report.bytes)})`);
  if (report.recovered.length > 0) {
    const copies = count(report.recovered.length, 'finished copy', 'finished copies')!;
    parts.push(`added ${copies} to the library (${report.recovered.map((m) => m.name).join(', ')})`);
  }
  return parts.length === 0 ? null : `Freehold cleaned up after an interrupted session: ${parts.join('; ')}.`;
}
