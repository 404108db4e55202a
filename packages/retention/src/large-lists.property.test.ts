import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computePurgesKeepingNewest } from '../test/reference-3x.js';
import { explainPurge, formatTimestamp, parsePattern, planPurge } from './index.js';

// Lists of a few hundred names or more go through the bucket sort, or the radix sort when many
// names share a time ('ties', over 64 per bucket); smaller ones through a comparator sort, lists
// already in order through no sort at all: all must decide alike.
process.env.TZ = 'UTC';

const DAY_MS = 86_400_000;
/** 0001-01-01T00:00:00.000 and 9999-12-31T23:59:59.999 UTC: every time a name can hold. */
const FIRST_MS = -62_135_596_800_000;
const LAST_MS = 253_402_300_799_999;

const patterns = fc
  .array(
    fc.record({ n: fc.integer({ min: 1, max: 12 }), unit: fc.constantFrom('m', 'h', 'd', 'w') }),
    { minLength: 2, maxLength: 5 },
  )
  .map((items) => items.map((i) => `${i.n}${i.unit}`).join(':'));

const nows = fc.date({ min: new Date(2001, 0, 1), max: new Date(2090, 0, 1), noInvalidDate: true });

/** A timestamp whose sub-millisecond digits vary: equal times, different names. */
function stamp(ms: number, micro: number): string {
  return formatTimestamp(new Date(ms)).slice(0, -3) + String(micro).padStart(3, '0');
}

interface Listing {
  readonly now: Date;
  readonly pattern: string;
  readonly names: string[];
}

/**
 * Hundreds of names in random order: two volumes, ages over a few months or over every
 * representable year, few distinct times (many ties) or many, repeated names, markers.
 */
const listings: fc.Arbitrary<Listing> = fc
  .record({
    now: nows,
    pattern: patterns,
    size: fc.integer({ min: 150, max: 1500 }),
    spread: fc.constantFrom('months', 'years', 'ties'),
    seed: fc.integer(),
    markers: fc.integer({ min: 0, max: 6 }),
    repeats: fc.integer({ min: 0, max: 20 }),
  })
  .map(({ now, pattern, size, spread, seed, markers, repeats }) => {
    let state = seed >>> 0;
    const random = (): number => {
      state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
      return state / 4_294_967_296;
    };
    const pick = (k: number): number => Math.floor(random() * k);
    const names: string[] = [];
    for (let k = 0; k < size; k++) {
      let ms: number;
      if (spread === 'years') ms = FIRST_MS + Math.floor(random() * (LAST_MS - FIRST_MS));
      else if (spread === 'ties') ms = now.getTime() - pick(8) * 3_600_000;
      else ms = now.getTime() - Math.floor((random() - 0.01) * 120 * DAY_MS);
      names.push(`${pick(2) === 0 ? 'a' : 'b'}@${stamp(ms, pick(1000))}`);
    }
    for (let k = 0; k < markers; k++) {
      names.push(`${names[pick(size)]!}@h${pick(2)}`);
    }
    for (let k = 0; k < repeats; k++) names.push(names[pick(names.length)]!);
    for (let k = names.length - 1; k > 0; k--) {
      const j = pick(k + 1);
      [names[k], names[j]] = [names[j]!, names[k]!];
    }
    return { now, pattern, names };
  });

/** Oldest first, ties in name order: the order the purge walks, so it sorts nothing. */
function inOrder(names: readonly string[]): string[] {
  const time = (name: string): string => name.split('@')[1]!;
  // Zero-padded fixed-width fields: text order is time order, and names tie-break.
  return [...names].sort((x, y) =>
    time(x) < time(y) ? -1 : time(x) > time(y) ? 1 : x < y ? -1 : x > y ? 1 : 0,
  );
}

function reasons(names: readonly string[], pattern: string, now: Date): Map<string, string> {
  return new Map(explainPurge(names, pattern, now).map((e) => [e.name, e.reason]));
}

describe('large listings', () => {
  it('get the same decision and reason for every name in any order', () => {
    fc.assert(
      fc.property(listings, ({ now, pattern, names }) => {
        const shuffled = reasons(names, pattern, now);
        expect(shuffled.size).toBe(new Set(names).size);
        expect(shuffled).toEqual(reasons(inOrder(names), pattern, now));
        expect(shuffled).toEqual(reasons([...names].reverse(), pattern, now));
      }),
      { numRuns: 60 },
    );
  });

  it('equal 3.x compute_purges on ordinary snapshots of one volume, but for the newest', () => {
    fc.assert(
      fc.property(listings, ({ now, pattern, names }) => {
        // The port reads years 0-99 as 1900-1999 (Date.UTC does): leave those out.
        const ordinary = [...new Set(names.filter((n) => /^a@(?!00)[^@]+$/.test(n)))];
        const minutes = parsePattern(pattern).items.map((i) => i.minutes);
        const expected = new Set(computePurgesKeepingNewest(ordinary, minutes, now));
        expect(new Set(planPurge(ordinary, pattern, now).purge)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('keep a repeated name once, at its first occurrence', () => {
    const now = new Date(2026, 10, 24, 19, 0);
    const names = Array.from({ length: 600 }, (_, k) =>
      stamp(now.getTime() - ((k * 7919) % 600) * 60_000, k % 3),
    ).map((ts) => `v@${ts}`);
    const listed = [...names, ...names.slice(0, 50)].reverse();
    const plan = planPurge(listed, '1h:1d', now);
    expect([...plan.keep, ...plan.purge].sort()).toEqual([...names].sort());
    expect(explainPurge(listed, '1h:1d', now).map((e) => e.name)).toEqual([...new Set(listed)]);
  });
});
