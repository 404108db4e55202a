import { describe, expect, it } from 'vitest';
import { lastLines } from './output.js';

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
