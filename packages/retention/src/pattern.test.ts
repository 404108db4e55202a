import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  InvalidPatternError,
  MAX_ITEM_MINUTES,
  MAX_PATTERN_ITEMS,
  parsePattern,
  UNIT_MINUTES,
} from './index.js';

function rejection(text: string): InvalidPatternError {
  try {
    parsePattern(text);
  } catch (error) {
    if (error instanceof InvalidPatternError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
}

describe('parsePattern', () => {
  it('counts items in minutes, sorted ascending, whatever the order written', () => {
    const pattern = parsePattern('2y:4h:2w:1d');
    expect(pattern.items.map((i) => i.minutes)).toEqual([240, 1440, 20_160, 1_051_200]);
    expect(pattern.items.map((i) => i.text)).toEqual(['4h', '1d', '2w', '2y']);
    expect(pattern.text).toBe('2y:4h:2w:1d');
  });

  it('knows m h d w y, a year being 365 days', () => {
    expect(parsePattern('1m:1h:1d:1w:1y').items.map((i) => i.minutes)).toEqual([
      1, 60, 1440, 10_080, 525_600,
    ]);
  });

  it('keeps repeated items, as 3.x does (2h:2h is valid)', () => {
    expect(parsePattern('2h:2h').items.map((i) => i.minutes)).toEqual([120, 120]);
    expect(parsePattern('120m:2h').items.map((i) => i.text)).toEqual(['120m', '2h']);
  });

  it('accepts leading zeros, like 3.x int()', () => {
    expect(parsePattern('01h:2h').items[0]?.minutes).toBe(60);
  });

  it('accepts items up to 10000 years', () => {
    expect(parsePattern('1m:10000y').items[1]?.minutes).toBe(MAX_ITEM_MINUTES);
  });

  it('3.x pinned case: 60m:plop:3000m is invalid', () => {
    const error = rejection('60m:plop:3000m');
    expect(error.code).toBe('INVALID_PATTERN');
    expect(error.item).toBe('plop');
    expect(error.message).toMatch(/^Invalid purge pattern "60m:plop:3000m": item "plop": /);
  });

  it.each([
    ['', '', 'empty'],
    ['0h:1d', '0h', 'at least 1'],
    ['-1h:1d', '-1h', 'without a sign'],
    ['+1h:1d', '+1h', 'without a sign'],
    ['1x:1d', '1x', 'unknown unit "x"'],
    ['1H:1d', '1H', 'unknown unit "H"'],
    ['1h:', '', 'empty item'],
    [':1h', '', 'empty item'],
    ['1h::1d', '', 'empty item'],
    ['1h:1d ', '1d ', 'whitespace'],
    [' 1h:1d', ' 1h', 'whitespace'],
    ['1 h:1d', '1 h', 'whitespace'],
    ['1h:1d\n', '1d\n', 'whitespace'],
    ['12:1d', '12', 'unit is missing'],
    ['h:1d', 'h', 'not a count followed by a unit'],
    ['1.5h:1d', '1.5h', 'whole number'],
    ['1_000m:1d', '1_000m', 'not a count followed by a unit'],
    ['１h:1d', '１h', 'not a count followed by a unit'],
    ['10001y:1d', '10001y', 'longer than 10000 years'],
    [`${MAX_ITEM_MINUTES + 1}m:1d`, `${MAX_ITEM_MINUTES + 1}m`, 'longer than 10000 years'],
    ['99999999999999999999999y:1d', '99999999999999999999999y', 'longer than 10000 years'],
    ['9007199254740993m:1d', '9007199254740993m', 'longer than 10000 years'],
  ])('refuses %j: item %j, %s', (text, item, why) => {
    const error = rejection(text);
    expect(error.code).toBe('INVALID_PATTERN');
    expect(error.item).toBe(item);
    expect(error.reason).toContain(why);
    expect(error.message.startsWith('Invalid purge pattern')).toBe(true);
    expect(error.message).toContain(why);
  });

  it(`refuses more than ${MAX_PATTERN_ITEMS} items, and 10,000 items fast`, () => {
    expect(parsePattern(Array(MAX_PATTERN_ITEMS).fill('1h').join(':')).items).toHaveLength(32);
    expect(
      rejection(
        Array(MAX_PATTERN_ITEMS + 1)
          .fill('1h')
          .join(':'),
      ).reason,
    ).toContain('more than 32 items');
    const start = performance.now();
    const error = rejection(Array(10_000).fill('1h').join(':'));
    expect(performance.now() - start).toBeLessThan(50);
    expect(error.reason).toMatch(/longer than 512 characters/);
    // The message quotes a bounded part of the pattern.
    expect(error.message.length).toBeLessThan(400);
  });

  it('refuses a huge string by its length', () => {
    expect(rejection('1'.repeat(10_000_000)).reason).toContain('longer than');
  });

  it('refuses what is not text', () => {
    expect(() => parsePattern(42 as unknown as string)).toThrow(InvalidPatternError);
  });

  it('any valid pattern parses to the minutes it says, sorted', () => {
    const unit = fc.constantFrom(...(Object.keys(UNIT_MINUTES) as (keyof typeof UNIT_MINUTES)[]));
    const item = fc.record({ n: fc.integer({ min: 1, max: 9999 }), unit });
    fc.assert(
      fc.property(fc.array(item, { minLength: 2, maxLength: 10 }), (items) => {
        const pattern = parsePattern(items.map((i) => `${i.n}${i.unit}`).join(':'));
        const expected = items.map((i) => i.n * UNIT_MINUTES[i.unit]).sort((a, b) => a - b);
        expect(pattern.items.map((i) => i.minutes)).toEqual(expected);
      }),
    );
  });

  it('any other text is refused with InvalidPatternError, never another error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        try {
          const pattern = parsePattern(text);
          expect(pattern.items.length).toBeGreaterThanOrEqual(1); // one item is a pattern since 3.13
          for (const i of pattern.items) expect(i.text).toMatch(/^[0-9]+[mhdwy]$/);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidPatternError);
        }
      }),
    );
  });
});
