import { InvalidDateError, UnsupportedFormatError } from './errors.js';

/** 3.x's DTFORMAT default: local time with microseconds, e.g. `2026-11-24T19:13:40.123456`. */
export const DEFAULT_TIMESTAMP_FORMAT = '%Y-%m-%dT%H:%M:%S.%f';

type Field = 'Y' | 'm' | 'd' | 'H' | 'M' | 'S' | 'f';

// Every supported directive has a fixed width, so a format has one exact length and parsing is
// a single left-to-right pass over char codes: no regex, nothing to backtrack.
const WIDTH: Readonly<Record<Field, number>> = { Y: 4, m: 2, d: 2, H: 2, M: 2, S: 2, f: 6 };

type Token =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'field'; readonly field: Field; readonly width: number };

/** A format checked once and reused for every name. */
export interface CompiledFormat {
  readonly format: string;
  readonly tokens: readonly Token[];
  readonly length: number;
  /** Offset of each field in a matching text (indexed like FIELDS), -1 when absent. */
  readonly fieldAt: Int32Array;
  /** Offsets and char codes of the literal characters. */
  readonly literalAt: Int32Array;
  readonly literalCode: Int32Array;
  /** The default format, which readWallClockMs reads with fixed offsets. */
  readonly isDefault: boolean;
}

const FIELDS: readonly Field[] = ['Y', 'm', 'd', 'H', 'M', 'S', 'f'];

/** Broken-down wall-clock time, as strptime gives it (months and days from 1). */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

const cache = new Map<string, CompiledFormat>();
const CACHE_MAX = 16;

/** Checks a format and turns it into tokens; throws UnsupportedFormatError. */
export function compileFormat(format: string): CompiledFormat {
  const hit = cache.get(format);
  if (hit) return hit;
  if (typeof format !== 'string' || format.length === 0) {
    throw new UnsupportedFormatError(String(format), 'the format is empty');
  }
  const tokens: Token[] = [];
  const seen = new Set<string>();
  let literal = '';
  let length = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      literal += c;
      continue;
    }
    const d = format[i + 1];
    i++;
    if (d === '%') {
      literal += '%';
      continue;
    }
    if (d === undefined) throw new UnsupportedFormatError(format, 'it ends with a lone "%"');
    if (!(d in WIDTH))
      throw new UnsupportedFormatError(format, `directive "%${d}" is not supported`);
    // strptime itself rejects a repeated directive, so no 3.x name can rely on one.
    if (seen.has(d)) throw new UnsupportedFormatError(format, `directive "%${d}" appears twice`);
    seen.add(d);
    if (literal) tokens.push({ kind: 'literal', text: literal });
    length += literal.length;
    literal = '';
    const width = WIDTH[d as Field];
    tokens.push({ kind: 'field', field: d as Field, width });
    length += width;
  }
  if (literal) tokens.push({ kind: 'literal', text: literal });
  length += literal.length;
  // Every width is fixed, so each field and literal has one fixed offset: reading a name is a
  // handful of char-code checks, no regex, nothing to backtrack.
  const fieldAt = new Int32Array(FIELDS.length).fill(-1);
  const literalAt: number[] = [];
  const literalCode: number[] = [];
  let at = 0;
  for (const token of tokens) {
    if (token.kind === 'literal') {
      for (let k = 0; k < token.text.length; k++) {
        literalAt.push(at++);
        literalCode.push(token.text.charCodeAt(k));
      }
    } else {
      fieldAt[FIELDS.indexOf(token.field)] = at;
      at += token.width;
    }
  }
  const compiled: CompiledFormat = {
    format,
    tokens,
    length,
    fieldAt,
    literalAt: Int32Array.from(literalAt),
    literalCode: Int32Array.from(literalCode),
    isDefault: format === DEFAULT_TIMESTAMP_FORMAT,
  };
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(format, compiled);
  return compiled;
}

/** Writes `date`'s local wall-clock time, like Python's `datetime.now().strftime(DTFORMAT)`. */
export function formatTimestamp(date: Date, format: string = DEFAULT_TIMESTAMP_FORMAT): string {
  const compiled = compileFormat(format);
  const year = date.getFullYear();
  if (!(year >= 1 && year <= 9999)) throw new InvalidDateError(date);
  const values: Record<Field, number> = {
    Y: year,
    m: date.getMonth() + 1,
    d: date.getDate(),
    H: date.getHours(),
    M: date.getMinutes(),
    S: date.getSeconds(),
    // JS dates carry milliseconds; %f is microseconds.
    f: date.getMilliseconds() * 1000,
  };
  let out = '';
  for (const token of compiled.tokens) {
    out +=
      token.kind === 'literal'
        ? token.text
        : String(values[token.field]).padStart(token.width, '0');
  }
  return out;
}

/**
 * Reads a timestamp written with `format` as local time. Strict: exact digits, valid ranges,
 * the whole string. Sub-millisecond digits of %f are checked but dropped (a Date holds ms).
 * Returns undefined when the text does not match; throws only for an unsupported format.
 */
export function parseTimestamp(
  text: string,
  format: string = DEFAULT_TIMESTAMP_FORMAT,
): Date | undefined {
  const compiled = compileFormat(format);
  if (typeof text !== 'string') return undefined;
  const wall = readWallClock(compiled, text, 0, text.length);
  if (!wall) return undefined;
  const date = new Date(0);
  // setFullYear, not the Date constructor, which would read years 0-99 as 1900-1999.
  date.setFullYear(wall.year, wall.month - 1, wall.day);
  date.setHours(wall.hour, wall.minute, wall.second, wall.millisecond);
  return date;
}

/** Broken-down time of `text.slice(start, end)`, or undefined when it does not match. */
export function readWallClock(
  compiled: CompiledFormat,
  text: string,
  start: number,
  end: number,
): WallClock | undefined {
  const ms = readWallClockMs(compiled, text, start, end);
  if (Number.isNaN(ms)) return undefined;
  // The wall clock was counted as if it were UTC, so the UTC getters give its fields back.
  const utc = new Date(ms);
  return {
    year: utc.getUTCFullYear(),
    month: utc.getUTCMonth() + 1,
    day: utc.getUTCDate(),
    hour: utc.getUTCHours(),
    minute: utc.getUTCMinutes(),
    second: utc.getUTCSeconds(),
    millisecond: utc.getUTCMilliseconds(),
  };
}

/**
 * Wall-clock milliseconds (the local fields counted as if they were UTC) of
 * `text.slice(start, end)`, or NaN when it does not match the format. 3.x subtracts naive
 * datetimes, so ages are differences of these, never of real instants.
 */
export function readWallClockMs(
  compiled: CompiledFormat,
  text: string,
  start: number,
  end: number,
): number {
  return compiled.isDefault
    ? readDefaultWallClockMs(text, start, end)
    : readWallClockMsGeneric(compiled, text, start, end);
}

/** readWallClockMs for any format; exported for the tests comparing it with the fast path. */
export function readWallClockMsGeneric(
  compiled: CompiledFormat,
  text: string,
  start: number,
  end: number,
): number {
  if (end - start !== compiled.length) return Number.NaN;
  const literalAt = compiled.literalAt;
  const literalCode = compiled.literalCode;
  for (let k = 0; k < literalAt.length; k++) {
    if (text.charCodeAt(start + literalAt[k]!) !== literalCode[k]) return Number.NaN;
  }
  const at = compiled.fieldAt;
  // strptime's defaults for absent fields: 1900-01-01 00:00:00.000000.
  const year = at[0]! < 0 ? 1900 : digits(text, start + at[0]!, 4);
  const month = at[1]! < 0 ? 1 : digits(text, start + at[1]!, 2);
  const day = at[2]! < 0 ? 1 : digits(text, start + at[2]!, 2);
  const hour = at[3]! < 0 ? 0 : digits(text, start + at[3]!, 2);
  const minute = at[4]! < 0 ? 0 : digits(text, start + at[4]!, 2);
  const second = at[5]! < 0 ? 0 : digits(text, start + at[5]!, 2);
  const micro = at[6]! < 0 ? 0 : digits(text, start + at[6]!, 6);
  // digits() gives -1 for a non-digit, which every range check below rejects.
  if (micro < 0 || hour < 0 || minute < 0 || second < 0) return Number.NaN;
  // Python's datetime range: year 1-9999, no leap seconds.
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return Number.NaN;
  }
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  return (
    monthStart(year, month) +
    (day - 1) * 86_400_000 +
    hour * 3_600_000 +
    minute * 60_000 +
    second * 1000 +
    Math.floor(micro / 1000)
  );
}

/**
 * readWallClockMs for DEFAULT_TIMESTAMP_FORMAT (`YYYY-mm-ddTHH:MM:SS.ffffff`, 26 characters),
 * the format of nearly every name: fixed offsets, no loops, no allocation. Same checks as the
 * generic reader (the tests compare both on random texts).
 */
export function readDefaultWallClockMs(text: string, start: number, end: number): number {
  if (end - start !== 26) return Number.NaN;
  const t = start;
  if (
    text.charCodeAt(t + 4) !== 45 || // -
    text.charCodeAt(t + 7) !== 45 || // -
    text.charCodeAt(t + 10) !== 84 || // T
    text.charCodeAt(t + 13) !== 58 || // :
    text.charCodeAt(t + 16) !== 58 || // :
    text.charCodeAt(t + 19) !== 46 // .
  ) {
    return Number.NaN;
  }
  // A non-digit counts as -1e6, which makes its field negative whatever the other digits are.
  const year =
    digitAt(text, t) * 1000 +
    digitAt(text, t + 1) * 100 +
    digitAt(text, t + 2) * 10 +
    digitAt(text, t + 3);
  const month = digitAt(text, t + 5) * 10 + digitAt(text, t + 6);
  const day = digitAt(text, t + 8) * 10 + digitAt(text, t + 9);
  const hour = digitAt(text, t + 11) * 10 + digitAt(text, t + 12);
  const minute = digitAt(text, t + 14) * 10 + digitAt(text, t + 15);
  const second = digitAt(text, t + 17) * 10 + digitAt(text, t + 18);
  const milli = digitAt(text, t + 20) * 100 + digitAt(text, t + 21) * 10 + digitAt(text, t + 22);
  // Sub-millisecond digits: checked, then dropped.
  const micro = digitAt(text, t + 23) * 100 + digitAt(text, t + 24) * 10 + digitAt(text, t + 25);
  if (hour < 0 || minute < 0 || second < 0 || milli < 0 || micro < 0) return Number.NaN;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return Number.NaN;
  }
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  return (
    monthStart(year, month) +
    (day - 1) * 86_400_000 +
    hour * 3_600_000 +
    minute * 60_000 +
    second * 1000 +
    milli
  );
}

// Names of one listing share a few years: remember the month starts of the last year read.
let cachedYear = -1;
const cachedMonths = new Float64Array(12);

function monthStart(year: number, month: number): number {
  if (year !== cachedYear) {
    for (let m = 1; m <= 12; m++) cachedMonths[m - 1] = daysFromCivil(year, m, 1) * 86_400_000;
    cachedYear = year;
  }
  return cachedMonths[month - 1]!;
}

/** `date`'s local wall clock in the same units as readWallClockMs. */
export function wallClockMs(date: Date): number {
  return (
    daysFromCivil(date.getFullYear(), date.getMonth() + 1, date.getDate()) * 86_400_000 +
    date.getHours() * 3_600_000 +
    date.getMinutes() * 60_000 +
    date.getSeconds() * 1000 +
    date.getMilliseconds()
  );
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * `date`'s wall clock in the IANA zone `timeZone` (the process's local zone when undefined), in
 * the units of readWallClockMs. Throws RangeError for an unknown zone.
 */
export function wallClockMsIn(date: Date, timeZone: string | undefined): number {
  if (timeZone === undefined) return wallClockMs(date);
  let format = zoneFormats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (zoneFormats.size > 16) zoneFormats.clear();
    zoneFormats.set(timeZone, format);
  }
  const part: Record<string, number> = {};
  for (const { type, value } of format.formatToParts(date)) part[type] = Number(value);
  return (
    daysFromCivil(part.year!, part.month!, part.day!) * 86_400_000 +
    part.hour! * 3_600_000 +
    part.minute! * 60_000 +
    part.second! * 1000 +
    date.getUTCMilliseconds()
  );
}

/** The ASCII digit at `pos`, or -1e6 for any other character. */
function digitAt(text: string, pos: number): number {
  const digit = text.charCodeAt(pos) - 48;
  return digit >= 0 && digit <= 9 ? digit : -1_000_000;
}

/** The number written with `width` ASCII digits at `pos`, or -1. */
function digits(text: string, pos: number, width: number): number {
  let value = 0;
  for (let k = 0; k < width; k++) {
    const digit = text.charCodeAt(pos + k) - 48;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil):
// exact for every year, unlike Date.UTC which maps years 0-99 to 1900-1999.
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}
