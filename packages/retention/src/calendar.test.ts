import { describe, expect, it } from 'vitest';
import {
  explainPurge,
  InvalidPatternError,
  InvalidPolicyError,
  InvalidTimeZoneError,
  parseCalendarPolicy,
  parsePattern,
  parsePolicy,
  planPurge,
} from './index.js';

process.env.TZ = 'UTC';

const now = new Date(Date.UTC(2026, 10, 24, 19, 13, 40, 123));

/** A name from a wall-clock text such as `2026-11-24T18:00`. */
function at(text: string, volume = 'db'): string {
  return `${volume}@${text}:00.000000`;
}

describe('single-item patterns (3.13)', () => {
  it('2h keeps what is not older than 2h and purges the rest', () => {
    const names = [at('2026-11-24T19:00'), at('2026-11-24T17:14'), at('2026-11-24T17:13')];
    expect(planPurge(names, '2h', now)).toEqual({ purge: [names[2]], keep: names.slice(0, 2) });
    expect(explainPurge(names, '2h', now).map((e) => e.reason)).toEqual([
      'kept: younger than 2h',
      'kept: younger than 2h',
      'purged: older than 2h',
    ]);
  });

  it('parses and still sorts multi-item patterns as before', () => {
    expect(parsePattern('2h').items).toEqual([{ text: '2h', minutes: 120 }]);
    expect(parsePolicy('1d:4h').kind).toBe('pattern');
  });

  it('keeps the newest send marker and its parent, as multi-item patterns do', () => {
    const old = at('2026-11-20T10:00');
    const names = [old, `${old}@backup1`, at('2026-11-24T19:00')];
    expect(planPurge(names, '1h', now).purge).toEqual([]);
  });
});

describe('parseCalendarPolicy', () => {
  it('reads every term, Monday weeks by default', () => {
    const p = parseCalendarPolicy('hourly=24,daily=7,weekly=4,monthly=12,yearly=all,min=1d');
    expect(p.counts).toEqual([24, 7, 4, 12, Number.POSITIVE_INFINITY]);
    expect(p.minAgeMs).toBe(86_400_000);
    expect(p.weekStart).toBe(1);
    expect(parseCalendarPolicy('weekly=2,weekstart=Sunday').weekStart).toBe(0);
    expect(parseCalendarPolicy('daily=1,min=90min').minAgeMs).toBe(90 * 60_000);
  });

  it('parsePolicy tells the kinds apart by the "=" a pattern never has', () => {
    expect(parsePolicy('monthly=3').kind).toBe('calendar');
    expect(parsePolicy('3m').kind).toBe('pattern');
  });

  it.each([
    ['', 'the policy is empty'],
    ['daily=', 'whole number from 1 to 100000'],
    ['daily=0', 'at least 1'],
    ['daily=-1', 'whole number'],
    ['daily=1.5', 'whole number'],
    ['daily=100001', 'at most 100000'],
    ['daily=99999999999999999999', 'at most 100000'],
    ['minutely=5', 'unknown term "minutely"'],
    ['daily=7,daily=3', 'appears twice'],
    ['daily=7,', 'empty term'],
    ['daily=7, weekly=4', 'whitespace'],
    ['4h:1d,daily=7', '3.x pattern items cannot be mixed'],
    ['daily=7,4h', '3.x pattern items cannot be mixed'],
    ['daily=7:4h', 'whole number'],
    ['min=1d', 'no unit to keep'],
    ['daily=7,min=5m', 'write minutes as min'],
    ['daily=7,min=0h', 'at least 1'],
    ['daily=7,min=1y', 'use <n>min'],
    ['weekly=4,weekstart=funday', 'use a day'],
    ['x'.repeat(600), 'longer than 512'],
  ])('refuses %j: %s', (text, why) => {
    const attempt = () => parsePolicy(text === '' ? 'a=' : text);
    if (text === '') {
      expect(() => parseCalendarPolicy('')).toThrow(why);
      return;
    }
    expect(attempt).toThrow(InvalidPatternError);
    expect(attempt).toThrow(why);
  });

  it('errors name the valid form and are InvalidPatternError subclasses', () => {
    const error = (() => {
      try {
        parsePolicy('daily=zero');
      } catch (e) {
        return e;
      }
    })() as InvalidPolicyError;
    expect(error).toBeInstanceOf(InvalidPolicyError);
    expect(error.code).toBe('INVALID_PATTERN');
    expect(error.message).toMatch(
      /^Invalid calendar policy "daily=zero": the count must be a whole number/,
    );
    expect(error.message).toContain('e.g. hourly=24,daily=7,weekly=4,monthly=12,yearly=all');
  });

  it('a bare word points to the calendar form', () => {
    expect(() => parsePolicy('daily')).toThrow(/calendar terms are written unit=count/);
    expect(() => parsePolicy('daily')).toThrow(/or use a calendar policy such as/);
  });
});

describe('calendar decisions', () => {
  it('keeps the newest of each bucket and says which bucket', () => {
    const names = [
      at('2026-11-24T19:00'),
      at('2026-11-24T18:30'),
      at('2026-11-24T18:10'),
      at('2026-11-23T09:00'),
      at('2026-11-23T08:00'),
      at('2026-11-16T08:00'),
      at('2026-10-01T08:00'),
    ];
    const reasons = explainPurge(names, 'hourly=2,daily=2,weekly=2', now).map(
      (e) => `${e.decision} ${e.reason}`,
    );
    expect(reasons).toEqual([
      'keep kept: newest of 2026-11-24 19h (hourly)',
      'keep kept: newest of 2026-11-24 18h (hourly)',
      `purge purged: ${names[1]} is the newest of 2026-11-24 18h (hourly)`,
      'keep kept: newest of 2026-11-23 (daily)',
      `purge purged: ${names[3]} is the newest of 2026-11-23 (daily)`,
      'keep kept: newest of 2026-W47 (weekly)',
      'purge purged: in no period that hourly=2,daily=2,weekly=2 keeps',
    ]);
  });

  it('keeps everything younger than min= and nothing dated in the future is purged', () => {
    const names = [at('2026-11-25T10:00'), at('2026-11-24T10:00'), at('2026-11-24T09:00')];
    expect(explainPurge(names, 'daily=1,min=12h', now).map((e) => e.reason)).toEqual([
      'kept: dated in the future',
      'kept: younger than min=12h',
      'kept: younger than min=12h',
    ]);
  });

  it('all keeps one per bucket however old', () => {
    const names = [at('1990-06-01T00:00'), at('1990-01-01T00:00'), at('2001-01-01T00:00')];
    expect(planPurge(names, 'yearly=all', now).purge).toEqual([names[1]]);
  });

  it('weekstart moves week boundaries', () => {
    // 2026-11-22 is a Sunday, now a Tuesday: Monday weeks put both in the previous week.
    const names = [at('2026-11-22T10:00'), at('2026-11-21T10:00')];
    // Both outside weekly=1: only the newest stays, as the newest of the volume.
    expect(planPurge(names, 'weekly=1', now).purge).toEqual([names[1]]);
    expect(planPurge(names, 'weekly=2', now).purge).toEqual([names[1]]);
    const sunday = explainPurge(names, 'weekly=2,weekstart=sun', now);
    expect(sunday.map((e) => e.reason)).toEqual([
      'kept: newest of the week starting 2026-11-22 (weekly)',
      'kept: newest of the week starting 2026-11-15 (weekly)',
    ]);
  });

  it('keeps the parent of the next send even when no bucket does', () => {
    const old = at('2025-01-01T00:00');
    const names = [old, `${old}@backup1`, at('2026-11-24T19:00')];
    expect(planPurge(names, 'daily=1', now).purge).toEqual([]);
  });

  it('never deletes the newest snapshot, and says so (a clock jumped years forward)', () => {
    const names = [at('2026-11-24T19:00'), at('2026-11-24T18:00'), at('2026-11-23T09:00')];
    const later = new Date(Date.UTC(2031, 0, 1));
    const explained = explainPurge(names, 'hourly=24,daily=7', later);
    expect(explained.map((e) => `${e.decision} ${e.reason}`)).toEqual([
      'keep kept: the newest snapshot of its volume (a purge never deletes it)',
      'purge purged: in no period that hourly=24,daily=7 keeps',
      'purge purged: in no period that hourly=24,daily=7 keeps',
    ]);
    // One per volume, markers aside.
    const two = [
      ...names,
      at('2026-01-01T00:00', 'other'),
      `${at('2026-01-01T00:00', 'other')}@b1`,
    ];
    expect(planPurge(two, 'daily=1', later).keep).toEqual(
      expect.arrayContaining([names[0], at('2026-01-01T00:00', 'other')]),
    );
  });

  it('refuses an unknown time zone', () => {
    expect(() => planPurge([], 'daily=1', now, { timeZone: 'Mars/Olympus' })).toThrow(
      InvalidTimeZoneError,
    );
  });
});
