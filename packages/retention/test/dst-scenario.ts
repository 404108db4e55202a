// DST checks of calendar policies, run by one test file per zone (each sets process.env.TZ
// before any Date is made: a test file has its own worker). Not shipped.
import { describe, expect, it } from 'vitest';
import { explainPurge, formatTimestamp, planPurge } from '../src/index.js';

const MINUTE = 60_000;

/** Snapshots every 20 real minutes from `from` to `to` (local dates), named in local time. */
function every20Minutes(from: Date, to: Date): string[] {
  const names = new Set<string>();
  for (let t = from.getTime(); t <= to.getTime(); t += 20 * MINUTE) {
    names.add(`v@${formatTimestamp(new Date(t))}`);
  }
  return [...names];
}

/**
 * Around a DST change on local day `day` (of month `month`, 0-based, of 2026): every calendar
 * day keeps one snapshot, its last (23:40 on the clock, whether the day had 23 or 25 hours),
 * and every wall-clock hour keeps its newest (xx:40); `skipped` is an hour label that does not
 * exist that day (spring forward) or undefined (fall back: the repeated hour is one bucket).
 */
function checkDstDay(month: number, day: number, skipped: string | undefined): void {
  const names = every20Minutes(
    new Date(2026, month, day - 1),
    new Date(2026, month, day + 1, 23, 59),
  );
  const now = new Date(2026, month, day + 2, 0, 30);

  const daily = explainPurge(names, 'daily=5', now).filter((e) => e.decision === 'keep');
  expect(daily.map((e) => e.name.slice(2, 18))).toEqual(
    [day - 1, day, day + 1].map((d) =>
      formatTimestamp(new Date(2026, month, d, 23, 40)).slice(0, 16),
    ),
  );

  const hourly = explainPurge(names, 'hourly=100', now).filter((e) => e.decision === 'keep');
  for (const e of hourly) expect(e.name.slice(16, 18)).toBe('40');
  const labels = hourly.map((e) => e.reason);
  expect(new Set(labels).size).toBe(labels.length);
  // 72 wall-clock hours, less one on the day the clock skips an hour.
  expect(hourly).toHaveLength(skipped === undefined ? 72 : 71);
  if (skipped) expect(labels.join('\n')).not.toContain(skipped);
}

/** `now` read in an injected zone, whatever the process's own zone is. */
function checkInjectedZone(): void {
  // 03:30 UTC on Nov 25: 04:30 on the 25th in Paris, 22:30 on the 24th in New York.
  const now = new Date(Date.UTC(2026, 10, 25, 3, 30));
  const names = ['v@2026-11-25T01:00:00.000000', 'v@2026-11-24T22:00:00.000000'];
  expect(planPurge(names, 'daily=1', now, { timeZone: 'Europe/Paris' }).purge).toEqual([names[1]]);
  expect(
    explainPurge(names, 'daily=1', now, { timeZone: 'America/New_York' }).map((e) => e.reason),
  ).toEqual(['kept: dated in the future', 'kept: newest of 2026-11-24 (daily)']);
}

/** The DST suite for the process's zone: its spring-forward and fall-back days of 2026. */
export function describeDst(
  zone: string,
  spring: { month: number; day: number; skipped: string },
  fall: { month: number; day: number },
): void {
  describe(`calendar policies across DST in ${zone}`, () => {
    it(`spring forward (${spring.skipped} does not exist): one per day, one per existing hour`, () => {
      checkDstDay(spring.month, spring.day, spring.skipped);
    });

    it('fall back (an hour twice): one per day, the repeated hour is one bucket', () => {
      checkDstDay(fall.month, fall.day, undefined);
    });

    it('reads now in an injected zone rather than the process one', () => {
      checkInjectedZone();
    });
  });
}
