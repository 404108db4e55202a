import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseByteSize, showValue } from './index.js';

describe('parseByteSize', () => {
  it.each([
    ['1048576', 1048576],
    ['512K', 512 * 1024],
    ['10G', 10 * 1024 ** 3],
    ['10GiB', 10 * 1024 ** 3],
    ['10gb', 10 * 1024 ** 3],
    [' 1.5 T ', 1.5 * 1024 ** 4],
    ['2P', 2 * 1024 ** 5],
    ['0', 0],
  ])('reads %j as %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each([
    '',
    'ten',
    'G',
    '-1',
    '-1G',
    '1.5',
    '10X',
    '1e3',
    '0x10',
    '10 G B',
    '99999999999E',
    '50M/s',
  ])('refuses %j', (text) => {
    expect(parseByteSize(text)).toBeUndefined();
  });

  it('takes a rate suffix only when asked', () => {
    expect(parseByteSize('50M/s', { perSecond: true })).toBe(50 * 2 ** 20);
    expect(parseByteSize('50M', { perSecond: true })).toBe(50 * 2 ** 20);
  });

  it('reads back any whole number of any unit', () => {
    fc.assert(
      fc.property(fc.nat(2 ** 20), fc.constantFrom('', 'K', 'M', 'G'), (n, unit) => {
        const power = ['', 'K', 'M', 'G'].indexOf(unit);
        expect(parseByteSize(`${n}${unit}`)).toBe(n * 1024 ** power);
      }),
    );
  });
});

describe('showValue', () => {
  it('quotes a short string, writes a number, names other types', () => {
    expect(showValue('../x')).toBe('"../x"');
    expect(showValue('say "hi"')).toBe('"say \\"hi\\""');
    expect(showValue(42)).toBe('42');
    expect(showValue(null)).toBe('(null)');
    expect(showValue({ a: 1 })).toBe('(object)');
  });

  it('cuts a long string and says how long it was', () => {
    expect(showValue('a'.repeat(300))).toBe(`"${'a'.repeat(64)}…" (300 characters)`);
    expect(showValue('abcdef', 3)).toBe('"abc…" (6 characters)');
  });
});
