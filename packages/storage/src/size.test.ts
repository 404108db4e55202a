import { describe, expect, it } from 'vitest';
import { MIN_IMAGE_BYTES, parseSize } from './size.js';

describe('parseSize', () => {
  it.each([
    ['20G', 20 * 2 ** 30],
    ['512M', 512 * 2 ** 20],
    ['1.5T', 1.5 * 2 ** 40],
    ['20g', 20 * 2 ** 30],
    ['20GiB', 20 * 2 ** 30],
    [String(MIN_IMAGE_BYTES), MIN_IMAGE_BYTES],
  ])('reads %s as %d bytes', (raw, bytes) => {
    expect(parseSize(raw)).toBe(bytes);
  });

  it.each(['', 'G', '-1G', '20X', '1e9', '20 G B', '100M'])('refuses %j', (raw) => {
    expect(() => parseSize(raw)).toThrow(expect.objectContaining({ code: 'INVALID_SIZE' }));
  });
});
