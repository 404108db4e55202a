import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_CAPTURE, Tail } from './tail.js';

describe('Tail', () => {
  it('keeps exactly the last max characters of whatever arrives', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 50 })),
        fc.integer({ min: 1, max: 64 }),
        (chunks, max) => {
          const tail = new Tail(max);
          for (const chunk of chunks) tail.push(chunk);
          expect(tail.text()).toBe(chunks.join('').slice(-max));
        },
      ),
    );
  });

  it('holds 10 MB of a peer’s garbage as its last 64 KiB', () => {
    const tail = new Tail();
    const chunk = 'Load key '.repeat(7282); // ~64 KiB a chunk, as a pipe delivers it
    for (let i = 0; i < 160; i++) tail.push(chunk);
    expect(tail.text()).toHaveLength(MAX_CAPTURE);
  });
});
