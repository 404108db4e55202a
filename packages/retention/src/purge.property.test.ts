import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computePurgesKeepingNewest } from '../test/reference-3x.js';
import {
  explainPurge,
  formatTimestamp,
  parsePattern,
  parseSnapshotName,
  planPurge,
} from './index.js';

// Fixtures subtract real milliseconds; with no DST that is also 3.x's naive wall-clock age.
process.env.TZ = 'UTC';

const DAY_MS = 86_400_000;

const patterns = fc
  .array(
    fc.record({ n: fc.integer({ min: 1, max: 12 }), unit: fc.constantFrom('m', 'h', 'd', 'w') }),
    { minLength: 2, maxLength: 5 },
  )
  .map((items) => items.map((i) => `${i.n}${i.unit}`).join(':'));

const nows = fc.date({ min: new Date(2001, 0, 1), max: new Date(2090, 0, 1), noInvalidDate: true });

// Ages in ms, biased to whole minutes and hours so that boundaries (age == an item) happen.
const ages = fc.oneof(
  fc.integer({ min: -DAY_MS, max: 120 * DAY_MS }),
  fc.integer({ min: 0, max: 3000 }).map((h) => h * 3_600_000),
  fc.integer({ min: 0, max: 20_000 }).map((m) => m * 60_000),
);

interface Scene {
  readonly now: Date;
  readonly pattern: string;
  readonly names: string[];
}

function stamp(now: Date, ageMs: number): string {
  return formatTimestamp(new Date(now.getTime() - ageMs));
}

/** Snapshots of two volumes, markers for two hosts, and unparseable names. */
const scenes: fc.Arbitrary<Scene> = fc
  .record({
    now: nows,
    pattern: patterns,
    snapshots: fc.array(fc.record({ volume: fc.constantFrom('a', 'b'), age: ages }), {
      maxLength: 60,
    }),
    markers: fc.array(
      fc.record({ snapshot: fc.nat(), host: fc.constantFrom('h1', 'h2'), recorded: fc.boolean() }),
      { maxLength: 6 },
    ),
    // Ages on and next to multiples of the pattern's items, where windows begin and end.
    edges: fc.array(
      fc.record({
        item: fc.nat(),
        times: fc.integer({ min: 0, max: 3 }),
        jitter: fc.constantFrom(-1000, 0, 0, 999, 1000),
      }),
      { maxLength: 20 },
    ),
    junk: fc.array(fc.constantFrom('a@x', 'b', 'a@', '@2026', 'a@2026-02-30T00:00:00.000000'), {
      maxLength: 3,
    }),
  })
  .map(({ now, pattern, snapshots, markers, edges, junk }) => {
    const items = minutes(pattern);
    const names = snapshots.map((s) => `${s.volume}@${stamp(now, s.age)}`);
    for (const e of edges) {
      const item = items[e.item % items.length]!;
      names.push(`a@${stamp(now, e.times * item * 60_000 + e.jitter)}`);
    }
    for (const m of markers) {
      if (names.length === 0) break;
      const target = names[m.snapshot % names.length]!;
      // A marker whose snapshot is already gone is possible too.
      names.push(`${target}@${m.host}`);
      if (!m.recorded) names.splice(names.indexOf(target), 1);
    }
    return { now, pattern, names: [...new Set([...names, ...junk])] };
  });

function minutes(pattern: string): number[] {
  return parsePattern(pattern).items.map((i) => i.minutes);
}

/** Whole seconds of age, as 3.x counts them. */
function ageSeconds(name: string, now: Date): number | undefined {
  const parsed = parseSnapshotName(name);
  if (!parsed || parsed.host !== undefined) return undefined;
  return Math.trunc((now.getTime() - parsed.timestamp.getTime()) / 1000);
}

function protectedNames(names: readonly string[]): Set<string> {
  return new Set(
    names.flatMap((n) => {
      const parsed = parseSnapshotName(n);
      return parsed?.host === undefined ? [] : [n.slice(0, n.lastIndexOf('@'))];
    }),
  );
}

/** Each volume's newest snapshot (markers aside), which a purge never deletes. */
function newestNames(names: readonly string[]): Set<string> {
  const newest = new Map<string, { name: string; time: number }>();
  for (const name of names) {
    const parsed = parseSnapshotName(name);
    if (parsed === undefined || parsed.host !== undefined) continue;
    const time = parsed.timestamp.getTime();
    const best = newest.get(parsed.volume);
    if (!best || time > best.time || (time === best.time && name > best.name)) {
      newest.set(parsed.volume, { name, time });
    }
  }
  return new Set([...newest.values()].map((n) => n.name));
}

describe('planPurge properties', () => {
  it("never purges a volume's newest snapshot, and says so when it kept it for that alone", () => {
    fc.assert(
      fc.property(scenes, ({ now, pattern, names }) => {
        const newest = newestNames(names);
        const explained = explainPurge(names, pattern, now);
        for (const { name, decision, reason } of explained) {
          if (newest.has(name)) expect(decision).toBe('keep');
          if (reason.startsWith('kept: the newest snapshot')) expect(newest.has(name)).toBe(true);
        }
        // However far the clock jumps forward, every volume keeps one snapshot.
        const far = new Date(now.getTime() + 200 * 365 * 24 * 3_600_000);
        const kept = new Set(planPurge(names, pattern, far).keep);
        for (const name of newest) expect(kept.has(name)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('equals 3.x compute_purges on ordinary snapshots of one volume, but for the newest', () => {
    fc.assert(
      fc.property(scenes, ({ now, pattern, names }) => {
        const ordinary = names.filter((n) => n.startsWith('a@') && n.split('@').length === 2);
        const expected = new Set(computePurgesKeepingNewest(ordinary, minutes(pattern), now));
        expect(new Set(planPurge(ordinary, pattern, now).purge)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('purges no ordinary snapshot younger than the smallest item', () => {
    fc.assert(
      fc.property(scenes, ({ now, pattern, names }) => {
        const smallest = minutes(pattern)[0]! * 60;
        for (const name of planPurge(names, pattern, now).purge) {
          const age = ageSeconds(name, now);
          if (age !== undefined) expect(age).toBeGreaterThanOrEqual(smallest);
        }
      }),
    );
  });

  it('purges every ordinary snapshot older than the largest item unless protected or the newest', () => {
    fc.assert(
      fc.property(scenes, ({ now, pattern, names }) => {
        const largest = minutes(pattern).at(-1)! * 60;
        const spared = new Set([...protectedNames(names), ...newestNames(names)]);
        for (const name of planPurge(names, pattern, now).keep) {
          const age = ageSeconds(name, now);
          if (age !== undefined && age > largest) expect(spared.has(name)).toBe(true);
        }
      }),
    );
  });

  it('a second purge at the same instant purges nothing', () => {
    fc.assert(
      fc.property(scenes, ({ now, pattern, names }) => {
        const first = planPurge(names, pattern, now);
        expect(planPurge(first.keep, pattern, now).purge).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('does not depend on the input order', () => {
    fc.assert(
      fc.property(
        scenes.chain((scene) =>
          fc.shuffledSubarray(scene.names, { minLength: scene.names.length }).map((shuffled) => ({
            scene,
            shuffled,
          })),
        ),
        ({ scene, shuffled }) => {
          const a = planPurge(scene.names, scene.pattern, scene.now);
          const b = planPurge(shuffled, scene.pattern, scene.now);
          expect(new Set(b.purge)).toEqual(new Set(a.purge));
        },
      ),
    );
  });

  it('always keeps the newest marker per (volume, host) and the snapshot it records', () => {
    fc.assert(
      fc.property(scenes, ({ now, pattern, names }) => {
        const purged = new Set(planPurge(names, pattern, now).purge);
        const newest = new Map<string, string>();
        for (const name of names) {
          const parsed = parseSnapshotName(name);
          if (parsed?.host === undefined) continue;
          const key = `${parsed.volume} ${parsed.host}`;
          const best = newest.get(key);
          if (!best || parseSnapshotName(best)!.timestamp < parsed.timestamp) newest.set(key, name);
        }
        for (const marker of newest.values()) {
          expect(purged.has(marker)).toBe(false);
          expect(purged.has(marker.slice(0, marker.lastIndexOf('@')))).toBe(false);
        }
        for (const name of names) {
          const parsed = parseSnapshotName(name);
          if (parsed?.host === undefined) continue;
          // Every other marker is superseded.
          expect(purged.has(name)).toBe(newest.get(`${parsed.volume} ${parsed.host}`) !== name);
        }
      }),
    );
  });

  it('splits the names into keep and purge, each once, and explains the same decisions', () => {
    fc.assert(
      fc.property(scenes, ({ now, pattern, names }) => {
        const plan = planPurge(names, pattern, now);
        expect([...plan.keep, ...plan.purge].sort()).toEqual([...names].sort());
        const explained = explainPurge(names, pattern, now);
        expect(explained.map((e) => e.name)).toEqual(names);
        for (const e of explained) {
          expect(e.reason.startsWith(e.decision === 'keep' ? 'kept: ' : 'purged: ')).toBe(true);
        }
        expect(explained.filter((e) => e.decision === 'purge').map((e) => e.name)).toEqual(
          plan.purge,
        );
      }),
    );
  });

  it('never purges a name without a parseable timestamp', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 })), patterns, nows, (names, pattern, now) => {
        for (const name of planPurge(names, pattern, now).purge) {
          expect(parseSnapshotName(name)).toBeDefined();
        }
      }),
    );
  });
});
