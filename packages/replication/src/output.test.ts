import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lastLines, MAX_CAPTURE, Tail } from './output.js';

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

describe('lastLines', () => {
  it('keeps a short text whole', () => {
    expect(lastLines('Permission denied (publickey).\n')).toBe('Permission denied (publickey).');
  });

  it('cuts a long one to its last lines, marked as cut', () => {
    const text = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    expect(lastLines(text, 3)).toBe('…line 97\nline 98\nline 99');
    expect(lastLines('x'.repeat(5000), 8, 100)).toBe(`…${'x'.repeat(100)}`);
  });
});
