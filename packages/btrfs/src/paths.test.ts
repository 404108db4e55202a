import { resolve } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolved } from './paths.js';

describe('resolved', () => {
  it('answers what resolve() answers, leaving normal absolute paths as they are', () => {
    const paths = [
      '/a/b',
      '/snapshots/vol@2020-01-01T00:00:00.000000',
      '/a/.hidden',
      '/a/..b',
      '/a/b.',
      '/a/-rf',
      '/a/$(touch x) \'"\n',
      '/',
      '//a',
      '/a//b',
      '/a/',
      '/a/.',
      '/a/./b',
      '/a/..',
      '/a/../b',
      '/..',
      'relative',
      '-rf',
      '../x',
      '',
      '.',
    ];
    for (const path of paths) expect(resolved(path)).toBe(resolve(path));
    // Property: any path made of such segments, absolute or not.
    const segment = fc.constantFrom('', '.', '..', 'a', '.a', 'a.', '..a', '-rf', '@', ' ', '\n');
    fc.assert(
      fc.property(fc.boolean(), fc.array(segment, { maxLength: 6 }), (absolute, segments) => {
        const path = `${absolute ? '/' : ''}${segments.join('/')}`;
        expect(resolved(path)).toBe(resolve(path));
      }),
      { numRuns: 2000 },
    );
  });
});
