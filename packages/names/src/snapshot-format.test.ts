import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MarkerName, SnapshotName, snapshotFormatProblem, VolumeName } from './index.js';

describe('snapshotFormatProblem (DTFORMAT, checked once at start)', () => {
  it.each([
    '%Y-%m-%dT%H:%M:%S.%f',
    '%Y%m%d%H%M%S',
    '%Y-%m-%d',
    '%d.%m.%Y-%Hh%M',
    '%Y-%m-%d %H:%M:%S',
    '100%%-%Y-%m-%d',
  ])('accepts %j', (format) => {
    expect(snapshotFormatProblem(format)).toBeUndefined();
  });

  it.each([
    ['plain', /no strftime directive/],
    ['%Y/%m/%d', /"\/"/],
    ['%Y-%m-%d@%H', /"@"/],
    ['%Y-%m-%d\n%H', /control character/],
    ['%Y-%m-%d\t%H', /control character/],
    ['%Y-%m-%d\0', /control character/],
    ['%Y-%m-%d\u007f', /control character/],
    ['%H:%M:%S', /lacks %Y, %m, %d/],
    ['%Y-%m', /lacks %d/],
    ['%%Y-%m-%d', /lacks %Y/],
    ['%Y-%m-%d-%Q', /not supported/],
    ['%Y-%m-%d-%Y', /twice/],
    ['%Y-%m-%d-%', /lone "%"/],
    [`%Y-%m-%d${'x'.repeat(120)}`, /255-character file-name limit \(use at most 126\)/],
  ])('refuses %j and says why', (format, why) => {
    expect(snapshotFormatProblem(format)).toMatch(why);
  });

  it('accepts a timestamp of exactly the length that fits the longest volume name', () => {
    const format = `%Y-%m-%d${'x'.repeat(126 - 10)}`;
    expect(snapshotFormatProblem(format)).toBeUndefined();
    expect(snapshotFormatProblem(`${format}x`)).toMatch(/file-name limit/);
  });

  // Whatever an accepted format writes, at any instant and for any volume, is a snapshot name
  // that parses back to the same time, and a marker for a host fits when the name leaves room.
  it('every accepted format produces valid names that read back to their time', () => {
    const literal = fc.constantFrom('-', '_', '.', ':', 'T', ' ', 'x', '%%', '+', ',');
    const directive = fc.constantFrom('%H', '%M', '%S', '%f');
    const piece = fc.oneof(literal, directive);
    const format = fc
      .tuple(
        fc.shuffledSubarray(['%Y', '%m', '%d'], { minLength: 3, maxLength: 3 }),
        fc.array(piece, { maxLength: 8 }),
        fc.array(literal, { minLength: 2, maxLength: 2 }),
      )
      .map(([dateParts, rest, [a, b]]) =>
        [dateParts[0], a, dateParts[1], b, dateParts[2], ...rest].join(''),
      );
    const date = fc.date({
      min: new Date(1971, 0, 1),
      max: new Date(9998, 11, 31),
      noInvalidDate: true,
    });
    const volume = fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,40}$/);
    fc.assert(
      fc.property(format, date, volume, (f, d, v) => {
        fc.pre(snapshotFormatProblem(f) === undefined);
        const name = SnapshotName.of(VolumeName.parse(v), d, { format: f });
        expect(SnapshotName.is(name, { format: f })).toBe(true);
        const back = SnapshotName.split(name, { format: f }).timestamp;
        expect(SnapshotName.of(VolumeName.parse(v), back, { format: f })).toBe(name);
        expect(MarkerName.is(`${name}@backup.example.com`, { format: f })).toBe(true);
      }),
    );
  });
});
