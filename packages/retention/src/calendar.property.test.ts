import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, bucketStart } from './calendar.js';
import { CALENDAR_UNITS, explainPurge, planPurge } from './index.js';

// Names are built from UTC fields, and `now` is read in UTC: wall clock = UTC here.
process.env.TZ = 'UTC';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A snapshot name for a wall-clock time given as UTC milliseconds. */
function nameAt(wall: number, volume = 'v'): string {
  return `${volume}@${new Date(wall).toISOString().slice(0, 23)}000`;
}

/** An independent bucket key, from Date's own calendar: [unit] → number. */
function bucketKey(unit: number, wall: number, weekStart: number): number {
  const d = new Date(wall);
  switch (unit) {
    case 0:
      return Math.floor(wall / HOUR);
    case 1:
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) / DAY;
    case 2: {
      const back = (d.getUTCDay() - weekStart + 7) % 7;
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - back) / DAY / 7;
    }
    case 3:
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    default:
      return d.getUTCFullYear();
  }
}

interface Policy {
  readonly text: string;
  readonly counts: number[];
  readonly minAge: number;
  readonly weekStart: number;
}

const policies: fc.Arbitrary<Policy> = fc
  .record({
    counts: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 }), fc.constant(-1)), {
      minLength: 5,
      maxLength: 5,
    }),
    minHours: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 72 })),
    weekStart: fc.integer({ min: 0, max: 6 }),
  })
  .filter(({ counts }) => counts.some((c) => c !== 0))
  .map(({ counts, minHours, weekStart }) => {
    const terms = counts.flatMap((c, u) =>
      c === 0 ? [] : [`${CALENDAR_UNITS[u]}=${c < 0 ? 'all' : c}`],
    );
    if (minHours > 0) terms.push(`min=${minHours}h`);
    terms.push(`weekstart=${['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][weekStart]}`);
    return {
      text: terms.join(','),
      counts: counts.map((c) => (c < 0 ? Number.POSITIVE_INFINITY : c)),
      minAge: minHours * HOUR,
      weekStart,
    };
  });

const nows = fc.integer({ min: Date.UTC(2001, 0, 1), max: Date.UTC(2090, 0, 1) });

// Ages biased to whole hours and days, so bucket edges happen; some in the future.
const ages = fc.oneof(
  fc.integer({ min: -DAY, max: 800 * DAY }),
  fc.integer({ min: 0, max: 2000 }).map((h) => h * HOUR),
  fc.integer({ min: 0, max: 900 }).map((d) => d * DAY - 1),
);

const scenes = fc.record({
  now: nows,
  policy: policies,
  ages: fc.array(ages, { maxLength: 80 }),
});

/** The set a calendar policy keeps, computed the slow, obvious way. */
function reference(walls: readonly number[], now: number, p: Policy): Set<number> {
  const keep = new Set<number>();
  // The newest snapshot, whatever the policy: no purge empties a volume's history.
  if (walls.length > 0) keep.add(Math.max(...walls));
  for (const w of walls) if (w > now || now - w < p.minAge) keep.add(w);
  p.counts.forEach((count, unit) => {
    if (count === 0) return;
    const current = bucketKey(unit, now, p.weekStart);
    const newest = new Map<number, number>();
    for (const w of walls) {
      if (w > now) continue;
      const key = bucketKey(unit, w, p.weekStart);
      if (current - key >= count) continue;
      if (!(newest.get(key)! >= w)) newest.set(key, w);
    }
    for (const w of newest.values()) keep.add(w);
  });
  return keep;
}

function wallsOf(now: number, list: readonly number[]): number[] {
  return [...new Set(list.map((age) => now - age))];
}

describe('calendar policies (properties)', () => {
  it('keep exactly what the obvious reference keeps', () => {
    fc.assert(
      fc.property(scenes, ({ now, policy, ages: list }) => {
        const walls = wallsOf(now, list);
        const names = walls.map((w) => nameAt(w));
        const { keep } = planPurge(names, policy.text, new Date(now));
        const expected = [...reference(walls, now, policy)].map((w) => nameAt(w)).sort();
        expect([...keep].sort()).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('with one unit: each bucket within the count keeps exactly one, its newest', () => {
    fc.assert(
      fc.property(
        nows,
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(ages, { maxLength: 80 }),
        (now, unit, count, list) => {
          const walls = wallsOf(now, list).filter((w) => w <= now);
          const text = `${CALENDAR_UNITS[unit]}=${count}`;
          const kept = new Set(
            planPurge(
              walls.map((w) => nameAt(w)),
              text,
              new Date(now),
            ).keep,
          );
          const current = bucketKey(unit, now, 1);
          const buckets = new Map<number, number[]>();
          for (const w of walls) {
            const key = bucketKey(unit, w, 1);
            buckets.set(key, [...(buckets.get(key) ?? []), w]);
          }
          for (const [key, members] of buckets) {
            const keptHere = members.filter((w) => kept.has(nameAt(w)));
            if (current - key < count) {
              expect(keptHere).toEqual([Math.max(...members)]);
            } else {
              // Outside the count only the volume's newest, which no purge deletes.
              const newest = Math.max(...walls);
              expect(keptHere.filter((w) => w !== newest)).toEqual([]);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('every kept snapshot says which bucket or rule kept it', () => {
    fc.assert(
      fc.property(scenes, ({ now, policy, ages: list }) => {
        const names = wallsOf(now, list).map((w) => nameAt(w));
        for (const e of explainPurge(names, policy.text, new Date(now))) {
          expect(e.reason).toMatch(
            e.decision === 'keep'
              ? /^kept: (newest of .+ \((hourly|daily|weekly|monthly|yearly)\)|younger than min=|dated in the future|the newest snapshot of its volume)/
              : /^purged: (.+ is the newest of |in no period)/,
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('adding a newer snapshot never purges a keeper of an older bucket', () => {
    fc.assert(
      fc.property(scenes, fc.nat({ max: 30 * DAY }), ({ now, policy, ages: list }, gap) => {
        const walls = wallsOf(now, list).filter((w) => w <= now);
        const newest = walls.length === 0 ? now - gap : Math.min(now, Math.max(...walls) + 1 + gap);
        if (walls.includes(newest)) return;
        const before = new Set(
          planPurge(
            walls.map((w) => nameAt(w)),
            policy.text,
            new Date(now),
          ).keep,
        );
        const after = new Set(
          planPurge(
            [...walls, newest].map((w) => nameAt(w)),
            policy.text,
            new Date(now),
          ).keep,
        );
        for (const w of walls) {
          if (!before.has(nameAt(w)) || after.has(nameAt(w))) continue;
          // Kept before only as the volume's newest: the new snapshot is that now.
          if (w === Math.max(...walls)) continue;
          // Lost its place: only to the new snapshot, in a bucket they share.
          const shares = policy.counts.some(
            (c, u) =>
              c > 0 && bucketKey(u, w, policy.weekStart) === bucketKey(u, newest, policy.weekStart),
          );
          expect(shares).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a second purge at the same instant purges nothing more', () => {
    fc.assert(
      fc.property(scenes, ({ now, policy, ages: list }) => {
        const names = wallsOf(now, list).map((w) => nameAt(w));
        const first = planPurge(names, policy.text, new Date(now));
        expect(planPurge(first.keep, policy.text, new Date(now)).purge).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

describe('bucketStart', () => {
  it('is the first instant of its bucket, for every unit and week start', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2200, 0, 1) }),
        fc.integer({ min: 0, max: 6 }),
        (unit, wall, weekStart) => {
          const bucket = bucketOf(unit, wall, weekStart);
          const start = bucketStart(unit, bucket, weekStart);
          expect(start).toBeLessThanOrEqual(wall);
          expect(bucketOf(unit, start, weekStart)).toBe(bucket);
          expect(bucketOf(unit, start - 1, weekStart)).toBe(bucket - 1);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('month ends and year ends', () => {
  it('the 31st, the 28th and the 1st fall in their own months', () => {
    const names = [
      '2026-03-31T00:00',
      '2026-03-01T00:00',
      '2026-02-28T23:59',
      '2026-01-31T23:59',
      '2025-12-31T23:59',
    ].map((t) => `v@${t}:00.000000`);
    const now = new Date(Date.UTC(2026, 2, 31, 12));
    expect(explainPurge(names, 'monthly=3', now).map((e) => e.reason)).toEqual([
      'kept: newest of 2026-03 (monthly)',
      `purged: ${names[0]} is the newest of 2026-03 (monthly)`,
      'kept: newest of 2026-02 (monthly)',
      'kept: newest of 2026-01 (monthly)',
      'purged: in no period that monthly=3 keeps',
    ]);
  });

  it('Feb 29 is a day of its own, and of February', () => {
    const names = ['v@2028-03-01T00:00:00.000000', 'v@2028-02-29T23:59:59.000000'];
    const now = new Date(Date.UTC(2028, 2, 1, 12));
    expect(explainPurge(names, 'daily=2', now).map((e) => e.reason)).toEqual([
      'kept: newest of 2028-03-01 (daily)',
      'kept: newest of 2028-02-29 (daily)',
    ]);
    expect(planPurge(names, 'monthly=2', now).purge).toEqual([]);
    expect(planPurge(names, 'monthly=1', now).purge).toEqual([names[1]]);
  });

  it('ISO weeks cross the new year: 2027-01-01 is in 2026-W53', () => {
    const names = ['v@2027-01-01T10:00:00.000000', 'v@2026-12-28T10:00:00.000000'];
    const now = new Date(Date.UTC(2027, 0, 2, 12));
    expect(explainPurge(names, 'weekly=1', now).map((e) => e.reason)).toEqual([
      'kept: newest of 2026-W53 (weekly)',
      `purged: ${names[0]} is the newest of 2026-W53 (weekly)`,
    ]);
    expect(planPurge(names, 'yearly=1', now).purge).toEqual([names[1]]);
  });
});
