import { InvalidPolicyError } from './errors.js';
import { MAX_PATTERN_LENGTH, parsePattern, type RetentionPattern } from './pattern.js';
import { daysFromCivil } from './timestamp.js';

/**
 * Calendar units, finest first. A calendar policy keeps the newest snapshot of each of the
 * last N hours, days, weeks, months or years, counted on the local wall clock.
 */
export const CALENDAR_UNITS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type CalendarUnit = (typeof CALENDAR_UNITS)[number];

/** Larger counts are typos (100,000 hours is 11 years); `all` says "no limit" on purpose. */
export const MAX_CALENDAR_COUNT = 100_000;

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const WEEKDAY_NAMES = [
  'sunday',
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
] as const;

const MIN_UNIT_MS = { min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
/** As for pattern items: 10,000 years (of 365 days). */
const MAX_MIN_AGE_MS = 10_000 * 365 * 86_400_000;

declare const calendarBrand: unique symbol;

/** A checked calendar policy; only parseCalendarPolicy makes one. */
export interface CalendarPolicy {
  readonly kind: 'calendar';
  readonly text: string;
  /** Per unit, in CALENDAR_UNITS order: 0 = not kept by this unit, Infinity = `all`. */
  readonly counts: readonly number[];
  /** Snapshots younger than this (milliseconds of wall clock) are all kept. */
  readonly minAgeMs: number;
  /** The `min=` term as written, for reasons ("kept: younger than min=1d"), or ''. */
  readonly minAgeText: string;
  /** First day of a week, 0 = Sunday … 6 = Saturday; Monday unless `weekstart=` says otherwise. */
  readonly weekStart: number;
  readonly [calendarBrand]: true;
}

/** Either kind of retention policy: a 3.x pattern or a calendar policy. */
export type RetentionPolicy = RetentionPattern | CalendarPolicy;

/**
 * A calendar policy is recognised by its `=`: no 3.x pattern has one, so the two syntaxes can
 * never be read as each other (3.x's `m` is minutes; here months are spelled `monthly`).
 */
export function isCalendarText(text: string): boolean {
  return text.includes('=');
}

/** Parses either kind: `hourly=24,daily=7,...` (calendar) or `4h:1d:2w:2y` / `2h` (pattern). */
export function parsePolicy(text: string): RetentionPolicy {
  if (typeof text === 'string' && isCalendarText(text)) return parseCalendarPolicy(text);
  return parsePattern(text);
}

/** Parses `hourly=24,daily=7,weekly=4,monthly=12,yearly=all,min=1d,weekstart=mon`. */
export function parseCalendarPolicy(text: string): CalendarPolicy {
  if (typeof text !== 'string') {
    throw new InvalidPolicyError(String(text), String(text), 'the policy must be text');
  }
  if (text.length === 0) throw new InvalidPolicyError(text, text, 'the policy is empty');
  if (text.length > MAX_PATTERN_LENGTH) {
    throw new InvalidPolicyError(text, text, `longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  if (/\s/.test(text)) throw new InvalidPolicyError(text, text, 'whitespace is not allowed');
  const counts = [0, 0, 0, 0, 0];
  let minAgeMs = 0;
  let minAgeText = '';
  let weekStart = 1;
  const seen = new Set<string>();
  for (const term of text.split(',')) {
    const eq = term.indexOf('=');
    if (eq < 0) throw new InvalidPolicyError(text, term, whyNotATerm(term));
    const key = term.slice(0, eq);
    const value = term.slice(eq + 1);
    if (seen.has(key)) throw new InvalidPolicyError(text, term, `"${key}" appears twice`);
    seen.add(key);
    const unit = CALENDAR_UNITS.indexOf(key as CalendarUnit);
    if (unit >= 0) counts[unit] = parseCount(text, term, value);
    else if (key === 'min') {
      minAgeMs = parseMinAge(text, term, value);
      minAgeText = term;
    } else if (key === 'weekstart') weekStart = parseWeekday(text, term, value);
    else {
      throw new InvalidPolicyError(
        text,
        term,
        `unknown term "${key}" (use hourly, daily, weekly, monthly, yearly, min or weekstart)`,
      );
    }
  }
  if (counts.every((c) => c === 0)) {
    throw new InvalidPolicyError(
      text,
      text,
      'no unit to keep: give at least one of hourly, daily, weekly, monthly or yearly',
    );
  }
  return Object.freeze({
    kind: 'calendar',
    text,
    counts: Object.freeze(counts),
    minAgeMs,
    minAgeText,
    weekStart,
  }) as CalendarPolicy;
}

function whyNotATerm(term: string): string {
  if (term.length === 0) return 'an empty term (a "," at an end, or two in a row)';
  if (/^[0-9]+[mhdwy](:|$)/.test(term)) {
    return '3.x pattern items cannot be mixed with calendar terms: write a pattern alone (4h:1d:2w) or only calendar terms';
  }
  return 'not a <unit>=<count> term';
}

function parseCount(policy: string, term: string, value: string): number {
  if (value === 'all') return Number.POSITIVE_INFINITY;
  if (!/^[0-9]+$/.test(value)) {
    return refuse(policy, term, 'the count must be a whole number from 1 to 100000, or all');
  }
  const count = value.length > 7 ? Number.POSITIVE_INFINITY : Number(value);
  if (count === 0) {
    return refuse(policy, term, 'the count must be at least 1 (leave the unit out to keep none)');
  }
  if (count > MAX_CALENDAR_COUNT) {
    return refuse(policy, term, `the count must be at most ${MAX_CALENDAR_COUNT} (or all)`);
  }
  return count;
}

function parseMinAge(policy: string, term: string, value: string): number {
  const match = /^([0-9]+)(min|h|d|w)$/.exec(value);
  if (!match) {
    const why = /^[0-9]+m$/.test(value)
      ? 'write minutes as min (m would read as months elsewhere), e.g. min=90min'
      : 'use <n>min, <n>h, <n>d or <n>w, e.g. min=1d';
    return refuse(policy, term, why);
  }
  const digits = match[1]!;
  const ms =
    (digits.length > 12 ? Number.POSITIVE_INFINITY : Number(digits)) *
    MIN_UNIT_MS[match[2] as keyof typeof MIN_UNIT_MS];
  if (ms === 0) return refuse(policy, term, 'the minimum age must be at least 1 (or leave it out)');
  if (!(ms <= MAX_MIN_AGE_MS)) return refuse(policy, term, 'longer than 10000 years');
  return ms;
}

function parseWeekday(policy: string, term: string, value: string): number {
  const lower = value.toLowerCase();
  let day = WEEKDAYS.indexOf(lower as (typeof WEEKDAYS)[number]);
  if (day < 0) day = WEEKDAY_NAMES.indexOf(lower as (typeof WEEKDAY_NAMES)[number]);
  if (day < 0) return refuse(policy, term, 'use a day: mon, tue, wed, thu, fri, sat or sun');
  return day;
}

function refuse(policy: string, term: string, reason: string): never {
  throw new InvalidPolicyError(policy, term, reason);
}

// ---- calendar arithmetic on wall-clock milliseconds (days since 1970-01-01 × 86,400,000 + time)

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** The bucket number of a wall-clock time for a unit: consecutive buckets differ by one. */
export function bucketOf(unit: number, wall: number, weekStart: number): number {
  switch (unit) {
    case 0:
      return Math.floor(wall / HOUR_MS);
    case 1:
      return Math.floor(wall / DAY_MS);
    case 2:
      // 1970-01-01 was a Thursday (day 4).
      return Math.floor((Math.floor(wall / DAY_MS) + 4 - weekStart) / 7);
    case 3: {
      const { year, month } = civilFromDays(Math.floor(wall / DAY_MS));
      return year * 12 + month - 1;
    }
    default:
      return civilFromDays(Math.floor(wall / DAY_MS)).year;
  }
}

/** The wall-clock time a bucket starts at: bucketOf(unit, bucketStart(unit, b, w), w) is b. */
export function bucketStart(unit: number, bucket: number, weekStart: number): number {
  switch (unit) {
    case 0:
      return bucket * HOUR_MS;
    case 1:
      return bucket * DAY_MS;
    case 2:
      return (bucket * 7 - 4 + weekStart) * DAY_MS;
    case 3: {
      const year = Math.floor(bucket / 12);
      return daysFromCivil(year, bucket - year * 12 + 1, 1) * DAY_MS;
    }
    default:
      return daysFromCivil(bucket, 1, 1) * DAY_MS;
  }
}

/** A bucket in words: `2026-11-24 19h`, `2026-11-24`, `2026-W47`, `2026-11`, `2026`. */
export function bucketLabel(unit: number, wall: number, weekStart: number): string {
  const days = Math.floor(wall / DAY_MS);
  const { year, month, day } = civilFromDays(days);
  const date = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
  switch (unit) {
    case 0:
      return `${date} ${pad(Math.floor((wall - days * DAY_MS) / HOUR_MS), 2)}h`;
    case 1:
      return date;
    case 2: {
      const weekday = (((days + 4) % 7) + 7) % 7;
      const first = days - ((weekday - weekStart + 7) % 7);
      if (weekStart === 1) return isoWeek(first);
      const f = civilFromDays(first);
      return `the week starting ${pad(f.year, 4)}-${pad(f.month, 2)}-${pad(f.day, 2)}`;
    }
    case 3:
      return `${pad(year, 4)}-${pad(month, 2)}`;
    default:
      return pad(year, 4);
  }
}

/** ISO 8601 week label of the week whose Monday is `monday` (days since 1970-01-01). */
function isoWeek(monday: number): string {
  // The ISO year is the year of the week's Thursday.
  const thursday = monday + 3;
  const { year } = civilFromDays(thursday);
  const jan1 = daysFromCivil(year, 1, 1);
  const week = Math.floor((thursday - jan1) / 7) + 1;
  return `${pad(year, 4)}-W${pad(week, 2)}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** H. Hinnant's civil_from_days: the inverse of daysFromCivil. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}
