/**
 * Numbers as people read them, the same in the app, the CLI and the host's
 * messages. Sizes count in binary units under the familiar names: 1 GB here is
 * 1024³ bytes, as OS tools show RAM and VRAM.
 */

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const units = ['B', 'KB', 'MB', 'GB', 'TB'];

/** In the largest unit that keeps the number readable: "512 B", "1.5 KB", "9.0 GB", "120 GB"; "?" when unknown. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  let value = bytes;
  let unit = 0;
  while (value >= KiB && unit < units.length - 1) {
    value /= KiB;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** Always in GB, for memory amounts side by side: "7.3 GB", "0.5 GB"; `decimals` 2 for disk space. */
export function formatGb(bytes: number, decimals = 1): string {
  return `${(bytes / GiB).toFixed(decimals)} GB`;
}

/** A file or download size: "4.37 GB" from 1 GB up, "512.0 MB" below it. */
export function formatSize(bytes: number): string {
  return bytes >= GiB ? formatGb(bytes, 2) : `${(bytes / MiB).toFixed(1)} MB`;
}

/** A parameter count: 292800 → "293K", 7_240_000_000 → "7.2B"; "?" when unknown (0). */
export function formatParams(count: number): string {
  if (!count) return '?';
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${Math.round(count / 1e6)}M`;
  return `${Math.round(count / 1e3)}K`;
}

/** Time left: "42 s", "3 min 5 s", "2 h 10 min"; empty when unknown. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.ceil((seconds % 3600) / 60)} min`;
}

/** A download or like count: 950 → "950", 12_300 → "12.3K", 4_500_000 → "4.5M". */
export function formatCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}
