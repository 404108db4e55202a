import { describe, expect, it } from 'vitest';
import {
  explainPurge,
  formatTimestamp,
  InvalidPatternError,
  parsePattern,
  planPurge,
} from './index.js';

// Fixtures subtract real milliseconds; with no DST that is also 3.x's naive wall-clock age.
process.env.TZ = 'UTC';

const now = new Date(2026, 10, 24, 19, 13, 40, 123);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function snapshot(volume: string, ageMs: number, at: Date = now): string {
  return `${volume}@${formatTimestamp(new Date(at.getTime() - ageMs))}`;
}

/** 3.x's create_20_hourly_snapshots: 20 hourly, a fresh send marker, an unparseable name. */
function twentyHourly(extraMs: number): string[] {
  const names = Array.from({ length: 20 }, (_, h) => snapshot('foo', h * HOUR + extraMs));
  names.push(`${snapshot('foo', 0)}@127.1.2.3`, 'foo@invalid');
  return names;
}

describe('3.x pinned cases (COMPAT.md "Purge patterns")', () => {
  // 0: aged exactly 0h..19h; 7: a few ms older, as in 3.x's own test run.
  describe.each([0, 7])('20 hourly snapshots (+%i ms)', (extraMs) => {
    it('2h:2h purges 18, and a second purge right after purges nothing more', () => {
      const first = planPurge(twentyHourly(extraMs), '2h:2h', now);
      expect(first.purge).toHaveLength(18);
      expect(first.keep).toHaveLength(4);
      expect(planPurge(first.keep, '2h:2h', new Date(now.getTime() + 5)).purge).toEqual([]);
    });

    it('2h:4h:8h:16h purges 15', () => {
      expect(planPurge(twentyHourly(extraMs), '2h:4h:8h:16h', now).purge).toHaveLength(15);
    });

    it('60m:120m:300m:240m:180m purges 18', () => {
      const plan = planPurge(twentyHourly(extraMs), '60m:120m:300m:240m:180m', now);
      expect(plan.purge).toHaveLength(18);
    });
  });

  it('60m:plop:3000m is an invalid pattern', () => {
    expect(() => planPurge(twentyHourly(0), '60m:plop:3000m', now)).toThrow(InvalidPatternError);
    expect(() => planPurge([], '60m:plop:3000m', now)).toThrow(/^Invalid purge pattern/);
  });

  it('5000 snapshots aged 0h30m, 1h30m, ...: 1d:1w:4w:1y keeps 40', () => {
    const names = Array.from({ length: 5000 }, (_, h) =>
      snapshot('foobar', h * HOUR + 30 * MINUTE),
    );
    expect(planPurge(names, '1d:1w:4w:1y', now).keep).toHaveLength(40);
  });

  // 3.x left 4; the newest, which 3.x purged too, we keep (a purge never empties a volume).
  it('3000 hourly snapshots, purged with 1d:1w:4w:1y every hour for 3000 hours: 4 remain, and the newest', () => {
    let names = Array.from({ length: 3000 }, (_, h) => snapshot('foobar', h * HOUR));
    const pattern = parsePattern('1d:1w:4w:1y');
    for (let h = 0; h < 3000; h++) {
      names = planPurge(names, pattern, new Date(now.getTime() + h * HOUR)).keep;
    }
    expect(names).toHaveLength(5);
    expect(names).toContain(snapshot('foobar', 0));
  });
});

describe('explainPurge', () => {
  it('gives every name a decision and a reason in words', () => {
    const names = [
      snapshot('foo', 1 * HOUR),
      snapshot('foo', 5 * HOUR),
      snapshot('foo', 6 * HOUR),
      snapshot('foo', 30 * HOUR),
      snapshot('foo', 40 * HOUR),
      snapshot('foo', 3 * 365 * 24 * HOUR),
      'foo@not-a-date',
    ];
    const reasons = explainPurge(names, '4h:1d:2w:2y', now).map((e) => `${e.decision} ${e.reason}`);
    expect(reasons).toEqual([
      'keep kept: younger than 4h',
      'purge purged: another snapshot already kept in its 4h window',
      'keep kept: oldest in its 4h window between 4h and 1d',
      'purge purged: another snapshot already kept in its 1d window',
      'keep kept: oldest in its 1d window between 1d and 2w',
      'purge purged: older than 2y',
      'keep kept: name has no timestamp',
    ]);
  });

  it('says when a window opens with a snapshot another segment purged (3.x windowing)', () => {
    // Aged exactly 16h, 3.x puts foo@..16h in the same 8h window as the purged 18h one.
    const names = [snapshot('foo', 18 * HOUR), snapshot('foo', 16 * HOUR), snapshot('foo', 0)];
    const [old, edge] = explainPurge(names, '2h:4h:8h:16h', now);
    expect(old?.reason).toBe('purged: older than 16h');
    expect(edge?.reason).toBe(`purged: ${names[0]} comes first in its 8h window`);
  });

  it('says when a snapshot is dated in the future', () => {
    expect(explainPurge([snapshot('foo', -HOUR)], '1h:1d', now)[0]?.reason).toBe(
      'kept: dated in the future',
    );
  });

  it('agrees with planPurge', () => {
    const names = twentyHourly(0);
    const plan = planPurge(names, '2h:4h:8h:16h', now);
    const explained = explainPurge(names, '2h:4h:8h:16h', now);
    expect(explained.filter((e) => e.decision === 'purge').map((e) => e.name)).toEqual(plan.purge);
    expect(explained.filter((e) => e.decision === 'keep').map((e) => e.name)).toEqual(plan.keep);
  });
});

describe('send markers', () => {
  const old = snapshot('foo', 400 * 24 * HOUR);
  const older = snapshot('foo', 500 * 24 * HOUR);
  const recent = snapshot('foo', 3 * HOUR);

  it('keeps the newest marker per host and the snapshot it records, purges superseded ones', () => {
    const names = [older, `${older}@h1`, old, `${old}@h1`, `${old}@h2`, recent, `${recent}@h2`];
    const explained = explainPurge(names, '1h:1d:1w', now);
    expect(explained.map((e) => `${e.name.replace(/@[^@]+/, '@ts')} ${e.reason}`)).toEqual([
      'foo@ts purged: older than 1w',
      'foo@ts@h1 purged: superseded send marker for h1',
      'foo@ts kept: parent of the next incremental send to h1',
      'foo@ts@h1 kept: newest send marker for h1',
      'foo@ts@h2 purged: superseded send marker for h2',
      'foo@ts kept: parent of the next incremental send to h2',
      'foo@ts@h2 kept: newest send marker for h2',
    ]);
  });

  it('names every host a snapshot is the parent for', () => {
    const names = [old, `${old}@h1`, `${old}@h2`];
    expect(explainPurge(names, '1h:1d', now)[0]?.reason).toBe(
      'kept: parent of the next incremental send to h1, h2',
    );
  });

  it('a protected snapshot also counts as the kept one of its window', () => {
    // old (400 d) and a younger one in the same 1y window: the protected one comes first.
    const sibling = snapshot('foo', 399 * 24 * HOUR);
    const plan = planPurge([old, `${old}@h1`, sibling, snapshot('foo', 0)], '1d:1y:2y', now);
    expect(plan.purge).toEqual([sibling]);
  });

  it('protects only within the marker volume', () => {
    const stamp = formatTimestamp(new Date(now.getTime() - 400 * 24 * HOUR));
    const young = snapshot('foo', 0);
    const plan = planPurge(
      [`foo@${stamp}`, young, `bar@${stamp}`, `bar@${stamp}@h1`],
      '1h:1d',
      now,
    );
    expect(plan.purge).toEqual([`foo@${stamp}`]);
  });
});

describe('the newest snapshot', () => {
  it('is never purged, whatever the clock says, and the explanation says why', () => {
    const names = [snapshot('foo', 30 * 24 * HOUR), snapshot('foo', 20 * 24 * HOUR)];
    // A clock jumped 100 years forward: 3.x purged the whole history.
    const jumped = new Date(now.getTime() + 100 * 365 * 24 * HOUR);
    const explained = explainPurge(names, '1h:1d', jumped);
    expect(explained.map((e) => [e.decision, e.reason])).toEqual([
      ['purge', 'purged: older than 1d'],
      ['keep', 'kept: the newest snapshot of its volume (a purge never deletes it)'],
    ]);
    // Send markers are not snapshots: the newest snapshot is kept beside them.
    const marker = `${snapshot('foo', 40 * 24 * HOUR)}@h1`;
    expect(planPurge([...names, marker], '1h:1d', jumped).keep).toEqual([names[1], marker]);
  });
});

describe('input handling', () => {
  it('decides each volume on its own', () => {
    const a = Array.from({ length: 10 }, (_, h) => snapshot('a', h * HOUR));
    const b = Array.from({ length: 10 }, (_, h) => snapshot('b', h * HOUR + 30 * MINUTE));
    const mixed = a.flatMap((name, k) => [name, b[k]!]);
    const plan = planPurge(mixed, '2h:4h', now);
    const alone = [...planPurge(a, '2h:4h', now).purge, ...planPurge(b, '2h:4h', now).purge];
    expect(new Set(plan.purge)).toEqual(new Set(alone));
  });

  it('decides alike volumes of one length and first letter, interleaved (they share a lookup slot)', () => {
    const volumes = ['web', 'wex', 'we', 'w', 'web2'];
    const each = volumes.map((v, k) =>
      Array.from({ length: 10 }, (_, h) => snapshot(v, h * HOUR + k * MINUTE)),
    );
    const mixed = each[0]!.flatMap((_, h) => each.map((list) => list[h]!));
    const plan = planPurge(mixed, '2h:4h', now);
    const alone = each.flatMap((list) => planPurge(list, '2h:4h', now).purge);
    expect(plan.purge.length).toBeGreaterThan(0);
    expect(new Set(plan.purge)).toEqual(new Set(alone));
  });

  it('reports a repeated name once, never in both lists', () => {
    const x = snapshot('foo', 5 * HOUR);
    const y = snapshot('foo', 5 * HOUR + MINUTE);
    const marker = `${snapshot('foo', 10 * MINUTE)}@h1`;
    const z = snapshot('foo', 0);
    const plan = planPurge([x, y, x, z, marker, marker, 'junk', 'junk'], '4h:1d', now);
    expect(plan).toEqual({ purge: [x], keep: [y, z, marker, 'junk'] });
  });

  it('reads names written with another format', () => {
    const format = '%Y%m%d%H%M%S';
    const ages = [0, 1, 2, 3, 4, 5].map((h) => h * HOUR);
    const custom = ages.map(
      (age) => `foo@${formatTimestamp(new Date(now.getTime() - age), format)}`,
    );
    const decisions = (names: string[], options = {}) =>
      explainPurge(names, '1h:2h', now, options).map((e) => e.decision);
    expect(decisions(custom, { format })).toEqual(
      decisions(ages.map((age) => snapshot('foo', age))),
    );
    expect(decisions(custom, { format })).toContain('purge');
    // With the default format none of them has a timestamp.
    expect(planPurge(custom, '1h:2h', now).purge).toEqual([]);
  });

  it('refuses an invalid now', () => {
    expect(() => planPurge([], '1h:1d', new Date(Number.NaN))).toThrow(/invalid date/);
  });

  it('takes an empty list', () => {
    expect(planPurge([], '1h:1d', now)).toEqual({ purge: [], keep: [] });
  });
});
