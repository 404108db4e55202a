import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TIMESTAMP_FORMAT,
  formatTimestamp,
  InvalidDateError,
  parseTimestamp,
  UnsupportedFormatError,
} from './index.js';

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
