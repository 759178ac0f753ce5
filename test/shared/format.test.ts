import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatGb, formatParams, formatSize } from '../../shared/format';

const MB = 1024 ** 2;
const GB = 1024 ** 3;

describe('shared formatters', () => {
  it('formats bytes in the largest readable unit, as the app shows them', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(9 * GB)).toBe('9.0 GB');
    expect(formatBytes(120 * GB)).toBe('120 GB');
    expect(formatBytes(-1)).toBe('?');
    expect(formatBytes(Number.NaN)).toBe('?');
  });

  it('formats memory in GB and file sizes in GB or MB, as the CLI and the host messages show them', () => {
    expect(formatGb(7.34 * GB)).toBe('7.3 GB');
    expect(formatGb(0.5 * GB)).toBe('0.5 GB');
    expect(formatGb(0.5 * GB, 2)).toBe('0.50 GB');
    expect(formatSize(4.372 * GB)).toBe('4.37 GB');
    expect(formatSize(GB)).toBe('1.00 GB');
    expect(formatSize(512 * MB)).toBe('512.0 MB');
    expect(formatSize(0)).toBe('0.0 MB');
  });

  it('formats parameter counts, durations and counts', () => {
    expect(formatParams(292_800)).toBe('293K');
    expect(formatParams(494_000_000)).toBe('494M');
    expect(formatParams(7_240_000_000)).toBe('7.2B');
    expect(formatParams(0)).toBe('?');
    expect(formatDuration(42.2)).toBe('43 s');
    expect(formatDuration(185)).toBe('3 min 5 s');
    expect(formatDuration(7800)).toBe('2 h 10 min');
    expect(formatDuration(null)).toBe('');
    expect(formatCount(950)).toBe('950');
    expect(formatCount(12_300)).toBe('12.3K');
    expect(formatCount(4_500_000)).toBe('4.5M');
  });
});
