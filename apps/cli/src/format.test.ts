import { describe, expect, it } from 'vitest';
import { formatAge, formatBytes, formatDuration, formatTable, formatTime } from './format.js';

describe('formatAge', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [45_000, '45s'],
    [60_000, '1m'],
    [12 * 60_000 + 5_000, '12m 5s'],
    [2 * 3_600_000 + 5 * 60_000 + 59_000, '2h 5m'],
    [2 * 3_600_000 + 30_000, '2h'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d 4h'],
    [400 * 86_400_000, '400d'],
    [-5_000, 'in the future'],
    [Number.NaN, '?'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});

describe('formatBytes and formatDuration', () => {
  it('uses binary units with one decimal below 100', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(150 * 2 ** 20)).toBe('150 MiB');
    expect(formatBytes(2.25 * 2 ** 30)).toBe('2.3 GiB');
    expect(formatBytes(-1)).toBe('?');
  });

  it('shows seconds with a decimal, then minutes', () => {
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(75_000)).toBe('1m 15s');
  });
});

describe('formatTable', () => {
  it('aligns columns and trims trailing blanks', () => {
    expect(
      formatTable([
        ['A', 'LONG HEADER', ''],
        ['long value', 'b', ''],
      ]),
    ).toBe('A           LONG HEADER\nlong value  b');
  });
});

describe('formatTime', () => {
  it('shows a dash for a job that never ran and keeps unreadable text', () => {
    expect(formatTime(null)).toBe('-');
    expect(formatTime(undefined)).toBe('-');
    expect(formatTime('soon')).toBe('soon');
    expect(formatTime(new Date(2026, 10, 24, 9, 5).toISOString())).toBe('2026-11-24 09:05');
  });
});
