import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TIMESTAMP_FORMAT,
  formatTimestamp,
  InvalidDateError,
  parseTimestamp,
  UnsupportedFormatError,
} from './index.js';
import { compileFormat, readDefaultWallClockMs, readWallClockMsGeneric } from './timestamp.js';

// Round trips are only exact where every local time exists once: pin a zone without DST.
process.env.TZ = 'UTC';

const date = new Date(2026, 10, 24, 19, 13, 40, 123);

describe('formatTimestamp', () => {
  it('writes 3.x DTFORMAT in local time with 6-digit %f', () => {
    expect(DEFAULT_TIMESTAMP_FORMAT).toBe('%Y-%m-%dT%H:%M:%S.%f');
    expect(formatTimestamp(date)).toBe('2026-11-24T19:13:40.123000');
  });

  it('pads every field', () => {
    expect(formatTimestamp(new Date(2026, 0, 2, 3, 4, 5, 6))).toBe('2026-01-02T03:04:05.006000');
    const early = new Date(0);
    early.setFullYear(50, 0, 1);
    early.setHours(0, 0, 0, 0);
    expect(formatTimestamp(early)).toBe('0050-01-01T00:00:00.000000');
  });

  it('supports %% and literal text in other formats', () => {
    expect(formatTimestamp(date, '%Y%m%d-%H%M%S 100%%')).toBe('20261124-191340 100%');
  });

  it('refuses an invalid date or a year beyond 9999', () => {
    expect(() => formatTimestamp(new Date(Number.NaN))).toThrow(InvalidDateError);
    expect(() => formatTimestamp(new Date(10000, 0, 1))).toThrow(/year must be 1 to 9999/);
  });
});

describe('parseTimestamp', () => {
  it('reads 3.x names back, keeping milliseconds of %f', () => {
    expect(parseTimestamp('2026-11-24T19:13:40.123456')?.getTime()).toBe(date.getTime());
  });

  it.each([
    ['too few %f digits', '2026-11-24T19:13:40.12345'],
    ['too many %f digits', '2026-11-24T19:13:40.1234567'],
    ['one-digit month', '2026-1-24T19:13:40.123456'],
    ['month 13', '2026-13-24T19:13:40.123456'],
    ['month 0', '2026-00-24T19:13:40.123456'],
    ['day 0', '2026-11-00T19:13:40.123456'],
    ['30 February', '2026-02-30T19:13:40.123456'],
    ['29 February of a non-leap year', '2100-02-29T00:00:00.000000'],
    ['31 April', '2026-04-31T00:00:00.000000'],
    ['hour 24', '2026-11-24T24:00:00.000000'],
    ['minute 60', '2026-11-24T19:60:00.000000'],
    ['leap second', '2026-11-24T19:13:60.000000'],
    ['year 0', '0000-11-24T19:13:40.123456'],
    ['trailing text', '2026-11-24T19:13:40.123456Z'],
    ['leading space', ' 2026-11-24T19:13:40.123456'],
    ['wrong separator', '2026-11-24 19:13:40.123456'],
    ['a sign in a field', '2026-+1-24T19:13:40.123456'],
    ['non-ASCII digits', '２026-11-24T19:13:40.123456'],
    ['empty', ''],
  ])('is strict: %s is not a timestamp', (_, text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });

  it('accepts leap days', () => {
    expect(parseTimestamp('2024-02-29T00:00:00.000000')?.getDate()).toBe(29);
    expect(parseTimestamp('2000-02-29T00:00:00.000000')?.getMonth()).toBe(1);
  });

  it('reads years below 100 as such, not as 19xx', () => {
    expect(parseTimestamp('0050-06-01T00:00:00.000000')?.getFullYear()).toBe(50);
  });

  it('fills fields the format lacks like strptime (1900-01-01 00:00)', () => {
    const parsed = parseTimestamp('07:30', '%H:%M');
    expect(parsed && formatTimestamp(parsed)).toBe('1900-01-01T07:30:00.000000');
  });

  it.each([
    ['%j', 'directive "%j" is not supported'],
    ['%Y-%m-%d %z', 'directive "%z" is not supported'],
    ['%Y%', 'lone "%"'],
    ['%Y-%Y', 'appears twice'],
    ['', 'empty'],
  ])('refuses the unsupported format %j with a typed error', (format, why) => {
    const error = (() => {
      try {
        parseTimestamp('x', format);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UnsupportedFormatError);
    expect(error).toMatchObject({ code: 'UNSUPPORTED_TIMESTAMP_FORMAT', format });
    expect(String((error as Error).message)).toContain(why);
    expect(() => formatTimestamp(date, format)).toThrow(UnsupportedFormatError);
  });
});

describe('timestamp properties', () => {
  const dates = fc.date({
    min: new Date(1, 0, 1, 0, 0, 0, 0),
    max: new Date(9999, 11, 31, 23, 59, 59, 999),
    noInvalidDate: true,
  });
  const formats = fc.constantFrom(
    DEFAULT_TIMESTAMP_FORMAT,
    '%Y%m%d%H%M%S.%f',
    '%d/%m/%Y %H-%M-%S,%f%%',
  );

  it('parse(format(d)) is d', () => {
    fc.assert(
      fc.property(dates, formats, (d, format) => {
        expect(parseTimestamp(formatTimestamp(d, format), format)?.getTime()).toBe(d.getTime());
      }),
    );
  });

  it('format(parse(s)) is s when %f is whole milliseconds', () => {
    fc.assert(
      fc.property(dates, (d) => {
        const text = formatTimestamp(d);
        expect(formatTimestamp(parseTimestamp(text)!)).toBe(text);
      }),
    );
  });

  it('any string parses to undefined or a valid date, never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        const parsed = parseTimestamp(text);
        expect(parsed === undefined || !Number.isNaN(parsed.getTime())).toBe(true);
      }),
    );
  });

  it('a one-character change of a valid timestamp never shifts it silently', () => {
    fc.assert(
      fc.property(dates, fc.nat(25), fc.string({ minLength: 1, maxLength: 1 }), (d, at, c) => {
        const text = formatTimestamp(d);
        const changed = text.slice(0, at) + c + text.slice(at + 1);
        const parsed = parseTimestamp(changed);
        // Either refused, or it reads exactly what the new text says.
        expect(
          parsed === undefined || formatTimestamp(parsed) === changed.replace(/\d{3}$/, '000'),
        ).toBe(true);
      }),
    );
  });
});

describe('the fast path for the default format', () => {
  const generic = compileFormat('%Y-%m-%dT%H:%M:%S.%f');
  const both = (text: string, start = 0, end = text.length): [number, number] => [
    readDefaultWallClockMs(text, start, end),
    readWallClockMsGeneric(generic, text, start, end),
  ];
  const pad = (value: number, width: number): string => String(value).padStart(width, '0');

  // Fields slightly past their ranges, so that invalid dates and times are common.
  const fields = fc.record({
    year: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(1900, 2000, 2024, 2100)),
    month: fc.integer({ min: 0, max: 13 }),
    day: fc.oneof(fc.integer({ min: 0, max: 32 }), fc.constantFrom(28, 29, 30, 31)),
    hour: fc.integer({ min: 0, max: 25 }),
    minute: fc.integer({ min: 0, max: 61 }),
    second: fc.integer({ min: 0, max: 61 }),
    micro: fc.integer({ min: 0, max: 999_999 }),
  });
  const texts = fc
    .tuple(
      fields,
      fc.option(fc.record({ at: fc.nat(26), char: fc.constantFrom(...'09/:-T. a+\u0660０') })),
    )
    .map(([f, change]) => {
      const text =
        `${pad(f.year, 4)}-${pad(f.month, 2)}-${pad(f.day, 2)}T` +
        `${pad(f.hour, 2)}:${pad(f.minute, 2)}:${pad(f.second, 2)}.${pad(f.micro, 6)}`;
      return change ? text.slice(0, change.at) + change.char + text.slice(change.at + 1) : text;
    });

  it('reads what the generic reader reads, or refuses what it refuses', () => {
    fc.assert(
      fc.property(texts, (text) => {
        const [fast, slow] = both(text);
        expect(Object.is(fast, slow)).toBe(true);
        // Inside a name too, as the purge reads it.
        const [inName, slowInName] = both(`vol@${text}@host`, 4, 4 + text.length);
        expect(Object.is(inName, fast) && Object.is(slowInName, slow)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees on any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        const [fast, slow] = both(text);
        expect(Object.is(fast, slow)).toBe(true);
      }),
    );
  });

  it.each([
    ['leap day of a leap year', '2024-02-29T12:00:00.000000', true],
    ['leap day of 2000', '2000-02-29T00:00:00.000000', true],
    ['leap day of 1900', '1900-02-29T00:00:00.000000', false],
    ['leap day of 2100', '2100-02-29T00:00:00.000000', false],
    ['30 February', '2026-02-30T00:00:00.000000', false],
    ['31 June', '2026-06-31T00:00:00.000000', false],
    ['hour 24', '2026-11-24T24:00:00.000000', false],
    ['a non-digit in the microseconds', '2026-11-24T19:13:40.12345x', false],
    ['year 0', '0000-01-01T00:00:00.000000', false],
    ['the first instant', '0001-01-01T00:00:00.000000', true],
    ['the last instant', '9999-12-31T23:59:59.999999', true],
  ])('%s', (_, text, valid) => {
    const [fast, slow] = both(text);
    expect(Object.is(fast, slow)).toBe(true);
    expect(Number.isNaN(fast)).toBe(!valid);
  });

  it('counts the wall clock as UTC, milliseconds of %f included', () => {
    expect(readDefaultWallClockMs('2026-11-24T19:13:40.123999', 0, 26)).toBe(
      Date.UTC(2026, 10, 24, 19, 13, 40, 123),
    );
    expect(readDefaultWallClockMs('0001-01-01T00:00:00.000000', 0, 26)).toBe(-62_135_596_800_000);
  });
});
