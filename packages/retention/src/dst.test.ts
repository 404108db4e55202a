import { describe, expect, it } from 'vitest';
import { explainPurge, formatTimestamp, parseTimestamp } from './index.js';

// A zone with DST. Set before any Date is used in this file (each test file has its own worker).
process.env.TZ = 'Europe/Paris';

describe('ages across a DST change', () => {
  it('are wall-clock differences, like 3.x subtracting naive datetimes', () => {
    // Clocks go back from 03:00 CEST to 02:00 CET on 2026-10-25: 01:30 -> 03:30 is 3 real
    // hours but 2 on the wall clock, so 3.x sees a snapshot 2h old: younger than 150m.
    const now = new Date(2026, 9, 25, 3, 30);
    expect(now.getTime() - new Date(2026, 9, 25, 1, 30).getTime()).toBe(3 * 3_600_000);
    const [entry] = explainPurge(['foo@2026-10-25T01:30:00.000000'], '150m:1d', now);
    expect(entry?.reason).toBe('kept: younger than 150m');
  });

  it('still writes and reads local time', () => {
    const summer = new Date(2026, 6, 1, 12, 0, 0, 5);
    expect(formatTimestamp(summer)).toBe('2026-07-01T12:00:00.005000');
    expect(parseTimestamp('2026-07-01T12:00:00.005000')?.getTime()).toBe(summer.getTime());
    expect(summer.toISOString()).toBe('2026-07-01T10:00:00.005Z');
  });
});
