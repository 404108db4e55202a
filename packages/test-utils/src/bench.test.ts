import { describe, expect, it } from 'vitest';
import { median, quantile } from './bench.js';

describe('median', () => {
  it('takes the middle value of an odd count, whatever the order', () => {
    expect(median([30, 10, 20])).toBe(20);
  });

  it('averages the two middle values of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('refuses an empty list instead of returning NaN', () => {
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('quantile', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);

  it('takes the nearest rank: the p99 of 1..100 is 99, the p50 50', () => {
    expect(quantile(hundred, 0.99)).toBe(99);
    expect(quantile(hundred, 0.5)).toBe(50);
  });

  it('answers the smallest and largest values at 0 and 1, NaN for no values', () => {
    expect(quantile(hundred, 0)).toBe(1);
    expect(quantile(hundred, 1)).toBe(100);
    expect(quantile([], 0.5)).toBeNaN();
  });
});
