const units = ['B', 'KB', 'MB', 'GB', 'TB'];

/** Bytes in the units people read on disks and memory sticks (1 GB = 1024³ B, as OS tools show RAM). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
