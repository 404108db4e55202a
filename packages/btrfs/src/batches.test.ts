import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { argumentBatches } from './batches.js';

describe('argumentBatches', () => {
  it('cuts at the count limit and at the byte limit, whichever comes first', () => {
    const args = Array.from({ length: 2500 }, (_, i) => `/v/${i}`);
    expect(
      argumentBatches(args, { maxCount: 1000, maxBytes: 1 << 20 }).map((b) => b.length),
    ).toEqual([1000, 1000, 500]);
    const long = Array.from({ length: 10 }, () => 'é'.repeat(50)); // 101 bytes each with NUL
    expect(argumentBatches(long, { maxCount: 1000, maxBytes: 303 }).map((b) => b.length)).toEqual([
      3, 3, 3, 1,
    ]);
  });

  it('gives an argument larger than the byte limit a batch of its own, and nothing for none', () => {
    expect(argumentBatches(['a', 'x'.repeat(50), 'b'], { maxCount: 10, maxBytes: 10 })).toEqual([
      ['a'],
      ['x'.repeat(50)],
      ['b'],
    ]);
    expect(argumentBatches([], { maxCount: 10, maxBytes: 10 })).toEqual([]);
  });

  it('keeps every argument once, in order, within the limits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 40 }), { maxLength: 200 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 400 }),
        (args, maxCount, maxBytes) => {
          const batches = argumentBatches(args, { maxCount, maxBytes });
          expect(batches.flat()).toEqual(args);
          for (const batch of batches) {
            expect(batch.length).toBeGreaterThan(0);
            expect(batch.length).toBeLessThanOrEqual(maxCount);
            const bytes = batch.reduce((sum, arg) => sum + Buffer.byteLength(arg) + 1, 0);
            if (batch.length > 1) expect(bytes).toBeLessThanOrEqual(maxBytes);
          }
        },
      ),
    );
  });
});
